//! Top-k built from candle tensor ops only, for devices without la-ops kernels.

use candle_core::{D, Result, Tensor};

/// [`topk`](crate::topk) through candle's `arg_sort_last_dim`: the same values and, except among
/// equal values (whose order is then the device sort's), the same indices. candle's sorts work
/// in one block of shared memory per row, so rows are limited to what the device's sort kernel
/// takes (a few thousand columns on GPUs).
pub fn topk(x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
    crate::check::float(super::OP, "input", x)?;
    super::check_k(super::OP, x, k)?;
    select(x, k)
}

/// The selection once the input and `k` are validated.
pub(crate) fn select(x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
    let x = x.contiguous()?;
    let indices = x
        .arg_sort_last_dim(false)?
        .narrow(D::Minus1, 0, k)?
        .contiguous()?;
    let values = x.gather(&indices, D::Minus1)?;
    Ok((values, indices))
}
