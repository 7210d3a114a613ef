//! The batch loader: its configuration and the loader; the batches (`batch`), an epoch's
//! background thread (`epoch`) and the loading of one batch (`worker`) are its submodules.

mod batch;
mod epoch;
mod worker;

pub use batch::Batch;
pub use epoch::Epoch;

use std::sync::Arc;

use candle_core::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::report::{Skipped, Strictness};
use crate::seed::LoaderStream;
use worker::Shared;

/// Memory for finished batches waiting ahead of the consumer, by default: loading a batch
/// takes a fraction of the training step that consumes it, so one batch in the making is
/// enough when batches are large.
pub const PREFETCH_BYTES: usize = 64 << 20;

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
    pub(crate) views: usize,
    pub(crate) shuffle: bool,
    pub(crate) seed: u64,
    pub(crate) drop_last: bool,
    pub(crate) prefetch: Option<usize>,
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
            views: 1,
            shuffle: false,
            seed: 0,
            drop_last: false,
            prefetch: None,
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

    /// Differently augmented copies of each item per batch (two for contrastive learning):
    /// [`Batch::images`] holds `views * N` images, all first views, then all second views.
    /// By default, 1.
    pub fn views(&mut self, n: usize) -> &mut Self {
        self.views = n;
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

    /// How many finished batches may wait ahead of the consumer (0: the next batch is still
    /// made while the consumer works, then waits for it). By default, as many of 2 as fit in
    /// [`PREFETCH_BYTES`]: 2 for small images, 0 for batches of 224-pixel photos, whose waiting
    /// batches would otherwise hold hundreds of megabytes.
    pub fn prefetch(&mut self, n: usize) -> &mut Self {
        self.prefetch = Some(n);
        self
    }

    /// Finished batches waiting ahead of the consumer for images of `side` pixels: the set
    /// number, or by default as many of 2 as fit in [`PREFETCH_BYTES`].
    fn prefetch_batches(&self, side: u32) -> usize {
        let bytes = self.batch_size * self.views * 3 * (side as usize).pow(2) * size_of::<f32>();
        self.prefetch
            .unwrap_or_else(|| (PREFETCH_BYTES / bytes.max(1)).min(2))
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
        if self.views == 0 {
            return Err(Error::config("views", 0, "at least 1"));
        }
        let side = pipeline.output_side(&dataset)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .thread_name(|i| format!("la-data-{i}"))
            .build()
            .map_err(|e| Error::ThreadPool {
                threads: self.threads,
                reason: e.to_string(),
            })?;
        let mut config = self.clone();
        config.prefetch = Some(self.prefetch_batches(side));
        let shared = Shared::new(config, dataset, pipeline, side, pool);
        Ok(Loader {
            shared: Arc::new(shared),
        })
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
            let seed = LoaderStream::Order.seed(self.shared.config.seed, epoch);
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        order
    }

    /// The RNG seed of the augmentations of view `view` of item `item` in epoch `epoch`:
    /// `pipeline.load(dataset, item, loader.item_seed(epoch, item, view))` gives the image the
    /// loader puts in the batch.
    pub fn item_seed(&self, epoch: u64, item: usize, view: usize) -> u64 {
        LoaderStream::Item(item, view).seed(self.shared.config.seed, epoch)
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
        self.shared.skipped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_batches_follow_their_size_unless_set() {
        let mut b = LoaderBuilder::new();
        b.batch_size(128).views(2);
        // 128 x 2 x 3 x 224^2 x 4 bytes = 154 MB: none waits; at 32 pixels (3.1 MB), two.
        assert_eq!(b.prefetch_batches(224), 0);
        assert_eq!(b.prefetch_batches(32), 2);
        // 32 x 2 x 3 x 224^2 x 4 = 38.5 MB: one fits in 64 MiB.
        assert_eq!(b.clone().batch_size(32).prefetch_batches(224), 1);
        assert_eq!(b.prefetch(3).prefetch_batches(224), 3);
    }
}
