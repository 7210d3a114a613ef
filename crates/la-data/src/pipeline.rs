//! From an item of a data set to the 8-bit RGB image the model sees: decode, square resize,
//! tile, augment.

use std::sync::Arc;

use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::augment::Augmentations;
use crate::dataset::Dataset;
use crate::decode::Decoder;
use crate::error::{Error, Result};
use crate::normalize::Normalize;
use crate::resize::resize_centre_square;
use crate::transform::Transform;

/// Configures a [`Pipeline`].
///
/// ```
/// use la_data::{Augmentations, PipelineBuilder};
/// let eval = PipelineBuilder::new().side(224).build()?;
/// let train = PipelineBuilder::new().side(224).augment(&Augmentations::default())?.build()?;
/// assert!(!eval.is_random() && train.is_random());
/// # Ok::<(), la_data::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PipelineBuilder {
    side: u32,
    decoder: Decoder,
    normalize: Normalize,
    transforms: Vec<Arc<dyn Transform>>,
}

impl Default for PipelineBuilder {
    fn default() -> Self {
        PipelineBuilder::new()
    }
}

impl PipelineBuilder {
    /// An evaluation pipeline at 224 pixels with ImageNet normalisation.
    pub fn new() -> Self {
        PipelineBuilder {
            side: 224,
            decoder: Decoder::default(),
            normalize: Normalize::IMAGENET,
            transforms: Vec::new(),
        }
    }

    /// Side of the square every image is resized to, a positive multiple of 32 (the encoder
    /// pools five times). With a grid it must equal [`Grid::side`](crate::Grid::side).
    /// By default, 224.
    pub fn side(&mut self, side: u32) -> &mut Self {
        self.side = side;
        self
    }

    /// Decoder limits. By default, [`Decoder::default`].
    pub fn decoder(&mut self, decoder: Decoder) -> &mut Self {
        self.decoder = decoder;
        self
    }

    /// Normalisation statistics. By default, [`Normalize::IMAGENET`].
    pub fn normalize(&mut self, normalize: Normalize) -> &mut Self {
        self.normalize = normalize;
        self
    }

    /// Replaces the transforms by the training augmentations `augmentations`.
    /// By default there are none (evaluation: deterministic resize and centre crop only).
    pub fn augment(&mut self, augmentations: &Augmentations) -> Result<&mut Self> {
        self.transforms = augmentations.transforms()?;
        Ok(self)
    }

    /// Appends a transform of your own, applied after the ones already set.
    pub fn transform(&mut self, transform: Arc<dyn Transform>) -> &mut Self {
        self.transforms.push(transform);
        self
    }

    /// Validates the configuration and builds the pipeline.
    pub fn build(&self) -> Result<Pipeline> {
        if self.side == 0 || !self.side.is_multiple_of(32) {
            return Err(Error::config(
                "image side",
                self.side,
                "a positive multiple of 32",
            ));
        }
        Ok(Pipeline {
            side: self.side,
            decoder: self.decoder,
            normalize: self.normalize,
            transforms: self.transforms.clone(),
        })
    }
}

/// Turns items into images: decode ([`Dataset::decode`]), crop the centred square and resize it
/// to [`side`](Self::side) ([`prepare`](Self::prepare), deterministic and cacheable), cut the
/// item's tile if the data set has a grid, then apply the transforms with a seeded RNG
/// ([`finish`](Self::finish)). Built by [`PipelineBuilder`].
#[derive(Debug, Clone)]
pub struct Pipeline {
    side: u32,
    decoder: Decoder,
    normalize: Normalize,
    transforms: Vec<Arc<dyn Transform>>,
}

impl Pipeline {
    /// Side of the prepared square images.
    pub fn side(&self) -> u32 {
        self.side
    }

    /// The decoder limits.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The normalisation statistics.
    pub fn normalization(&self) -> &Normalize {
        &self.normalize
    }

    /// True if there are transforms (a training pipeline); false for evaluation.
    pub fn is_random(&self) -> bool {
        !self.transforms.is_empty()
    }

    /// Side of the images this pipeline produces for `dataset`: the tile side with a grid,
    /// otherwise [`side`](Self::side). Fails if the grid does not cover `side`.
    pub fn output_side(&self, dataset: &Dataset) -> Result<u32> {
        match dataset.grid() {
            Some(g) if g.side() != self.side => Err(Error::config(
                "image side",
                self.side,
                format!("{} to match the grid (tile + (n - 1) * step)", g.side()),
            )),
            Some(g) => Ok(g.tile()),
            None => Ok(self.side),
        }
    }

    /// Decodes image `image` of `dataset` and resizes its centred square to `side` x `side`.
    pub fn prepare(&self, dataset: &Dataset, image: usize) -> Result<RgbImage> {
        let decoded = dataset.decode(image, &self.decoder)?;
        resize_centre_square(&decoded, self.side)
    }

    /// The image file at `path`, outside any data set, decoded and resized as
    /// [`prepare`](Self::prepare) does.
    pub fn prepare_file(&self, path: &std::path::Path) -> Result<RgbImage> {
        resize_centre_square(&self.decoder.decode(path)?, self.side)
    }

    /// From the prepared image of item `item`'s image to the final image: cuts the tile, then
    /// applies the transforms with an RNG seeded by `seed`.
    pub fn finish(
        &self,
        dataset: &Dataset,
        item: usize,
        prepared: RgbImage,
        seed: u64,
    ) -> Result<RgbImage> {
        let mut image = match (dataset.grid(), dataset.locate(item).1) {
            (Some(grid), Some(tile)) => grid.crop(&prepared, tile)?,
            _ => prepared,
        };
        let mut rng = StdRng::seed_from_u64(seed);
        for t in &self.transforms {
            image = t.apply(image, &mut rng)?;
        }
        Ok(image)
    }

    /// [`prepare`](Self::prepare) then [`finish`](Self::finish) for item `item`.
    pub fn load(&self, dataset: &Dataset, item: usize, seed: u64) -> Result<RgbImage> {
        let prepared = self.prepare(dataset, dataset.locate(item).0)?;
        self.finish(dataset, item, prepared, seed)
    }
}
