//! Producing one batch: each item is loaded and normalised straight into its slot of the batch
//! tensor by a worker of the loader's pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::Tensor;
use image::RgbImage;
use rayon::prelude::*;

use crate::cache::ImageCache;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::normalize::write_chw;
use crate::pipeline::Pipeline;
use crate::report::{Skipped, Strictness};

use super::LoaderBuilder;
use super::batch::Batch;

/// State shared by the loader and its epochs' background threads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: LoaderBuilder,
    pub dataset: Arc<Dataset>,
    pub pipeline: Pipeline,
    side: u32,
    table: Box<[[f32; 256]; 3]>,
    pool: rayon::ThreadPool,
    cache: Option<ImageCache>,
    failed: Vec<AtomicBool>,
    skipped: Mutex<Vec<Skipped>>,
}

impl Shared {
    /// Shared state for `dataset` through `pipeline`, whose output side is `side`.
    pub fn new(
        config: LoaderBuilder,
        dataset: Arc<Dataset>,
        pipeline: Pipeline,
        side: u32,
        pool: rayon::ThreadPool,
    ) -> Self {
        let n_images = dataset.num_images();
        Shared {
            cache: config.cache.then(|| ImageCache::new(n_images)),
            failed: (0..n_images).map(|_| AtomicBool::new(false)).collect(),
            skipped: Mutex::new(Vec::new()),
            table: Box::new(pipeline.normalization().table()),
            config,
            dataset,
            pipeline,
            side,
            pool,
        }
    }

    /// The failures listed so far.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.skipped.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Loads every view of `items` in parallel into a batch, view `v` of item `i` augmented
    /// with the seed `seeds(i, v)`; `Ok(None)` if every item was skipped.
    pub fn batch(
        &self,
        items: &[usize],
        seeds: impl Fn(usize, usize) -> u64 + Sync,
    ) -> Result<Option<Batch>> {
        let per_item = 3 * (self.side as usize).pow(2);
        let (n, views) = (items.len(), self.config.views);
        let mut data = vec![0f32; views * n * per_item];
        // Slot v * n + k holds view v of the k-th item.
        let outcomes: Vec<Option<Result<()>>> = self.pool.install(|| {
            data.par_chunks_mut(per_item)
                .enumerate()
                .map(|(slot, out)| {
                    let (v, i) = (slot / n, items[slot % n]);
                    (!self.known_bad(i)).then(|| {
                        self.item(i, seeds(i, v))
                            .and_then(|image| self.write(&image, out))
                    })
                })
                .collect()
        });
        let mut keep = vec![true; n];
        for (slot, outcome) in outcomes.into_iter().enumerate() {
            let (k, i) = (slot % n, items[slot % n]);
            match outcome {
                Some(Ok(())) => {}
                None => keep[k] = false,
                Some(Err(e)) if self.config.strictness == Strictness::Strict => return Err(e),
                Some(Err(e)) => {
                    keep[k] = false;
                    self.record(i, &e);
                }
            }
        }
        let kept: Vec<usize> = (0..n).filter(|&k| keep[k]).collect();
        if kept.is_empty() {
            return Ok(None);
        }
        // Close the gaps left by skipped items; every slot moves down, so in order is safe.
        let m = kept.len();
        for v in 0..views {
            for (to, &k) in kept.iter().enumerate() {
                let (src, dst) = (v * n + k, v * m + to);
                if src != dst {
                    data.copy_within(src * per_item..(src + 1) * per_item, dst * per_item);
                }
            }
        }
        data.truncate(views * m * per_item);
        let side = self.side as usize;
        let images = Tensor::from_vec(data, (views * m, 3, side, side), &self.config.device)?;
        let indices: Vec<usize> = kept.iter().map(|&k| items[k]).collect();
        let labels = indices.iter().map(|&i| self.dataset.label(i)).collect();
        Ok(Some(Batch {
            images,
            views,
            indices,
            labels,
        }))
    }

    /// Normalises `image` into `out`, after checking that a custom transform kept its size.
    fn write(&self, image: &RgbImage, out: &mut [f32]) -> Result<()> {
        if image.dimensions() != (self.side, self.side) {
            return Err(Error::ImageSize {
                what: "a transformed image".into(),
                width: image.width(),
                height: image.height(),
                expected: format!("{0}x{0}, the pipeline's output side", self.side),
            });
        }
        write_chw(&self.table, image, out);
        Ok(())
    }

    /// True if the item's image failed before (it is listed in the report already).
    fn known_bad(&self, item: usize) -> bool {
        let image = self.dataset.locate(item).0;
        self.failed
            .get(image)
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    fn item(&self, item: usize, seed: u64) -> Result<RgbImage> {
        let image = self.dataset.locate(item).0;
        let prepare = || self.pipeline.prepare(&self.dataset, image);
        let prepared = match &self.cache {
            Some(cache) => cache.get_or_prepare(image, prepare)?,
            None => prepare()?,
        };
        self.pipeline.finish(&self.dataset, item, prepared, seed)
    }

    /// Lists a failure once per image.
    fn record(&self, item: usize, error: &Error) {
        let image = self.dataset.locate(item).0;
        let first = self
            .failed
            .get(image)
            .is_some_and(|f| !f.swap(true, Ordering::Relaxed));
        if first && let Ok(mut skipped) = self.skipped.lock() {
            skipped.push(Skipped::new(self.dataset.image_path(image), None, error));
        }
    }
}
