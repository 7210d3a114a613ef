//! Contrastive learning of two views (SimCLR's loss): no state between steps.

use std::collections::HashMap;

use candle_core::Tensor;
use la_segnet::Embedder;

use super::Objective;
use crate::data::RunData;
use crate::monitor::Monitor;
use crate::trainer::Position;
use crate::{ContrastiveLoss, Result};

/// Each image is seen twice per step, differently augmented; each view must pick out its
/// partner among all views of the batch ([`ContrastiveLoss`]).
#[derive(Debug, Clone)]
pub struct Contrastive {
    loss: ContrastiveLoss,
}

impl Contrastive {
    /// The objective with `loss`'s temperature.
    pub fn new(loss: ContrastiveLoss) -> Self {
        Contrastive { loss }
    }
}

impl Objective for Contrastive {
    fn views(&self) -> usize {
        2
    }

    fn start(
        &mut self,
        _embedder: &Embedder,
        _data: &RunData,
        _resume: Option<&HashMap<String, Tensor>>,
        _monitor: &mut dyn Monitor,
    ) -> Result<()> {
        Ok(())
    }

    fn loss(
        &mut self,
        v: &Tensor,
        _items: &[u32],
        _at: Position,
        _monitor: &mut dyn Monitor,
    ) -> Result<Tensor> {
        Ok(self.loss.forward(v)?.loss)
    }

    fn state(&self) -> Result<HashMap<String, Tensor>> {
        Ok(HashMap::new())
    }
}
