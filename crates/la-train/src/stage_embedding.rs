//! Stage 2: the embedder learns by an [`Objective`] (Local Aggregation, or contrastive
//! learning of two views), with a resumable checkpoint after every epoch.

use std::path::Path;

use la_data::Batch;
use la_segnet::{Embedder, HasParams};

use crate::config::EmbeddingConfig;
use crate::data::RunData;
use crate::monitor::{Monitor, Stage};
use crate::objective::{self, Objective};
use crate::trainer::{EpochLoop, Outcome, Position, StageTask};
use crate::{Checkpoint, Error, Optimizer, Result, RngStream, RunInfo, Sgd, derive_seed};

/// Name of stage 2's resumable checkpoint in the checkpoint folder.
pub const EMBEDDING_CHECKPOINT: &str = "embedding";

/// Trains `embedder` by the objective of `config` for its epochs (from `resume` if given),
/// writing a resumable checkpoint to `dir/checkpoints` after every epoch. Returns how the
/// stage ended.
pub fn train_embedding(
    embedder: &Embedder,
    data: &RunData,
    config: &EmbeddingConfig,
    seed: u64,
    dir: &Path,
    resume: Option<&Checkpoint>,
    monitor: &mut dyn Monitor,
) -> Result<Outcome> {
    let mut sgd = Sgd::new(embedder.trainable(), config.sgd.clone())?;
    let mut objective = objective::build(config, data.len(), seed);
    let start = match resume {
        Some(ckpt) => {
            ckpt.restore_model(&embedder.variables())?;
            sgd.load_state(&ckpt.optimizer)?;
            objective.start(embedder, data, Some(&ckpt.objective), monitor)?;
            Position::of(&ckpt.run)
        }
        None => {
            objective.start(embedder, data, None, monitor)?;
            Position::default()
        }
    };
    let loader = data.train_loader(
        config.batch_size,
        derive_seed(seed, RngStream::Shuffle, 1, 0),
        Some(objective.views()),
    )?;
    let mut task = EmbeddingTask {
        embedder,
        sgd,
        objective,
    };
    let config_json =
        serde_json::to_value(config).map_err(|e| Error::config("embedding", e, "serialisable"))?;
    EpochLoop {
        stage: Stage::Embedding,
        epochs: config.epochs,
        base_lr: config.sgd.lr,
        schedule: &config.schedule,
        seed,
        config: config_json,
        checkpoint_dir: &dir.join("checkpoints"),
        checkpoint_name: EMBEDDING_CHECKPOINT,
    }
    .run(&mut task, &loader, start, monitor)
}

struct EmbeddingTask<'a> {
    embedder: &'a Embedder,
    sgd: Sgd,
    objective: Box<dyn Objective>,
}

impl StageTask for EmbeddingTask<'_> {
    fn epoch_start(&mut self, at: Position, monitor: &mut dyn Monitor) -> Result<()> {
        self.objective.epoch_start(at, monitor)
    }

    fn step(
        &mut self,
        batch: &Batch,
        at: Position,
        lr: f64,
        monitor: &mut dyn Monitor,
    ) -> Result<f64> {
        let items: Vec<u32> = batch.indices.iter().map(|&i| i as u32).collect();
        let v = self.embedder.forward_t(&batch.images, true)?;
        let loss = self.objective.loss(&v, &items, at, monitor)?;
        self.sgd.set_learning_rate(lr);
        self.sgd.backward_step(&loss)?;
        self.objective.after_step(&v.detach(), &items)?;
        Ok(loss.to_dtype(candle_core::DType::F64)?.to_scalar()?)
    }

    fn checkpoint(&self, run: RunInfo) -> Result<Checkpoint> {
        let mut ckpt = Checkpoint::new(run);
        ckpt.model = la_segnet::state(self.embedder)?;
        ckpt.optimizer = self.sgd.state()?;
        ckpt.objective = self.objective.state()?;
        Ok(ckpt)
    }
}
