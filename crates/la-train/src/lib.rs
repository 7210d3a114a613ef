//! The training pieces of Local Aggregation (Zhuang, Zhai & Yamins 2019) on candle:
//!
//! - [`Sgd`] ([`Optimizer`]): SGD with momentum, Nesterov and weight decay per parameter
//!   group, step for step as `torch.optim.SGD`, with exportable state.
//! - [`LrSchedule`]: step, multi-step and warm-up + cosine schedules as pure functions of the
//!   training [`Progress`].
//! - [`Checkpoint`]: model, optimiser, memory bank, clusterings and position in a safetensors
//!   file and a JSON sidecar, written atomically; randomness is derived from
//!   (seed, purpose, epoch, step) by [`derive_seed`], so no RNG state needs saving.
//! - [`MemoryBank`]: N unit rows, mixed with new embeddings; background neighbours by cosine
//!   top-k over the whole bank.
//! - [`Clusterings`]: H clusterings whose union defines close neighbours, as a mask over
//!   background neighbours.
//! - [`LocalAggregationLoss`] and [`InstanceLoss`]: the losses, the bank rows constants and
//!   the gradient flowing into the embeddings.
//!
//! Library code never prints.
//!
//! # Example: one Local Aggregation step without the network
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use la_train::{Clusterings, LocalAggregationLoss, MemoryBank};
//!
//! let dev = Device::Cpu;
//! let mut bank = MemoryBank::random(100, 16, 0, &dev)?;
//! let clusters = Clusterings::new(vec![(0..100).map(|i| i % 5).collect(); 2])?;
//! let items = [3u32, 14, 15, 92];
//! // The embeddings of the batch (in training, the network's normalised output).
//! let v = Var::from_tensor(&la_ops::l2_normalize_rows(&Tensor::randn(0f32, 1., (4, 16), &dev)?)?)?;
//! let la = LocalAggregationLoss { background: 20, ..Default::default() };
//! let out = la.forward(v.as_tensor(), &items, &bank, &clusters)?;
//! let grads = out.loss.backward()?;
//! assert_eq!(grads.get(v.as_tensor()).unwrap().dims(), [4, 16]);
//! // After the optimiser step: mix the batch's embeddings into the bank.
//! bank.update(&items, v.as_tensor(), 0.5)?;
//! # Ok::<(), la_train::Error>(())
//! ```
#![deny(missing_docs)]

mod checkpoint;
mod close_neighbours;
mod cluster_report;
mod config;
mod data;
mod embed;
mod error;
mod evaluate;
mod export;
mod fingerprint;
mod html_report;
mod inspect;
mod items;
mod loss;
mod memory;
mod memory_bank;
mod monitor;
mod objective;
mod optim;
mod report;
mod run;
mod run_dir;
mod schedule;
mod stage_ae;
mod stage_embedding;
mod trained;
mod trainer;

pub use checkpoint::{Checkpoint, RunInfo};
pub use close_neighbours::Clusterings;
pub use cluster_report::cluster_and_report;
pub use config::{
    AeConfig, BackboneSpec, BankInit, ClusterCount, ClusterMethod, DataConfig, DataSource,
    EmbeddingConfig, EvalConfig, GridSpec, LaConfig, MergerSpec, ModelSpec, ObjectiveKind,
    PAPER_IMAGES_PER_CLUSTER, Precision, Recluster, RunConfig, Weights,
};
pub use data::RunData;
pub use embed::{Embedded, embed_all};
pub use error::{Error, Result};
pub use evaluate::{FinalClustering, KChoice, Scores, cluster, knn_accuracy};
pub use export::{ExportMode, ExportSummary, export_clusters};
pub use fingerprint::DataFingerprint;
pub use html_report::{ReportSummary, remake_report, write_html_report, write_run_report};
pub use inspect::{ModelSummary, WeightsSummary};
pub use la_data::{RngStream, derive_seed};
pub use la_vgg::Depth;
pub use loss::{ContrastiveLoss, InstanceLoss, LocalAggregationLoss, LossOutput};
pub use memory_bank::{Background, MemoryBank};
pub use monitor::{Event, MetricsLog, Monitor, Phase, Stage};
pub use objective::{Contrastive, LocalAggregation, Objective};
pub use optim::{Optimizer, Sgd, SgdConfig};
pub use report::{
    ClusterRow, DuplicateRow, EvalReport, SkipRow, cluster_rows, write_contact_sheets,
};
pub use run::{RunSummary, build_embedder, model_config, pretrained_weights, run};
pub use run_dir::{Created, RunDir};
pub use schedule::{LrSchedule, Progress};
pub use stage_ae::{AE_CHECKPOINT, save_reconstructions, train_autoencoder};
pub use stage_embedding::{EMBEDDING_CHECKPOINT, train_embedding};
pub use trained::{ModelFile, TrainedModel};
pub use trainer::{Outcome, Position};
