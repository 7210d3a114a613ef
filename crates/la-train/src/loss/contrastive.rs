//! The normalised-temperature cross-entropy of two augmented views (SimCLR; Chen et al. 2020):
//! each view must pick out the other view of its image among every other view of the batch.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::{LossOutput, check_temperature, mean};
use crate::{Error, Result};

/// The contrastive loss of a batch of `B` images seen twice: for the `2B` unit embeddings
/// (the first views, then the second views, in the same image order),
///
/// ```text
/// L_i = -log( exp(z_i.z_p(i) / tau) / sum_{k != i} exp(z_i.z_k / tau) ),
/// ```
///
/// `p(i)` being the other view of `i`'s image, averaged over the `2B` views. The other
/// images of the batch are the negatives: no memory bank, so nothing goes stale between
/// epochs, which suits small data sets. Computed in log space.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use la_train::ContrastiveLoss;
/// // Two images, each view equal to its partner: the loss is -log(e^(1/tau) / (e^(1/tau) + 2 e^(0))).
/// let z = Tensor::new(&[[1f32, 0.], [0., 1.], [1., 0.], [0., 1.]], &Device::Cpu)?;
/// let out = ContrastiveLoss { temperature: 0.5 }.forward(&z)?;
/// let expected = -(2f32.exp() / (2f32.exp() + 2.0)).ln();
/// assert!((out.loss.to_scalar::<f32>()? - expected).abs() < 1e-6);
/// # Ok::<(), la_train::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContrastiveLoss {
    /// The temperature tau (> 0). By default, 0.2.
    pub temperature: f64,
}

impl Default for ContrastiveLoss {
    fn default() -> Self {
        Self { temperature: 0.2 }
    }
}

impl ContrastiveLoss {
    /// The loss of `z` (2B x D, unit rows): rows `0..B` are the first views, rows `B..2B` the
    /// second views of the same images.
    pub fn forward(&self, z: &Tensor) -> Result<LossOutput> {
        check_temperature(self.temperature)?;
        let (rows, _) = z
            .dims2()
            .map_err(|_| Error::shape("views", z, "(2B, D)".into()))?;
        if rows < 4 || rows % 2 != 0 {
            return Err(Error::shape(
                "views",
                z,
                "an even number of rows, at least 4 (two views of two images or more)".into(),
            ));
        }
        let b = rows / 2;
        let device = z.device();
        let logits = z.matmul(&z.t()?)?.affine(1.0 / self.temperature, 0.0)?;
        // A view is not its own negative: its logit sinks far below the others.
        let own = (Tensor::eye(rows, DType::F32, device)?.to_dtype(z.dtype())? * 1e4)?;
        let logits = logits.broadcast_sub(&own)?;
        let shift = logits.max_keepdim(1)?.detach();
        let log_sum = (logits.broadcast_sub(&shift)?.exp()?.sum_keepdim(1)?.log()? + shift)?;
        let partner: Vec<u32> = (0..rows).map(|i| ((i + b) % rows) as u32).collect();
        let partner = Tensor::from_vec(partner, (rows, 1), device)?;
        let per_view = (log_sum - logits.gather(&partner, 1)?)?.squeeze(1)?;
        mean(per_view)
    }
}
