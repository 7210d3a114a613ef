//! Bank dot products built from candle tensor ops only, for devices without la-ops kernels.

use candle_core::{Result, Tensor};

/// [`bank_dots`](crate::bank_dots) by candle's matmul: the products are recomputed from `v`
/// and the (detached) bank rather than taken from `values` (correct, not economical).
pub fn bank_dots(
    v: &Tensor,
    bank: &Tensor,
    columns: Option<&Tensor>,
    values: &Tensor,
) -> Result<Tensor> {
    super::validate(v, bank, columns, values)?;
    recompute(v, bank, columns)
}

/// `v @ bank^T`, gathered at `columns`, once the inputs are validated.
pub(crate) fn recompute(v: &Tensor, bank: &Tensor, columns: Option<&Tensor>) -> Result<Tensor> {
    let all = v.matmul(&bank.detach().t()?)?;
    match columns {
        Some(idx) => all.gather(idx, 1),
        None => Ok(all),
    }
}
