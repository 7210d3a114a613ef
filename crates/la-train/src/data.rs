//! The data of a run: the data set described by a [`DataConfig`] and the loaders of the
//! training stages and of the evaluation.

use std::sync::Arc;

use candle_core::Device;
use la_data::{
    CsvSource, Dataset, FolderSource, Grid, IdxSource, Loader, LoaderBuilder, Pipeline,
    PipelineBuilder, Selection, Strictness,
};

use crate::Result;
use crate::config::{DataConfig, DataSource};

/// A run's data set with its image side; makes loaders.
#[derive(Debug, Clone)]
pub struct RunData {
    dataset: Arc<Dataset>,
    config: DataConfig,
    side: u32,
    device: Device,
}

impl RunData {
    /// Opens the source (scanning folders, reading the CSV or IDX files); unreadable files
    /// are skipped and listed by [`Dataset::skipped`] unless `config.strict`. Batches are
    /// put on `device`.
    pub fn open(config: &DataConfig, device: &Device) -> Result<Self> {
        let strictness = if config.strict {
            Strictness::Strict
        } else {
            Strictness::Lenient
        };
        let dataset = match &config.source {
            DataSource::Sample => la_data::fashion_mnist_sample()?,
            DataSource::Folder { path, labels } => FolderSource::new(path)
                .labels(*labels)
                .strictness(strictness)
                .build()?,
            DataSource::Csv {
                path,
                root,
                select,
                label_column,
            } => {
                let mut source = CsvSource::new(path);
                source.strictness(strictness);
                if let Some(root) = root {
                    source.root(root);
                }
                for s in select {
                    source.select(Selection::parse(s)?);
                }
                if let Some(column) = label_column {
                    source.label_column(column);
                }
                source.build()?
            }
            DataSource::Idx { images, labels } => {
                let mut source = IdxSource::new(images);
                if let Some(labels) = labels {
                    source.labels(labels);
                }
                source.build()?
            }
        };
        let side = config.effective_side();
        let dataset = match config.grid {
            Some(g) => dataset.with_grid(Grid::fit(side, g.n, g.tile)?),
            None => dataset,
        };
        Ok(RunData {
            dataset: Arc::new(dataset),
            config: config.clone(),
            side,
            device: device.clone(),
        })
    }

    /// The data set.
    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.dataset
    }

    /// Number of items (tiles count as items).
    pub fn len(&self) -> usize {
        self.dataset.len()
    }

    /// True if there is no item.
    pub fn is_empty(&self) -> bool {
        self.dataset.is_empty()
    }

    /// Side of the network's input: the tile side with a grid, else the image side.
    pub fn input_side(&self) -> u32 {
        self.config.input_side()
    }

    /// The deterministic pipeline: centre square resized to the side, no augmentation.
    pub fn eval_pipeline(&self) -> Result<Pipeline> {
        Ok(PipelineBuilder::new().side(self.side).build()?)
    }

    /// Every item once, in order, without augmentation: for encoding and evaluation.
    pub fn eval_loader(&self, batch_size: usize) -> Result<Loader> {
        let pipeline = self.eval_pipeline()?;
        Ok(self
            .builder(batch_size, 0)
            .shuffle(false)
            .drop_last(false)
            .build(self.dataset.clone(), pipeline)?)
    }

    /// Shuffled batches, a new order every epoch from `seed`, the last incomplete batch
    /// dropped (a batch of one would break batch normalisation). `views` is `None` for the
    /// images as they are, or `Some(v)` for `v` copies of each, augmented as the configuration
    /// says.
    pub fn train_loader(
        &self,
        batch_size: usize,
        seed: u64,
        views: Option<usize>,
    ) -> Result<Loader> {
        let mut pipeline = PipelineBuilder::new();
        pipeline.side(self.side);
        if views.is_some() {
            pipeline.augment(&self.config.augmentations())?;
        }
        let drop_last = self.len() > batch_size;
        Ok(self
            .builder(batch_size, seed)
            .views(views.unwrap_or(1))
            .shuffle(true)
            .drop_last(drop_last)
            .build(self.dataset.clone(), pipeline.build()?)?)
    }

    fn builder(&self, batch_size: usize, seed: u64) -> LoaderBuilder {
        let mut b = LoaderBuilder::new();
        b.batch_size(batch_size)
            .seed(seed)
            .cache(self.config.cache)
            .device(self.device.clone());
        if self.config.strict {
            b.strictness(Strictness::Strict);
        }
        b
    }
}
