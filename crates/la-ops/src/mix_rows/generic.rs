//! Row mixing built from candle tensor ops (and la-ops' row normalisation), for devices without
//! la-ops kernels.

use candle_core::{Result, Tensor};

/// [`mix_rows_in_place`](crate::mix_rows_in_place) by `index_select`, `affine`,
/// [`l2_normalize_rows`](crate::l2_normalize_rows) and `scatter_set`.
pub fn mix_rows_in_place(bank: &Tensor, rows: &[u32], v: &Tensor, mixing: f64) -> Result<()> {
    super::validate(bank, rows, v, mixing)?;
    mix(bank, rows, v, mixing)
}

/// The update once the inputs are validated.
pub(crate) fn mix(bank: &Tensor, rows: &[u32], v: &Tensor, mixing: f64) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let idx = Tensor::from_slice(rows, rows.len(), bank.device())?;
    let old = bank.index_select(&idx, 0)?;
    let mixed = (old.affine(1.0 - mixing, 0.0)? + v.detach().affine(mixing, 0.0)?)?;
    let new = crate::l2_normalize_rows(&mixed)?.contiguous()?;
    let idx = idx.unsqueeze(1)?.broadcast_as(new.shape())?.contiguous()?;
    bank.scatter_set(&idx, &new, 0)
}
