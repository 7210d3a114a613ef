//! The Local Aggregation loss and the instance-recognition loss, against a memory bank whose
//! rows are constants: the gradient flows only into the embeddings.

mod contrastive;

pub use contrastive::ContrastiveLoss;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::close_neighbours::Clusterings;
use crate::memory_bank::{Background, MemoryBank, check_items};
use crate::{Error, Result};

/// A batch loss: the mean (a scalar that carries the gradient) and each item's term.
#[derive(Debug, Clone)]
pub struct LossOutput {
    /// The mean over the batch, differentiable with respect to the embeddings.
    pub loss: Tensor,
    /// Each item's loss (batch), differentiable too.
    pub per_item: Tensor,
}

/// The Local Aggregation loss (Zhuang, Zhai & Yamins 2019) for embedding `v_i` of item `i`:
///
/// ```text
/// L_i = -log( sum_{j in C_i and B_i} exp(v_j.v_i / tau) / sum_{j in B_i} exp(v_j.v_i / tau) + epsilon )
/// ```
///
/// with `v_j` the bank rows (constants), `B_i` the `background` nearest bank rows to `v_i`
/// ([`MemoryBank::background_neighbours`], `i`'s own row included) and `C_i` the close
/// neighbours of `i` ([`Clusterings`]), averaged over the batch.
///
/// As in the reference (`get_LA_loss` in `model/instance_model.py` of
/// neuroailab/LocalAggregation, `LocalAggregationLossModule.forward` in
/// `src/objectives/localagg.py` of LocalAggregation-Pytorch): the numerator runs over the
/// background neighbours that are close (a mask over `B_i`, not over all of `C_i`), and
/// `epsilon` (1e-7 there) is added to the ratio before the logarithm, so an item whose
/// background holds no close neighbour contributes `-log(epsilon)` (about 16.1) with zero
/// gradient instead of infinity. Both sums are taken after subtracting the row's largest
/// logit (the log-sum-exp shift), so nothing overflows for any temperature; the ratio lies in
/// [0, 1].
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use la_train::{Clusterings, LocalAggregationLoss, MemoryBank};
/// let dev = Device::Cpu;
/// let bank = MemoryBank::from_embeddings(&Tensor::new(&[[1f32, 0.], [0.8, 0.6], [0., 1.], [-1., 0.]], &dev)?)?;
/// let clusters = Clusterings::new(vec![vec![0, 0, 1, 1]])?;
/// let v = Var::new(&[[1f32, 0.]], &dev)?; // item 0
/// let la = LocalAggregationLoss { background: 2, ..Default::default() };
/// let out = la.forward(v.as_tensor(), &[0], &bank, &clusters)?;
/// // B_0 = {0, 1} are both close to 0: the ratio is 1.
/// assert!(out.loss.to_scalar::<f32>()?.abs() < 1e-6);
/// assert!(out.loss.backward()?.get(v.as_tensor()).is_some());
/// # Ok::<(), la_train::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalAggregationLoss {
    /// The temperature tau (> 0). By default, 0.07 (the paper's).
    pub temperature: f64,
    /// The number of background neighbours k (>= 1; capped at N - 1). By default, 4096 (the
    /// paper's).
    pub background: usize,
    /// Added to the probability ratio before the logarithm (> 0). By default, 1e-7 (the
    /// reference code's).
    pub epsilon: f64,
}

impl Default for LocalAggregationLoss {
    fn default() -> Self {
        Self {
            temperature: 0.07,
            background: 4096,
            epsilon: 1e-7,
        }
    }
}

impl LocalAggregationLoss {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        check_temperature(self.temperature)?;
        if self.background == 0 {
            return Err(Error::config("la.background", 0, "at least 1"));
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::config(
                "la.epsilon",
                self.epsilon,
                "a finite number > 0",
            ));
        }
        Ok(())
    }

    /// The loss of the embeddings `v` (batch x D, unit rows, the bank's dtype) of the items
    /// `items` (one per row).
    pub fn forward(
        &self,
        v: &Tensor,
        items: &[u32],
        bank: &MemoryBank,
        clusterings: &Clusterings,
    ) -> Result<LossOutput> {
        self.check()?;
        check_inputs(v, items, bank)?;
        if clusterings.n_items() != bank.len() {
            return Err(Error::config(
                "clusterings",
                format!("{} items", clusterings.n_items()),
                &format!("{} items, as the memory bank", bank.len()),
            ));
        }
        let background = bank.background_neighbours(v, self.background)?;
        let mask = clusterings.close_mask(items, &background)?;
        self.forward_with(v, bank, &background, &mask)
    }

    /// The loss given the background neighbours of `v` (found in the current `bank`) and the
    /// (batch, k) 0/1 mask of the close ones among them: the steps of
    /// [`forward`](Self::forward) after the neighbour search.
    pub fn forward_with(
        &self,
        v: &Tensor,
        bank: &MemoryBank,
        background: &Background,
        close: &Tensor,
    ) -> Result<LossOutput> {
        let s = la_ops::bank_dots(
            v,
            bank.tensor(),
            Some(&background.indices),
            &background.similarities,
        )?;
        if close.dims() != s.dims() {
            let expected = format!("{:?}, as the background neighbours", s.dims());
            return Err(Error::shape("close-neighbour mask", close, expected));
        }
        let per_item = la_ops::neg_log_softmax_mass(&s, close, self.temperature, self.epsilon)?;
        mean(per_item)
    }
}

/// The instance-recognition loss used for warm-up (Wu et al. 2018, the non-parametric softmax
/// of their equation 2): `L_i = -log( exp(v_i.bank_i / tau) / sum_j exp(v_i.bank_j / tau) )`
/// over the whole bank, averaged over the batch, computed by log-sum-exp.
///
/// The reference code (`InstanceDiscriminationLossModule` in `src/objectives/instance.py` of
/// LocalAggregation-Pytorch, `get_IR_losses` in `model/instance_model.py`) approximates this
/// softmax by noise-contrastive estimation with 4096 random noise rows and a constant
/// partition function; with banks of tens of thousands of rows the exact softmax costs one
/// matrix product, which the background search does anyway, so it is used instead.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use la_train::{InstanceLoss, MemoryBank};
/// let bank = MemoryBank::from_embeddings(&Tensor::new(&[[1f32, 0.], [0., 1.]], &Device::Cpu)?)?;
/// let v = Tensor::new(&[[1f32, 0.]], &Device::Cpu)?;
/// let out = InstanceLoss { temperature: 1.0 }.forward(&v, &[0], &bank)?;
/// let expected = -(1f32.exp() / (1f32.exp() + 1.)).ln();
/// assert!((out.loss.to_scalar::<f32>()? - expected).abs() < 1e-6);
/// # Ok::<(), la_train::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceLoss {
    /// The temperature tau (> 0). By default, 0.07 (the paper's).
    pub temperature: f64,
}

impl Default for InstanceLoss {
    fn default() -> Self {
        Self { temperature: 0.07 }
    }
}

impl InstanceLoss {
    /// The loss of the embeddings `v` (batch x D, unit rows, the bank's dtype) of the items
    /// `items` (one per row).
    pub fn forward(&self, v: &Tensor, items: &[u32], bank: &MemoryBank) -> Result<LossOutput> {
        check_temperature(self.temperature)?;
        check_inputs(v, items, bank)?;
        let s = la_ops::bank_dots(v, bank.tensor(), None, &bank.similarities(v)?)?;
        let z = s.affine(1.0 / self.temperature, 0.0)?;
        let shift = z.max_keepdim(1)?.detach();
        let log_sum = (z.broadcast_sub(&shift)?.exp()?.sum_keepdim(1)?.log()? + shift)?;
        let own = Tensor::from_slice(items, (items.len(), 1), v.device())?;
        let per_item = (log_sum - z.gather(&own, 1)?)?.squeeze(1)?;
        mean(per_item)
    }
}

/// Checks that `v` has one unit-row embedding per item and the items are bank rows.
fn check_inputs(v: &Tensor, items: &[u32], bank: &MemoryBank) -> Result<()> {
    bank.check_batch(v, items.len())?;
    check_items(items, bank.len(), "items")
}

/// Fails unless `t` is a positive finite temperature.
fn check_temperature(t: f64) -> Result<()> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(Error::config("temperature", t, "a finite number > 0"))
    }
}

/// The batch mean beside the per-item terms.
fn mean(per_item: Tensor) -> Result<LossOutput> {
    Ok(LossOutput {
        loss: per_item.mean_all()?,
        per_item,
    })
}
