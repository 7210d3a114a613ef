//! Unordered top-k built from candle tensor ops only, for devices without la-ops kernels.

use candle_core::{Result, Tensor};

/// [`topk_unordered`](crate::topk_unordered) through candle's `arg_sort_last_dim`: the same
/// values and positions as a set (except among equal values), best first instead of in
/// increasing position, as [`generic::topk`](crate::generic::topk).
pub fn topk_unordered(x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
    crate::check::float(super::OP, "input", x)?;
    crate::topk::check_k(super::OP, x, k)?;
    crate::topk::generic::select(x, k)
}
