//! Stage 2: the encoder learns with the Local Aggregation loss against a memory bank, close
//! neighbours from k-means clusterings of the bank, optionally after instance-recognition
//! warm-up epochs.

use std::path::Path;
use std::time::Instant;

use la_cluster::{Init, KMeans};
use la_data::Batch;
use la_segnet::{Embedder, HasParams};

use crate::config::{BankInit, LaConfig, Recluster};
use crate::data::RunData;
use crate::embed::embed_all;
use crate::monitor::{Event, Monitor, Phase, Stage};
use crate::trainer::{EpochLoop, Outcome, Position, StageTask};
use crate::{
    Checkpoint, Clusterings, Error, InstanceLoss, LocalAggregationLoss, MemoryBank, Optimizer,
    Result, RngStream, RunInfo, Sgd, derive_seed,
};

/// Name of stage 2's resumable checkpoint in the checkpoint folder.
pub const LA_CHECKPOINT: &str = "local_aggregation";

/// Trains `embedder` with Local Aggregation for the epochs of `config` (from `resume` if
/// given), writing a resumable checkpoint to `dir/checkpoints` after every epoch. Returns how
/// the stage ended and the memory bank.
pub fn train_local_aggregation(
    embedder: &Embedder,
    data: &RunData,
    config: &LaConfig,
    seed: u64,
    dir: &Path,
    resume: Option<&Checkpoint>,
    monitor: &mut dyn Monitor,
) -> Result<(Outcome, MemoryBank)> {
    let n = data.len();
    let mut sgd = Sgd::new(embedder.trainable(), config.sgd.clone())?;
    let (start, bank, clusterings) = match resume {
        Some(ckpt) => {
            ckpt.restore_model(&embedder.variables())?;
            sgd.load_state(&ckpt.optimizer)?;
            let bank = ckpt.memory_bank.as_ref().ok_or_else(|| {
                Error::config(
                    "resume",
                    "a checkpoint without memory bank",
                    "a Local Aggregation checkpoint",
                )
            })?;
            (
                Position::of(&ckpt.run),
                MemoryBank::from_tensor(bank)?,
                ckpt.clusterings.clone(),
            )
        }
        None => (
            Position::default(),
            initial_bank(embedder, data, config, seed, monitor)?,
            None,
        ),
    };
    let background = config.background_for(n);
    if background < config.background {
        monitor.event(&Event::Note {
            message: format!("background neighbours capped at {background} (N - 1) for {n} items"),
        });
    }
    let loader = data.train_loader(
        config.batch_size,
        derive_seed(seed, RngStream::Shuffle, 1, 0),
        true,
    )?;
    let mut task = LaTask {
        embedder,
        sgd,
        bank,
        clusterings,
        config,
        seed,
        la: LocalAggregationLoss {
            temperature: config.temperature,
            background,
            ..Default::default()
        },
        ir: InstanceLoss {
            temperature: config.temperature,
        },
    };
    let config_json =
        serde_json::to_value(config).map_err(|e| Error::config("la", e, "serialisable"))?;
    let outcome = EpochLoop {
        stage: Stage::LocalAggregation,
        epochs: config.epochs,
        base_lr: config.sgd.lr,
        schedule: &config.schedule,
        seed,
        config: config_json,
        checkpoint_dir: &dir.join("checkpoints"),
        checkpoint_name: LA_CHECKPOINT,
    }
    .run(&mut task, &loader, start, monitor)?;
    Ok((outcome, task.bank))
}

/// The memory bank before training: one encoding pass, or random unit rows.
fn initial_bank(
    embedder: &Embedder,
    data: &RunData,
    config: &LaConfig,
    seed: u64,
    monitor: &mut dyn Monitor,
) -> Result<MemoryBank> {
    let random = || {
        let bank_seed = derive_seed(seed, RngStream::BankInit, 0, 0);
        let device = embedder.variables()[0].var.device().clone();
        MemoryBank::random(data.len(), embedder.dim(), bank_seed, &device)
    };
    match config.bank_init {
        BankInit::Random => random(),
        BankInit::Encode => {
            let embedded = embed_all(
                |x| embedder.forward_t(x, false),
                data,
                config.batch_size,
                monitor,
            )?;
            let rows = embedded.rows_for_all(&random()?)?;
            MemoryBank::from_embeddings(&rows)
        }
    }
}

struct LaTask<'a> {
    embedder: &'a Embedder,
    sgd: Sgd,
    bank: MemoryBank,
    clusterings: Option<Clusterings>,
    config: &'a LaConfig,
    seed: u64,
    la: LocalAggregationLoss,
    ir: InstanceLoss,
}

impl LaTask<'_> {
    fn warming_up(&self, epoch: usize) -> bool {
        epoch < self.config.warmup_epochs
    }

    /// H k-means clusterings of the bank with seeds derived from the position.
    fn recluster(&mut self, at: Position, monitor: &mut dyn Monitor) -> Result<()> {
        let h = self.config.clusterings;
        monitor.event(&Event::PhaseStart {
            phase: Phase::Clustering,
            total: Some(h as u64),
        });
        let clock = Instant::now();
        // As the reference's faiss k-means: random initial centroids, 20 iterations.
        let params = KMeans::params(self.config.clusters_for(self.bank.len()))
            .n_runs(1)
            .init(Init::Random)
            .max_iter(20)
            .seed(derive_seed(
                self.seed,
                RngStream::KMeans,
                at.epoch as u64,
                at.global_step as u64,
            ));
        self.clusterings = Some(Clusterings::fit(&self.bank, &params, h)?);
        monitor.event(&Event::PhaseEnd {
            phase: Phase::Clustering,
            seconds: clock.elapsed().as_secs_f64(),
        });
        Ok(())
    }
}

impl StageTask for LaTask<'_> {
    fn epoch_start(&mut self, at: Position, monitor: &mut dyn Monitor) -> Result<()> {
        let due = self.config.recluster == Recluster::Epoch || self.clusterings.is_none();
        // A resumed epoch keeps the clusterings it was saved with.
        if due && at.step_in_epoch == 0 && !self.warming_up(at.epoch) {
            self.recluster(at, monitor)?;
        }
        Ok(())
    }

    fn step(
        &mut self,
        batch: &Batch,
        at: Position,
        lr: f64,
        monitor: &mut dyn Monitor,
    ) -> Result<f64> {
        if let Recluster::Steps(every) = self.config.recluster
            && at.global_step.is_multiple_of(every)
            && !self.warming_up(at.epoch)
        {
            self.recluster(at, monitor)?;
        }
        let items: Vec<u32> = batch.indices.iter().map(|&i| i as u32).collect();
        let v = self.embedder.forward_t(&batch.images, true)?;
        let out = match (&self.clusterings, self.warming_up(at.epoch)) {
            (Some(c), false) => self.la.forward(&v, &items, &self.bank, c)?,
            _ => self.ir.forward(&v, &items, &self.bank)?,
        };
        self.sgd.set_learning_rate(lr);
        self.sgd.backward_step(&out.loss)?;
        self.bank.update(&items, &v.detach(), self.config.mixing)?;
        Ok(out.loss.to_dtype(candle_core::DType::F64)?.to_scalar()?)
    }

    fn checkpoint(&self, run: RunInfo) -> Result<Checkpoint> {
        let mut ckpt = Checkpoint::new(run);
        ckpt.model = la_segnet::state(self.embedder)?;
        ckpt.optimizer = self.sgd.state()?;
        ckpt.memory_bank = Some(self.bank.tensor().copy()?);
        ckpt.clusterings = self.clusterings.clone();
        Ok(ckpt)
    }
}
