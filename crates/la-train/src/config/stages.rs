//! The two training stages: the auto-encoder and the embedding (Local Aggregation or
//! contrastive learning).

use serde::{Deserialize, Serialize};

use crate::{ContrastiveLoss, Error, LrSchedule, Result, SgdConfig};

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

/// Which objective trains the embedding in stage 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveKind {
    /// Local Aggregation (the paper's): a memory bank and k-means close neighbours. The
    /// default.
    #[default]
    LocalAggregation,
    /// Contrastive learning of two augmented views of each image (SimCLR's loss).
    Contrastive,
}

/// Stage 2: the embedding, trained by an objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Whether the stage runs. By default, true.
    pub enabled: bool,
    /// Epochs. By default, 60 (measured with the quality harness: docs/quality.md).
    pub epochs: usize,
    /// Images per step. By default, 128 (the paper's).
    pub batch_size: usize,
    /// The optimiser. By default the paper's: SGD, learning rate 0.03, momentum 0.9, weight
    /// decay 1e-4.
    pub sgd: SgdConfig,
    /// The learning-rate schedule. By default, constant.
    pub schedule: LrSchedule,
    /// The objective. By default contrastive learning of two views (docs/quality.md measures
    /// it against Local Aggregation, the paper's).
    pub objective: ObjectiveKind,
    /// The settings of Local Aggregation (used when it is the objective).
    pub local_aggregation: LaConfig,
    /// The settings of the contrastive objective (used when it is the objective).
    pub contrastive: ContrastiveLoss,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            enabled: true,
            epochs: 60,
            batch_size: 128,
            sgd: SgdConfig::default(),
            schedule: LrSchedule::Constant,
            objective: ObjectiveKind::Contrastive,
            local_aggregation: LaConfig::default(),
            contrastive: ContrastiveLoss::default(),
        }
    }
}

/// Local Aggregation's settings, the paper's by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LaConfig {
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

/// Fails unless `v` is at least 1.
pub(super) fn positive(field: &'static str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::config(field, v, "at least 1"));
    }
    Ok(())
}

/// Fails unless `v` is a finite number above 0.
pub(super) fn positive_number(field: &'static str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return Err(Error::config(field, v, "a positive number"));
    }
    Ok(())
}

impl AeConfig {
    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<()> {
        if self.enabled {
            positive("ae.epochs", self.epochs)?;
        }
        positive("ae.batch_size", self.batch_size)?;
        self.sgd.check().map_err(|e| e.in_section("ae"))?;
        self.schedule.check().map_err(|e| e.in_section("ae"))
    }
}

impl EmbeddingConfig {
    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<()> {
        if self.enabled {
            positive("embedding.epochs", self.epochs)?;
        }
        positive("embedding.batch_size", self.batch_size)?;
        self.sgd.check().map_err(|e| e.in_section("embedding"))?;
        self.schedule
            .check()
            .map_err(|e| e.in_section("embedding"))?;
        positive_number(
            "embedding.contrastive.temperature",
            self.contrastive.temperature,
        )?;
        self.local_aggregation.check()?;
        if self.enabled && self.local_aggregation.warmup_epochs > self.epochs {
            return Err(Error::config(
                "embedding.local_aggregation.warmup_epochs",
                self.local_aggregation.warmup_epochs,
                "at most embedding.epochs",
            ));
        }
        Ok(())
    }
}

impl LaConfig {
    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<()> {
        positive_number("embedding.local_aggregation.temperature", self.temperature)?;
        if !(self.mixing > 0.0 && self.mixing <= 1.0) {
            return Err(Error::config(
                "embedding.local_aggregation.mixing",
                self.mixing,
                "in (0, 1]",
            ));
        }
        positive("embedding.local_aggregation.background", self.background)?;
        positive("embedding.local_aggregation.clusterings", self.clusterings)?;
        if let Some(k) = self.clusters
            && k < 2
        {
            return Err(Error::config(
                "embedding.local_aggregation.clusters",
                k,
                "at least 2",
            ));
        }
        if let Recluster::Steps(n) = self.recluster {
            positive("embedding.local_aggregation.recluster", n)?;
        }
        Ok(())
    }
}
