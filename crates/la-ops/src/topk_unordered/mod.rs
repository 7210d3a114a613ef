//! `topk_unordered`: the k largest values of each row and where they are, in no particular
//! order.
//!
//! A sorted top-k spends most of its time sorting when k is a large part of the row (4096 of
//! 14,400 in Local Aggregation's background neighbours); a caller that does not care about the
//! order skips that. The CPU kernel (in `cpu`) is a radix selection; other devices take la-ops'
//! sorted [`topk`](crate::topk), whose result is one valid order.

mod cpu;
pub(crate) mod generic;

use candle_core::{CpuStorage, CustomOp1, D, Layout, Result, Shape, Tensor};

use crate::check;
use crate::cpu::dispatch_float;

const OP: &str = "topk_unordered";

/// The `k` largest values along the last dimension of `x` (f32 or f64, any rank >= 1) and
/// their positions in that dimension (u32); both have the shape of `x` with the last dimension
/// replaced by `k`.
///
/// On the CPU the positions come in increasing order, ties at the k-th value go to the lower
/// positions, and values rank by IEEE total order (a positive NaN above every number, a
/// negative one below, -0.0 below 0.0). Cost: two or three linear passes per row whatever the
/// data, rows in parallel. On other devices the result is [`topk`](crate::topk)'s (best
/// first).
///
/// The values carry a gradient (a gather of `x`); the positions do not. Fails, naming the op
/// and the shape, when `k` is 0 or exceeds the last dimension.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[3f32, 1., 4., 1., 5.], [2., 7., 1., 8., 2.]], &Device::Cpu)?;
/// let (values, positions) = la_ops::topk_unordered(&x, 2)?;
/// assert_eq!(positions.to_vec2::<u32>()?, [[2, 4], [1, 3]]);
/// assert_eq!(values.to_vec2::<f32>()?, [[4., 5.], [7., 8.]]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn topk_unordered(x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
    check::float(OP, "input", x)?;
    let cols = crate::topk::check_k(OP, x, k)?;
    if !x.device().is_cpu() {
        return crate::topk(x, k);
    }
    let x = x.contiguous()?;
    let indices = x.apply_op1_no_bwd(&Select { k, cols })?;
    let values = x.gather(&indices, D::Minus1)?;
    Ok((values, indices))
}

/// The selection as a candle op; its result is the positions.
struct Select {
    k: usize,
    cols: usize,
}

impl CustomOp1 for Select {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(
            OP,
            storage,
            cpu::select(OP, storage, layout, self.cols, self.k)
        )?;
        Ok((out, crate::topk::last_replaced(layout, self.k)))
    }
}
