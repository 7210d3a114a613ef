//! Local Aggregation (Zhuang, Zhai & Yamins 2019): a memory bank of every item's embedding,
//! close neighbours from k-means clusterings of the bank, optionally after
//! instance-recognition warm-up epochs.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::Tensor;
use la_cluster::{Init, KMeans};
use la_segnet::{Embedder, HasParams};

use super::Objective;
use crate::config::{BankInit, LaConfig, Recluster};
use crate::data::RunData;
use crate::embed::embed_all;
use crate::monitor::{Event, Monitor, Phase};
use crate::trainer::Position;
use crate::{
    Clusterings, Error, InstanceLoss, LocalAggregationLoss, MemoryBank, Result, RngStream,
    derive_seed,
};

/// Checkpoint names of the state.
const MEMORY_BANK: &str = "memory_bank";
const CLUSTER_LABELS: &str = "cluster_labels";

/// The Local Aggregation objective and its state.
#[derive(Debug)]
pub struct LocalAggregation {
    config: LaConfig,
    batch_size: usize,
    seed: u64,
    bank: Option<MemoryBank>,
    clusterings: Option<Clusterings>,
    la: LocalAggregationLoss,
    ir: InstanceLoss,
}

impl LocalAggregation {
    /// The objective of `config` for `n` items; `batch_size` is the encoding pass's.
    pub fn new(config: LaConfig, batch_size: usize, n: usize, seed: u64) -> Self {
        LocalAggregation {
            la: LocalAggregationLoss {
                temperature: config.temperature,
                background: config.background_for(n),
                ..Default::default()
            },
            ir: InstanceLoss {
                temperature: config.temperature,
            },
            config,
            batch_size,
            seed,
            bank: None,
            clusterings: None,
        }
    }

    fn warming_up(&self, epoch: usize) -> bool {
        epoch < self.config.warmup_epochs
    }

    fn bank(&self) -> Result<&MemoryBank> {
        self.bank.as_ref().ok_or_else(|| {
            Error::config(
                "local aggregation",
                "no memory bank",
                "start() called first",
            )
        })
    }

    /// The memory bank before training: one encoding pass, or random unit rows.
    fn initial_bank(
        &self,
        embedder: &Embedder,
        data: &RunData,
        monitor: &mut dyn Monitor,
    ) -> Result<MemoryBank> {
        let random = || {
            let bank_seed = derive_seed(self.seed, RngStream::BankInit, 0, 0);
            let device = embedder.variables()[0].var.device().clone();
            MemoryBank::random(data.len(), embedder.dim(), bank_seed, &device)
        };
        match self.config.bank_init {
            BankInit::Random => random(),
            BankInit::Encode => {
                let embedded = embed_all(
                    |x| embedder.forward_t(x, false),
                    data,
                    self.batch_size,
                    monitor,
                )?;
                let rows = embedded.rows_for_all(&random()?)?;
                MemoryBank::from_embeddings(&rows)
            }
        }
    }

    /// H k-means clusterings of the bank with seeds derived from the position.
    fn recluster(&mut self, at: Position, monitor: &mut dyn Monitor) -> Result<()> {
        let h = self.config.clusterings;
        monitor.event(&Event::PhaseStart {
            phase: Phase::Clustering,
            total: Some(h as u64),
        });
        let clock = Instant::now();
        let bank = self.bank()?;
        // As the reference's faiss k-means: random initial centroids, 20 iterations.
        let params = KMeans::params(self.config.clusters_for(bank.len()))
            .n_runs(1)
            .init(Init::Random)
            .max_iter(20)
            .seed(derive_seed(
                self.seed,
                RngStream::KMeans,
                at.epoch as u64,
                at.global_step as u64,
            ));
        self.clusterings = Some(Clusterings::fit(bank, &params, h)?);
        monitor.event(&Event::PhaseEnd {
            phase: Phase::Clustering,
            seconds: clock.elapsed().as_secs_f64(),
        });
        Ok(())
    }
}

impl Objective for LocalAggregation {
    fn views(&self) -> usize {
        1
    }

    fn start(
        &mut self,
        embedder: &Embedder,
        data: &RunData,
        resume: Option<&HashMap<String, Tensor>>,
        monitor: &mut dyn Monitor,
    ) -> Result<()> {
        match resume {
            Some(state) => {
                let bank = state.get(MEMORY_BANK).ok_or_else(|| {
                    Error::config(
                        "resume",
                        "a checkpoint without memory bank",
                        "a Local Aggregation checkpoint",
                    )
                })?;
                self.bank = Some(MemoryBank::from_tensor(bank)?);
                self.clusterings = state
                    .get(CLUSTER_LABELS)
                    .map(Clusterings::from_tensor)
                    .transpose()?;
            }
            None => self.bank = Some(self.initial_bank(embedder, data, monitor)?),
        }
        let n = data.len();
        if self.la.background < self.config.background {
            monitor.event(&Event::Note {
                message: format!(
                    "background neighbours capped at {} (N - 1) for {n} items",
                    self.la.background
                ),
            });
        }
        Ok(())
    }

    fn epoch_start(&mut self, at: Position, monitor: &mut dyn Monitor) -> Result<()> {
        let due = self.config.recluster == Recluster::Epoch || self.clusterings.is_none();
        // A resumed epoch keeps the clusterings it was saved with.
        if due && at.step_in_epoch == 0 && !self.warming_up(at.epoch) {
            self.recluster(at, monitor)?;
        }
        Ok(())
    }

    fn loss(
        &mut self,
        v: &Tensor,
        items: &[u32],
        at: Position,
        monitor: &mut dyn Monitor,
    ) -> Result<Tensor> {
        if let Recluster::Steps(every) = self.config.recluster
            && at.global_step.is_multiple_of(every)
            && !self.warming_up(at.epoch)
        {
            self.recluster(at, monitor)?;
        }
        let bank = self.bank()?;
        let out = match (&self.clusterings, self.warming_up(at.epoch)) {
            (Some(c), false) => self.la.forward(v, items, bank, c)?,
            _ => self.ir.forward(v, items, bank)?,
        };
        Ok(out.loss)
    }

    fn after_step(&mut self, v: &Tensor, items: &[u32]) -> Result<()> {
        let mixing = self.config.mixing;
        match self.bank.as_mut() {
            Some(bank) => bank.update(items, v, mixing),
            None => Ok(()),
        }
    }

    fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut state = HashMap::from([(MEMORY_BANK.to_string(), self.bank()?.tensor().copy()?)]);
        if let Some(c) = &self.clusterings {
            state.insert(
                CLUSTER_LABELS.into(),
                c.to_tensor(&candle_core::Device::Cpu)?,
            );
        }
        Ok(state)
    }
}
