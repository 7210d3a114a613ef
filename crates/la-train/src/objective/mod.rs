//! What the embedding stage trains for. An objective turns a batch's embeddings into a loss
//! and keeps whatever it needs between steps (a memory bank, clusterings); that state goes
//! into the checkpoint by name. A new objective is one new file here implementing
//! [`Objective`], plus its variant of [`ObjectiveKind`](crate::ObjectiveKind).

mod contrastive;
mod local_aggregation;

use std::collections::HashMap;

use candle_core::Tensor;
use la_segnet::Embedder;

pub use contrastive::Contrastive;
pub use local_aggregation::LocalAggregation;

use crate::Result;
use crate::config::{EmbeddingConfig, ObjectiveKind};
use crate::data::RunData;
use crate::monitor::Monitor;
use crate::trainer::Position;

/// A training objective of the embedding stage.
pub trait Objective {
    /// Augmented views of each image a step needs: the loader puts them in the batch, and
    /// [`loss`](Self::loss) receives the embeddings of all of them.
    fn views(&self) -> usize;

    /// Prepares the state before the first step of a new run (from the initial `embedder`
    /// and the data, e.g. a memory bank from one encoding pass), or restores it from the
    /// tensors [`state`](Self::state) saved when `resume` is given.
    fn start(
        &mut self,
        embedder: &Embedder,
        data: &RunData,
        resume: Option<&HashMap<String, Tensor>>,
        monitor: &mut dyn Monitor,
    ) -> Result<()>;

    /// Called before the first step of every epoch that runs (also a resumed one).
    fn epoch_start(&mut self, _at: Position, _monitor: &mut dyn Monitor) -> Result<()> {
        Ok(())
    }

    /// The loss of a batch of `items`, whose embeddings `v` are `(views * B, D)` unit rows:
    /// all first views, then all second views; differentiable with respect to `v`.
    fn loss(
        &mut self,
        v: &Tensor,
        items: &[u32],
        at: Position,
        monitor: &mut dyn Monitor,
    ) -> Result<Tensor>;

    /// Called after the optimiser step with the step's embeddings (detached).
    fn after_step(&mut self, _v: &Tensor, _items: &[u32]) -> Result<()> {
        Ok(())
    }

    /// The state a checkpoint must hold to continue exactly, by name.
    fn state(&self) -> Result<HashMap<String, Tensor>>;
}

/// The objective `config` selects, for `n` items, seeded from the run's `seed`.
pub fn build(config: &EmbeddingConfig, n: usize, seed: u64) -> Box<dyn Objective> {
    match config.objective {
        ObjectiveKind::LocalAggregation => Box::new(LocalAggregation::new(
            config.local_aggregation.clone(),
            config.batch_size,
            n,
            seed,
        )),
        ObjectiveKind::Contrastive => Box::new(Contrastive::new(config.contrastive.clone())),
    }
}
