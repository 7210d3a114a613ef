//! Optimisers over named model parameters ([`la_segnet::Param`]), shaped like candle-nn's
//! `Optimizer` trait but with exportable state for checkpoints.

mod sgd;

use std::collections::HashMap;

use candle_core::Tensor;
use candle_core::backprop::GradStore;
use la_segnet::Param;

use crate::Result;

pub use sgd::{Sgd, SgdConfig};

/// An optimiser that updates named parameters from their gradients.
pub trait Optimizer: Sized {
    /// The hyper-parameters.
    type Config;

    /// An optimiser over `params`; parameters whose role is not trained (batch-norm running
    /// statistics) are left out, so they are never touched. Fails on an invalid configuration
    /// or duplicate parameter names.
    fn new(params: Vec<Param>, config: Self::Config) -> Result<Self>;

    /// One update from `grads`; parameters without a gradient are skipped (their state is
    /// left as it is).
    fn step(&mut self, grads: &GradStore) -> Result<()>;

    /// The current learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (schedules call this once per epoch or step).
    fn set_learning_rate(&mut self, lr: f64);

    /// Back-propagates `loss` and takes one step.
    fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// The optimiser's per-parameter state (copies), keyed by parameter name, for
    /// checkpoints.
    fn state(&self) -> Result<HashMap<String, Tensor>>;

    /// Restores state saved by [`state`](Self::state): every key must name a parameter of
    /// this optimiser with the parameter's shape; parameters absent from `state` start
    /// afresh. All problems are reported together.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}
