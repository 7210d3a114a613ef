//! The batch loader: configuration, shared state, and the production of one batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::cache::ImageCache;
use crate::dataset::Dataset;
use crate::epoch::Epoch;
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::report::{Skipped, Strictness};

/// Configures a [`Loader`].
///
/// ```
/// use std::sync::Arc;
/// use la_data::{LoaderBuilder, PipelineBuilder};
/// let sample = Arc::new(la_data::fashion_mnist_sample()?);
/// let pipeline = PipelineBuilder::new().side(32).build()?;
/// let loader = LoaderBuilder::new().batch_size(500).build(sample, pipeline)?;
/// let mut n = 0;
/// for batch in loader.epoch(0) {
///     let batch = batch?;
///     assert_eq!(batch.images.dims(), &[500, 3, 32, 32]);
///     n += batch.len();
/// }
/// assert_eq!(n, 2000);
/// # Ok::<(), la_data::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoaderBuilder {
    pub(crate) batch_size: usize,
    pub(crate) shuffle: bool,
    pub(crate) seed: u64,
    pub(crate) drop_last: bool,
    pub(crate) prefetch: usize,
    pub(crate) threads: usize,
    pub(crate) cache: bool,
    pub(crate) strictness: Strictness,
    pub(crate) device: Device,
}

impl Default for LoaderBuilder {
    fn default() -> Self {
        LoaderBuilder::new()
    }
}

impl LoaderBuilder {
    /// Batches of 128 in item order, no cache, lenient, on the CPU.
    pub fn new() -> Self {
        LoaderBuilder {
            batch_size: 128,
            shuffle: false,
            seed: 0,
            drop_last: false,
            prefetch: 2,
            threads: 0,
            cache: false,
            strictness: Strictness::Lenient,
            device: Device::Cpu,
        }
    }

    /// Items per batch. By default, 128 (the paper's).
    pub fn batch_size(&mut self, n: usize) -> &mut Self {
        self.batch_size = n;
        self
    }

    /// Whether each epoch visits the items in a new random order drawn from the seed and the
    /// epoch number. By default, this is disabled (item order, as evaluation needs).
    pub fn shuffle(&mut self, yes: bool) -> &mut Self {
        self.shuffle = yes;
        self
    }

    /// The seed of the shuffles and of the augmentations. By default, 0.
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.seed = seed;
        self
    }

    /// Whether a last, incomplete batch is left out. By default, this is disabled.
    pub fn drop_last(&mut self, yes: bool) -> &mut Self {
        self.drop_last = yes;
        self
    }

    /// How many finished batches may wait ahead of the consumer. By default, 2.
    pub fn prefetch(&mut self, n: usize) -> &mut Self {
        self.prefetch = n;
        self
    }

    /// Decoding threads; 0 means one per CPU. By default, 0.
    pub fn threads(&mut self, n: usize) -> &mut Self {
        self.threads = n;
        self
    }

    /// Whether prepared images are kept in memory after their first use (`3 * side^2` bytes
    /// per image: 150 kB at 224 pixels). Augmentations are still drawn anew every epoch.
    /// By default, this is disabled.
    pub fn cache(&mut self, yes: bool) -> &mut Self {
        self.cache = yes;
        self
    }

    /// Whether an image that fails to load is skipped (listed in [`Loader::skipped`], left out
    /// of its batch) or ends the epoch with its error. By default, [`Strictness::Lenient`].
    pub fn strictness(&mut self, strictness: Strictness) -> &mut Self {
        self.strictness = strictness;
        self
    }

    /// The device batches are placed on. By default, the CPU.
    pub fn device(&mut self, device: Device) -> &mut Self {
        self.device = device;
        self
    }

    /// Checks the configuration against the data set and pipeline and starts the thread pool.
    pub fn build(&self, dataset: Arc<Dataset>, pipeline: Pipeline) -> Result<Loader> {
        if self.batch_size == 0 {
            return Err(Error::config("batch size", 0, "at least 1"));
        }
        pipeline.output_side(&dataset)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .thread_name(|i| format!("la-data-{i}"))
            .build()
            .map_err(|e| Error::ThreadPool {
                threads: self.threads,
                reason: e.to_string(),
            })?;
        let n_images = dataset.num_images();
        let shared = Shared {
            cache: self.cache.then(|| ImageCache::new(n_images)),
            failed: (0..n_images).map(|_| AtomicBool::new(false)).collect(),
            skipped: Mutex::new(Vec::new()),
            config: self.clone(),
            dataset,
            pipeline,
            pool,
        };
        Ok(Loader {
            shared: Arc::new(shared),
        })
    }
}

/// One batch: normalised images `(N, 3, H, W)` f32, and for each image its item index (the
/// memory bank row) and label.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The images, normalised.
    pub images: Tensor,
    /// The item index of each image.
    pub indices: Vec<usize>,
    /// The label of each image, where known.
    pub labels: Vec<Option<usize>>,
}

impl Batch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True if the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The item indices as a `u32` tensor of shape `(N,)`, for indexing the memory bank.
    pub fn indices_tensor(&self, device: &Device) -> Result<Tensor> {
        let v: Vec<u32> = self.indices.iter().map(|&i| i as u32).collect();
        Ok(Tensor::from_vec(v, self.indices.len(), device)?)
    }
}

/// Produces the batches of a data set through a pipeline, epoch by epoch: decoding in parallel
/// on its own thread pool, ahead of the consumer on a background thread. Built by
/// [`LoaderBuilder`].
#[derive(Debug, Clone)]
pub struct Loader {
    pub(crate) shared: Arc<Shared>,
}

impl Loader {
    /// The batches of epoch `epoch`, produced in the background as the iterator is consumed.
    /// The same epoch number gives the same order and the same augmentations.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        Epoch::start(self.shared.clone(), self.order(epoch), epoch)
    }

    /// The item order of epoch `epoch`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.shared.dataset.len()).collect();
        if self.shared.config.shuffle {
            let seed = mix(mix(self.shared.config.seed ^ 0x5348_5546_464c_4521) ^ epoch);
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        order
    }

    /// The RNG seed of item `item`'s augmentations in epoch `epoch`:
    /// `pipeline.load(dataset, item, loader.item_seed(epoch, item))` gives the image the loader
    /// puts in the batch.
    pub fn item_seed(&self, epoch: u64, item: usize) -> u64 {
        item_seed(self.shared.config.seed, epoch, item)
    }

    /// Number of batches per epoch (fewer when whole batches fail to load in lenient mode).
    pub fn num_batches(&self) -> usize {
        let (n, b) = (self.shared.dataset.len(), self.shared.config.batch_size);
        if self.shared.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The data set.
    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.shared.dataset
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.shared.pipeline
    }

    /// The images that failed to load so far (lenient mode), each listed once.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.shared
            .skipped
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

/// State shared by the loader and its epochs' background threads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: LoaderBuilder,
    pub dataset: Arc<Dataset>,
    pub pipeline: Pipeline,
    pool: rayon::ThreadPool,
    cache: Option<ImageCache>,
    failed: Vec<AtomicBool>,
    skipped: Mutex<Vec<Skipped>>,
}

impl Shared {
    /// Loads `items` in parallel into a batch; `Ok(None)` if every item was skipped.
    pub fn batch(
        &self,
        items: &[usize],
        seeds: impl Fn(usize) -> u64 + Sync,
    ) -> Result<Option<Batch>> {
        let results: Vec<Option<Result<RgbImage>>> = self.pool.install(|| {
            items
                .par_iter()
                .map(|&i| (!self.known_bad(i)).then(|| self.item(i, seeds(i))))
                .collect()
        });
        let (mut images, mut indices) = (
            Vec::with_capacity(items.len()),
            Vec::with_capacity(items.len()),
        );
        for (&i, result) in items.iter().zip(results) {
            match result {
                None => {}
                Some(Ok(image)) => {
                    images.push(image);
                    indices.push(i);
                }
                Some(Err(e)) if self.config.strictness == Strictness::Strict => return Err(e),
                Some(Err(e)) => self.record(i, &e),
            }
        }
        if images.is_empty() {
            return Ok(None);
        }
        let images = self.pool.install(|| {
            self.pipeline
                .normalization()
                .to_tensor(&images, &self.config.device)
        })?;
        let labels = indices.iter().map(|&i| self.dataset.label(i)).collect();
        Ok(Some(Batch {
            images,
            indices,
            labels,
        }))
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

/// The augmentation seed of `item` in `epoch` for the loader seed `seed`.
pub(crate) fn item_seed(seed: u64, epoch: u64, item: usize) -> u64 {
    mix(mix(mix(seed) ^ epoch) ^ item as u64)
}

/// splitmix64's finaliser: a bijective mix of 64 bits, so distinct inputs give distinct seeds.
fn mix(z: u64) -> u64 {
    let z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
