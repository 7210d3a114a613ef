//! The masked softmax mass built from candle tensor ops only, for devices without la-ops
//! kernels.

use candle_core::{Result, Tensor};

/// [`neg_log_softmax_mass`](crate::neg_log_softmax_mass) from candle tensor ops (differentiable
/// through candle's autograd).
pub fn neg_log_softmax_mass(
    s: &Tensor,
    mask: &Tensor,
    temperature: f64,
    eps: f64,
) -> Result<Tensor> {
    let mask = super::validate(s, mask, temperature, eps)?;
    mass(s, &mask, temperature, eps)
}

/// The row losses once the inputs are validated (`mask` in `s`'s dtype).
pub(crate) fn mass(s: &Tensor, mask: &Tensor, tau: f64, eps: f64) -> Result<Tensor> {
    let z = s.affine(1.0 / tau, 0.0)?;
    let e = z.broadcast_sub(&z.max_keepdim(1)?.detach())?.exp()?;
    let all = e.sum_keepdim(1)?;
    let close = (&e * mask)?.sum_keepdim(1)?;
    (close / all)?.affine(1.0, eps)?.log()?.neg()?.squeeze(1)
}
