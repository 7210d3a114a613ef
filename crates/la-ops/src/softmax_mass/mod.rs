//! `neg_log_softmax_mass`: per row, minus the log of the softmax probability that falls on a
//! 0/1 mask, as one op with a closed-form backward pass.
//!
//! The CPU kernels (in `cpu`) make one pass per row (rows in parallel, sums in f64) instead of
//! a chain of tensor ops each allocating a (rows, k) tensor; other devices take the generic
//! path of `generic`. With `z_j = s_j / tau`, `e_j = exp(z_j - max z)`, `den = sum_j e_j`,
//! `num = sum_j m_j e_j`, `r = num / den`:
//!
//! ```text
//! L = -ln(r + eps)
//! dL/ds_j = e_j / (tau den) * (r - m_j) / (r + eps)
//! ```
//!
//! (from `dr/ds_j = e_j (m_j - r) / (tau den)`); a row without masked entries (`r = 0`, all
//! `m_j = 0`) has zero gradient.

mod cpu;
pub(crate) mod generic;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use crate::cpu::dispatch_float;
use crate::{OpError, check};

const OP: &str = "neg_log_softmax_mass";

/// For each row `i` of the logits `s` (rows, k; f32 or f64) and the 0/1 `mask` of the same
/// shape (any dtype, converted to `s`'s): `-ln(sum_j mask_ij softmax(s_i / temperature)_j +
/// eps)`, a (rows,) tensor, differentiable in `s` (not in the mask).
///
/// This is the Local Aggregation loss of each item (Zhuang, Zhai & Yamins 2019) given the
/// similarities to its background neighbours and the mask of the close ones. The softmax is
/// taken after subtracting each row's largest logit, so nothing overflows at any temperature;
/// a row whose mask is empty gives `-ln(eps)` with zero gradient. Fails, naming the op, for a
/// temperature that is not a finite number > 0 or an `eps` that is not a finite number >= 0.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let s = Tensor::new(&[[0f64, 0.], [1., 1.]], &Device::Cpu)?;
/// let mask = Tensor::new(&[[1f64, 0.], [1., 1.]], &Device::Cpu)?;
/// let loss = la_ops::neg_log_softmax_mass(&s, &mask, 1.0, 0.0)?;
/// let l = loss.to_vec1::<f64>()?;
/// assert!((l[0] - 2f64.ln()).abs() < 1e-12 && l[1].abs() < 1e-12);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn neg_log_softmax_mass(
    s: &Tensor,
    mask: &Tensor,
    temperature: f64,
    eps: f64,
) -> Result<Tensor> {
    let mask = validate(s, mask, temperature, eps)?;
    if s.device().is_cpu() {
        s.contiguous()?.apply_op2(
            &mask,
            SoftmaxMass {
                tau: temperature,
                eps,
            },
        )
    } else {
        generic::mass(s, &mask, temperature, eps)
    }
}

/// Checks the inputs; returns the mask in `s`'s dtype, contiguous.
fn validate(s: &Tensor, mask: &Tensor, temperature: f64, eps: f64) -> Result<Tensor> {
    check::float(OP, "logits", s)?;
    check::dims2(OP, "logits", s)?;
    check::shape_is(OP, "mask", mask, s.dims())?;
    check::same_device(OP, "mask", mask, s)?;
    let params = [
        (
            "temperature",
            temperature,
            temperature > 0.0,
            "a finite number > 0",
        ),
        ("eps", eps, eps >= 0.0, "a finite number >= 0"),
    ];
    for (param, value, ok, expected) in params {
        if !(ok && value.is_finite()) {
            return Err(OpError::Param {
                op: OP,
                param,
                got: value.to_string(),
                expected: expected.into(),
            }
            .into());
        }
    }
    mask.to_dtype(s.dtype())?.contiguous()
}

/// The forward op on (logits, mask).
struct SoftmaxMass {
    tau: f64,
    eps: f64,
}

impl CustomOp2 for SoftmaxMass {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        ls: &Layout,
        m: &CpuStorage,
        lm: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(
            OP,
            s,
            cpu::forward(OP, (s, ls), (m, lm), self.tau, self.eps)
        )?;
        Ok((out, Shape::from(ls.dims()[0])))
    }

    fn bwd(
        &self,
        s: &Tensor,
        m: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let back = SoftmaxMassBackward {
            tau: self.tau,
            eps: self.eps,
        };
        let grad_s = s.apply_op3_no_bwd(m, &grad.contiguous()?, &back)?;
        Ok((Some(grad_s), None))
    }
}

/// The backward op on (logits, mask, gradient of the row losses).
struct SoftmaxMassBackward {
    tau: f64,
    eps: f64,
}

impl CustomOp3 for SoftmaxMassBackward {
    fn name(&self) -> &'static str {
        "neg_log_softmax_mass_backward"
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        ls: &Layout,
        m: &CpuStorage,
        lm: &Layout,
        g: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(
            OP,
            s,
            cpu::backward(OP, (s, ls), (m, lm), (g, lg), self.tau, self.eps)
        )?;
        Ok((out, ls.shape().clone()))
    }
}
