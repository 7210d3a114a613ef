//! The configuration of a whole run: data, model, both training stages and the evaluation.
//! Serialisable (the CLI reads and writes it as TOML); [`RunConfig::check`] validates every
//! field once, at the boundary.
//!
//! `Default` is the recipe measured on the bundled sample: the paper's Local Aggregation
//! hyper-parameters on a quarter-width VGG16-bn, without the auto-encoder stage.
//! [`RunConfig::paper`] is the faithful pipeline (full width, auto-encoder then Local
//! Aggregation).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Error, LrSchedule, Result, SgdConfig};

/// Everything a run needs. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of every random choice (initial weights, shuffles, augmentations, k-means).
    /// By default, 0.
    pub seed: u64,
    /// The images.
    pub data: DataConfig,
    /// The network.
    pub model: ModelSpec,
    /// Stage 1, the auto-encoder.
    pub ae: AeConfig,
    /// Stage 2, Local Aggregation.
    pub la: LaConfig,
    /// The final clustering and its evaluation.
    pub eval: EvalConfig,
}

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
    /// Random augmentations of the Local Aggregation stage.
    pub augment: AugmentSpec,
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
            augment: AugmentSpec::default(),
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

/// The augmentations of Local Aggregation (the paper's by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentSpec {
    /// Whether stage 2 augments at all. By default, true.
    pub enabled: bool,
    /// Smallest area fraction of the random resized crop. By default, 0.2.
    pub crop_scale_min: f32,
    /// Probability of grayscale. By default, 0.2.
    pub grayscale: f32,
    /// Strength of the colour jitter (brightness, contrast, saturation, hue). By default,
    /// 0.4.
    pub jitter: f32,
    /// Probability of a horizontal flip. By default, 0.5.
    pub hflip: f32,
    /// Largest random rotation in degrees. By default, none.
    pub rotation: Option<f32>,
}

impl Default for AugmentSpec {
    fn default() -> Self {
        AugmentSpec {
            enabled: true,
            crop_scale_min: 0.2,
            grayscale: 0.2,
            jitter: 0.4,
            hflip: 0.5,
            rotation: None,
        }
    }
}

/// Which pretrained weights start the encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Weights {
    /// Random initialisation (torchvision's scheme). The default: nothing to download.
    #[default]
    None,
    /// ImageNet weights from the Hugging Face cache (`cargo xtask fetch-weights`).
    Imagenet,
    /// A safetensors file of VGG-bn weights (torchvision or timm names).
    Path(PathBuf),
}

/// How the code becomes the embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MergerSpec {
    /// Mean over the plane. The default.
    #[default]
    Mean,
    /// All values of the code.
    Flatten,
}

/// The network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSpec {
    /// VGG depth with batch norm: 11, 13, 16 or 19. By default, 16.
    pub depth: u32,
    /// Divides every layer's width (1 = the paper's network; pretrained weights need 1).
    /// By default, 4: the recipe measured on the bundled sample (see the README); a quarter
    /// of the width trains about 10 times faster on a CPU and clustered better there.
    pub width_divisor: usize,
    /// The encoder's starting weights. By default, none (random).
    pub weights: Weights,
    /// How the code is merged. By default, the mean.
    pub merger: MergerSpec,
    /// Size of the linear projection of the merged code, 0 for none. By default, 128 (the
    /// paper's embedding size).
    pub projection: usize,
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec {
            depth: 16,
            width_divisor: 4,
            weights: Weights::None,
            merger: MergerSpec::Mean,
            projection: 128,
        }
    }
}

/// Stage 1: the auto-encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AeConfig {
    /// Whether the stage runs. By default, false: on the bundled sample the auto-encoder
    /// stage made the clusters worse (the decoder can rebuild an image from the pooling
    /// indices alone, so the code need not carry much); [`RunConfig::paper`] enables it.
    pub enabled: bool,
    /// Epochs. By default, 10.
    pub epochs: usize,
    /// Images per step. By default, 16.
    pub batch_size: usize,
    /// The optimiser. By default SGD, learning rate 0.01, momentum 0.9, no weight decay.
    pub sgd: SgdConfig,
    /// The learning-rate schedule. By default, halved every 5 epochs (step schedule).
    pub schedule: LrSchedule,
    /// Train the decoder only. By default, false.
    pub freeze_encoder: bool,
    /// Images of the fixed sample whose reconstructions are saved after each epoch.
    /// By default, 16.
    pub reconstructions: usize,
}

impl Default for AeConfig {
    fn default() -> Self {
        AeConfig {
            enabled: false,
            epochs: 10,
            batch_size: 16,
            sgd: SgdConfig {
                lr: 0.01,
                weight_decay: 0.0,
                ..SgdConfig::default()
            },
            schedule: LrSchedule::Step {
                step_size: 5,
                gamma: 0.5,
            },
            freeze_encoder: false,
            reconstructions: 16,
        }
    }
}

/// When the close neighbours are re-clustered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recluster {
    /// At the start of every epoch. The default.
    Epoch,
    /// Every `n` steps (1 reproduces the reference code, which re-clusters every batch).
    Steps(usize),
}

/// How the memory bank starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BankInit {
    /// The embeddings of one pass over the data (evaluation mode). The default.
    #[default]
    Encode,
    /// Random unit vectors.
    Random,
}

/// Stage 2: Local Aggregation, with the paper's hyper-parameters by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LaConfig {
    /// Whether the stage runs. By default, true.
    pub enabled: bool,
    /// Epochs. By default, 40 (the recipe measured on the bundled sample).
    pub epochs: usize,
    /// Images per step. By default, 128 (the paper's).
    pub batch_size: usize,
    /// The optimiser. By default the paper's: SGD, learning rate 0.03, momentum 0.9, weight
    /// decay 1e-4.
    pub sgd: SgdConfig,
    /// The learning-rate schedule. By default, constant.
    pub schedule: LrSchedule,
    /// Temperature tau of the loss. By default, 0.07.
    pub temperature: f64,
    /// Weight m of a new embedding in its memory-bank row. By default, 0.5.
    pub mixing: f64,
    /// Background neighbours k; capped at N - 1. By default, 4096.
    pub background: usize,
    /// k-means clusterings H behind the close neighbours. By default, 6.
    pub clusterings: usize,
    /// Clusters of each clustering; by default the paper's ratio of images to clusters
    /// (1,281,167 / 10,000, about 128 images per cluster), at least 2.
    pub clusters: Option<usize>,
    /// When to re-cluster. By default, every epoch.
    pub recluster: Recluster,
    /// Epochs of instance-recognition warm-up before the Local Aggregation loss. By default, 0.
    pub warmup_epochs: usize,
    /// How the memory bank starts. By default, from one encoding pass.
    pub bank_init: BankInit,
}

impl Default for LaConfig {
    fn default() -> Self {
        LaConfig {
            enabled: true,
            epochs: 40,
            batch_size: 128,
            sgd: SgdConfig::default(),
            schedule: LrSchedule::Constant,
            temperature: 0.07,
            mixing: 0.5,
            background: 4096,
            clusterings: 6,
            clusters: None,
            recluster: Recluster::Epoch,
            warmup_epochs: 0,
            bank_init: BankInit::Encode,
        }
    }
}

/// Images per cluster in the paper's ImageNet setting (1,281,167 images, 10,000 clusters).
pub const PAPER_IMAGES_PER_CLUSTER: f64 = 1_281_167.0 / 10_000.0;

impl LaConfig {
    /// Background neighbours for `n` items: `background` capped at `n - 1`.
    pub fn background_for(&self, n: usize) -> usize {
        self.background.min(n.saturating_sub(1)).max(1)
    }

    /// Clusters per clustering for `n` items: `clusters`, or the paper's ratio; always
    /// between 2 and `n`.
    pub fn clusters_for(&self, n: usize) -> usize {
        let k = self
            .clusters
            .unwrap_or_else(|| (n as f64 / PAPER_IMAGES_PER_CLUSTER).round() as usize);
        k.clamp(2, n.max(2))
    }
}

/// The final clustering and evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Clusters K of the final k-means; by default the number of classes when the data is
    /// labelled, else 20.
    pub clusters: Option<usize>,
    /// k-means restarts (best inertia kept). By default, 10.
    pub n_runs: usize,
    /// Neighbours of the weighted kNN classifier. By default, 200 (Wu et al. 2018).
    pub knn_k: usize,
    /// Temperature of the weighted kNN classifier. By default, 0.07.
    pub knn_temperature: f64,
    /// Most central images shown per cluster in its contact sheet. By default, 64.
    pub sheet_images: usize,
    /// Also cluster the raw pixels with the same k-means, as a baseline. By default, true.
    pub pixel_baseline: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            clusters: None,
            n_runs: 10,
            knn_k: 200,
            knn_temperature: 0.07,
            sheet_images: 64,
            pixel_baseline: true,
        }
    }
}

impl RunConfig {
    /// The faithful pipeline of the reference: full-width VGG16-bn, auto-encoder stage then
    /// Local Aggregation, the paper's hyper-parameters. Much slower on a CPU than the default
    /// recipe, and not better on the bundled sample (see the README).
    pub fn paper() -> Self {
        RunConfig {
            model: ModelSpec {
                width_divisor: 1,
                ..ModelSpec::default()
            },
            ae: AeConfig {
                enabled: true,
                ..AeConfig::default()
            },
            ..RunConfig::default()
        }
    }

    /// Checks every field; the error names the first field out of range.
    pub fn check(&self) -> Result<()> {
        let positive = |field: &'static str, v: usize| {
            if v == 0 {
                Err(Error::config(field, v, "at least 1"))
            } else {
                Ok(())
            }
        };
        if let Some(side) = self.data.side
            && (side == 0 || !side.is_multiple_of(32))
        {
            return Err(Error::config(
                "data.side",
                side,
                "a positive multiple of 32",
            ));
        }
        if let Some(g) = self.data.grid {
            positive("data.grid.n", g.n as usize)?;
            if g.tile == 0 || !g.tile.is_multiple_of(32) {
                return Err(Error::config(
                    "data.grid.tile",
                    g.tile,
                    "a positive multiple of 32",
                ));
            }
        }
        let a = &self.data.augment;
        if !(a.crop_scale_min > 0.0 && a.crop_scale_min <= 1.0) {
            return Err(Error::config(
                "data.augment.crop_scale_min",
                a.crop_scale_min,
                "in (0, 1]",
            ));
        }
        for (field, p) in [
            ("data.augment.grayscale", a.grayscale),
            ("data.augment.hflip", a.hflip),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::config(field, p, "a probability in [0, 1]"));
            }
        }
        if !(0.0..=0.5).contains(&a.jitter) {
            return Err(Error::config(
                "data.augment.jitter",
                a.jitter,
                "in [0, 0.5]",
            ));
        }
        if ![11, 13, 16, 19].contains(&self.model.depth) {
            return Err(Error::config(
                "model.depth",
                self.model.depth,
                "11, 13, 16 or 19",
            ));
        }
        positive("model.width_divisor", self.model.width_divisor)?;
        if self.model.width_divisor != 1 && self.model.weights != Weights::None {
            return Err(Error::config(
                "model.weights",
                format!("{:?}", self.model.weights),
                "none when model.width_divisor is not 1 (pretrained weights are full width)",
            ));
        }
        if self.ae.enabled {
            positive("ae.epochs", self.ae.epochs)?;
        }
        if self.la.enabled {
            positive("la.epochs", self.la.epochs)?;
        }
        positive("ae.batch_size", self.ae.batch_size)?;
        self.ae.sgd.check()?;
        self.ae.schedule.check()?;
        let la = &self.la;
        positive("la.batch_size", la.batch_size)?;
        la.sgd.check()?;
        la.schedule.check()?;
        if !(la.temperature.is_finite() && la.temperature > 0.0) {
            return Err(Error::config(
                "la.temperature",
                la.temperature,
                "a positive number",
            ));
        }
        if !(la.mixing > 0.0 && la.mixing <= 1.0) {
            return Err(Error::config("la.mixing", la.mixing, "in (0, 1]"));
        }
        positive("la.background", la.background)?;
        positive("la.clusterings", la.clusterings)?;
        if let Some(k) = la.clusters
            && k < 2
        {
            return Err(Error::config("la.clusters", k, "at least 2"));
        }
        if let Recluster::Steps(n) = la.recluster {
            positive("la.recluster", n)?;
        }
        if la.enabled && la.warmup_epochs > la.epochs {
            return Err(Error::config(
                "la.warmup_epochs",
                la.warmup_epochs,
                "at most la.epochs",
            ));
        }
        if let Some(k) = self.eval.clusters
            && k < 2
        {
            return Err(Error::config("eval.clusters", k, "at least 2"));
        }
        positive("eval.n_runs", self.eval.n_runs)?;
        positive("eval.knn_k", self.eval.knn_k)?;
        positive("eval.sheet_images", self.eval.sheet_images)?;
        if !(self.eval.knn_temperature.is_finite() && self.eval.knn_temperature > 0.0) {
            return Err(Error::config(
                "eval.knn_temperature",
                self.eval.knn_temperature,
                "a positive number",
            ));
        }
        Ok(())
    }
}
