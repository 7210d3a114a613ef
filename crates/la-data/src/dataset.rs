//! The data set: a fixed, ordered list of items, each with a stable index, a display name and
//! an optional label.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;

use crate::decode::Decoder;
use crate::error::{Error, Result};
use crate::grid::Grid;
use crate::idx::{IdxImages, pad_to_rgb};
use crate::report::Skipped;

/// Where the pixels come from.
#[derive(Debug, Clone)]
pub(crate) enum Storage {
    /// One image file per image.
    Files(Vec<PathBuf>),
    /// The images of an IDX file, in memory.
    Idx(Arc<IdxImages>),
}

/// A data set: images from a folder tree ([`FolderSource`](crate::FolderSource)), a CSV table of
/// contents ([`CsvSource`](crate::CsvSource)) or IDX files ([`IdxSource`](crate::IdxSource)),
/// optionally cut into tiles ([`with_grid`](Self::with_grid)).
///
/// Item `i` (`0..len()`) is the memory bank's row `i`; the order is fixed when the data set is
/// built (sorted paths for a folder, row order for a CSV file, record order for IDX) and never
/// changes. Without a grid an item is an image; with a grid of `n * n` tiles, item `i` is tile
/// `i % (n * n)` of image `i / (n * n)`.
#[derive(Debug, Clone)]
pub struct Dataset {
    source: String,
    storage: Storage,
    names: Vec<String>,
    labels: Vec<Option<usize>>,
    classes: Vec<String>,
    grid: Option<Grid>,
    skipped: Vec<Skipped>,
}

impl Dataset {
    /// Assembles a data set; `names` and `labels` have one entry per image of `storage`.
    pub(crate) fn new(
        source: String,
        storage: Storage,
        names: Vec<String>,
        labels: Vec<Option<usize>>,
        classes: Vec<String>,
        skipped: Vec<Skipped>,
    ) -> Self {
        debug_assert_eq!(names.len(), labels.len());
        Dataset {
            source,
            storage,
            names,
            labels,
            classes,
            grid: None,
            skipped,
        }
    }

    /// The same images, each cut into the tiles of `grid`; every tile becomes an item.
    /// Images are resized to [`Grid::side`] before being cut, so the
    /// [`Pipeline`](crate::Pipeline) side must equal it.
    pub fn with_grid(mut self, grid: Grid) -> Self {
        self.grid = Some(grid);
        self
    }

    /// Where the data set was read from (a folder, a CSV file, an IDX file).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of items (images, or tiles when there is a grid).
    pub fn len(&self) -> usize {
        self.names.len() * self.tiles_per_image()
    }

    /// True if there is no item.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Number of images.
    pub fn num_images(&self) -> usize {
        self.names.len()
    }

    /// The tiling, if any.
    pub fn grid(&self) -> Option<Grid> {
        self.grid
    }

    /// The image of item `i`, and its tile if there is a grid.
    pub fn locate(&self, i: usize) -> (usize, Option<usize>) {
        match self.grid {
            Some(g) => (i / g.len(), Some(i % g.len())),
            None => (i, None),
        }
    }

    /// Display name of item `i`: the image path relative to the source's root (`/`-separated),
    /// or `file#record` for IDX; tiles add `#tile<t>`. `None` if `i` is out of range.
    pub fn name(&self, i: usize) -> Option<String> {
        let (image, tile) = self.locate(i);
        let name = self.names.get(image)?;
        Some(match tile {
            Some(t) => format!("{name}#tile{t}"),
            None => name.clone(),
        })
    }

    /// Label of item `i` (an index into [`class_names`](Self::class_names)), if known.
    pub fn label(&self, i: usize) -> Option<usize> {
        self.labels.get(self.locate(i).0).copied().flatten()
    }

    /// Labels of all items, in item order.
    pub fn labels(&self) -> Vec<Option<usize>> {
        (0..self.len()).map(|i| self.label(i)).collect()
    }

    /// True if every item has a label.
    pub fn is_labelled(&self) -> bool {
        !self.labels.is_empty() && self.labels.iter().all(Option::is_some)
    }

    /// Class names; label `c` is `class_names()[c]`. Empty when there are no labels.
    pub fn class_names(&self) -> &[String] {
        &self.classes
    }

    /// The file of item `i`, for file-based sources.
    pub fn path(&self, i: usize) -> Option<&Path> {
        match &self.storage {
            Storage::Files(paths) => paths.get(self.locate(i).0).map(PathBuf::as_path),
            Storage::Idx(_) => None,
        }
    }

    /// The inputs left out when the data set was built (lenient mode), with the reasons.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Decodes image `image` (not item: see [`locate`](Self::locate)) at its own size: EXIF
    /// orientation applied, RGB. IDX images are padded to a multiple of 32 (28x28 becomes
    /// 32x32, 2 black pixels on each side).
    pub fn decode(&self, image: usize, decoder: &Decoder) -> Result<RgbImage> {
        let out_of_range =
            || Error::config("image index", image, format!("below {}", self.num_images()));
        match &self.storage {
            Storage::Files(paths) => decoder.decode(paths.get(image).ok_or_else(out_of_range)?),
            Storage::Idx(idx) => Ok(pad_to_rgb(&idx.gray(image).ok_or_else(out_of_range)?, 32)),
        }
    }

    /// The file of image `image` (for error reports), or the IDX file holding it.
    pub(crate) fn image_path(&self, image: usize) -> PathBuf {
        match &self.storage {
            Storage::Files(paths) => paths.get(image).cloned().unwrap_or_default(),
            Storage::Idx(idx) => idx.path.clone(),
        }
    }

    fn tiles_per_image(&self) -> usize {
        self.grid.map_or(1, |g| g.len())
    }
}

/// Sorted, de-duplicated class names and the label of each entry (`None` for no value).
pub(crate) fn index_classes(values: &[Option<String>]) -> (Vec<String>, Vec<Option<usize>>) {
    let mut classes: Vec<String> = values.iter().flatten().cloned().collect();
    classes.sort();
    classes.dedup();
    let labels = values
        .iter()
        .map(|v| v.as_ref().and_then(|v| classes.binary_search(v).ok()))
        .collect();
    (classes, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(n: usize) -> Dataset {
        let paths: Vec<PathBuf> = (0..n)
            .map(|i| PathBuf::from(format!("/d/{i}.png")))
            .collect();
        let names = (0..n).map(|i| format!("{i}.png")).collect();
        let labels = (0..n).map(|i| (i % 2 == 0).then_some(i % 3)).collect();
        Dataset::new(
            "/d".into(),
            Storage::Files(paths),
            names,
            labels,
            vec!["a".into(); 3],
            vec![],
        )
    }

    #[test]
    fn items_map_to_images_and_tiles() {
        let plain = files(3);
        assert_eq!((plain.len(), plain.locate(2)), (3, (2, None)));
        assert_eq!(plain.labels(), vec![Some(0), None, Some(2)]);
        assert!(!plain.is_labelled());
        let tiled = files(3).with_grid(Grid::new(2, 32, 16).unwrap());
        assert_eq!(tiled.len(), 12);
        assert_eq!(tiled.locate(9), (2, Some(1)));
        assert_eq!(tiled.name(9).as_deref(), Some("2.png#tile1"));
        assert_eq!(tiled.label(9), Some(2));
        assert_eq!(tiled.path(9), Some(Path::new("/d/2.png")));
        assert_eq!(tiled.name(12), None);
    }

    #[test]
    fn classes_are_sorted_and_labels_index_them() {
        let values = [
            Some("b".to_string()),
            None,
            Some("a".into()),
            Some("b".into()),
        ];
        let (classes, labels) = index_classes(&values);
        assert_eq!(classes, ["a", "b"]);
        assert_eq!(labels, [Some(1), None, Some(0), Some(1)]);
    }
}
