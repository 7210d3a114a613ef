//! Row L2-normalisation built from candle tensor ops only, for devices without la-ops kernels.

use candle_core::{D, Result, Tensor};

/// [`l2_normalize_rows`](crate::l2_normalize_rows) from candle tensor ops (differentiable
/// through candle's autograd; the gradient at rows below the norm floor is candle's, zero
/// through the floor, instead of `g / 1e-12`).
pub fn l2_normalize_rows(x: &Tensor) -> Result<Tensor> {
    super::validate(x)?;
    normalize(x)
}

/// The normalisation once the input is validated.
pub(crate) fn normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .maximum(super::EPS)?;
    x.broadcast_div(&norm)
}
