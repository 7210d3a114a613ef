//! Where the images come from and how they are prepared.

use std::path::PathBuf;

use la_data::Augmentations;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where the images come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataSource {
    /// The 2,000 labelled Fashion-MNIST images bundled with la-data. The default.
    #[default]
    Sample,
    /// A folder tree of images, searched recursively.
    Folder {
        /// The top folder.
        path: PathBuf,
        /// Whether first-level sub-folder names are the labels. By default, false.
        #[serde(default)]
        labels: bool,
    },
    /// A CSV table of contents.
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// The folder image paths are relative to; by default, the CSV's folder.
        #[serde(default)]
        root: Option<PathBuf>,
        /// Row selections such as `Family=Amanitaceae,Boletaceae`, all of which must hold.
        #[serde(default)]
        select: Vec<String>,
        /// The column whose values are the labels, if any.
        #[serde(default)]
        label_column: Option<String>,
    },
    /// IDX files (MNIST / Fashion-MNIST format, gzipped or not).
    Idx {
        /// The images file.
        images: PathBuf,
        /// The labels file, if any.
        #[serde(default)]
        labels: Option<PathBuf>,
    },
}

/// The images and how they are prepared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// The source. By default, the bundled sample.
    pub source: DataSource,
    /// Side of the square images given to the network, a multiple of 32. By default, 32 for
    /// the bundled sample and IDX sources (28-pixel images padded), 224 for photos.
    pub side: Option<u32>,
    /// Split every image into `n x n` overlapping tiles of `tile` pixels, each tile an item.
    /// By default, no tiling.
    pub grid: Option<GridSpec>,
    /// Random augmentations of the training stage; by default chosen from the network's
    /// input side by [`Augmentations::for_side`] (the command line writes the choice into
    /// the run's config.toml). [`Augmentations::default`] are the paper's.
    pub augment: Option<Augmentations>,
    /// Keep decoded, resized images in memory after the first epoch. By default, true.
    pub cache: bool,
    /// Stop at the first unreadable image instead of skipping and listing it. By default,
    /// false.
    pub strict: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source: DataSource::Sample,
            side: None,
            grid: None,
            augment: None,
            cache: true,
            strict: false,
        }
    }
}

impl DataConfig {
    /// The image side actually used: `side`, or 32 for the bundled sample and IDX data,
    /// 224 for photos.
    pub fn effective_side(&self) -> u32 {
        self.side.unwrap_or(match self.source {
            DataSource::Sample | DataSource::Idx { .. } => 32,
            DataSource::Folder { .. } | DataSource::Csv { .. } => 224,
        })
    }

    /// Side of the network's input: the tile side with a grid, else the image side.
    pub fn input_side(&self) -> u32 {
        self.grid.map_or(self.effective_side(), |g| g.tile)
    }

    /// The augmentations actually used: `augment`, or those chosen for the input side.
    pub fn augmentations(&self) -> Augmentations {
        self.augment
            .clone()
            .unwrap_or_else(|| Augmentations::for_side(self.input_side()))
    }

    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<()> {
        if let Some(side) = self.side {
            multiple_of_32("data.side", side)?;
        }
        if let Some(g) = self.grid {
            if g.n == 0 {
                return Err(Error::config("data.grid.n", g.n, "at least 1"));
            }
            multiple_of_32("data.grid.tile", g.tile)?;
        }
        self.augmentations()
            .check()
            .map_err(|e| Error::config("data.augment", e, "valid augmentations"))
    }
}

fn multiple_of_32(field: &'static str, v: u32) -> Result<()> {
    if v == 0 || !v.is_multiple_of(32) {
        return Err(Error::config(field, v, "a positive multiple of 32"));
    }
    Ok(())
}

/// Grid tiling: `n x n` tiles of `tile` pixels spread evenly over the image side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// Tiles per side.
    pub n: u32,
    /// Side of a tile, a multiple of 32.
    pub tile: u32,
}
