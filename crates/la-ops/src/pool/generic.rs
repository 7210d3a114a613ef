//! The max-pool built from candle tensor ops only, for devices without la-ops kernels.

use candle_core::{D, DType, Result, Tensor};

use super::cpu::PoolGeometry;

/// [`max_pool2d_with_indices`](crate::max_pool2d_with_indices) from candle tensor ops: every
/// window's candidates are gathered, the argmax picks the index and the values are gathered at
/// it (so the gradient flows to the argmax only). Which of equal maxima wins follows candle's
/// `argmax` on the device (the first on the CPU).
pub fn max_pool2d_with_indices(
    xs: &Tensor,
    kernel: usize,
    stride: usize,
) -> Result<(Tensor, Tensor)> {
    pool(xs, super::validate(xs, kernel, stride)?)
}

/// The pool once the geometry is validated.
pub(crate) fn pool(xs: &Tensor, g: PoolGeometry) -> Result<(Tensor, Tensor)> {
    let (n, c, h, w) = xs.dims4()?;
    let (oh, ow) = g.out_hw;
    let taps = g.kernel * g.kernel;
    // The flat input position of every (window offset, output position) pair.
    let mut positions = Vec::with_capacity(taps * oh * ow);
    for i in 0..g.kernel {
        for j in 0..g.kernel {
            for r in 0..oh {
                for col in 0..ow {
                    positions.push(((r * g.stride + i) * w + col * g.stride + j) as u32);
                }
            }
        }
    }
    let positions = Tensor::from_vec(positions, (1, 1, taps, oh * ow), xs.device())?
        .broadcast_as((n, c, taps, oh * ow))?
        .contiguous()?;
    let flat = xs.reshape((n, c, h * w))?;
    let candidates = flat
        .detach()
        .gather(&positions.reshape((n, c, taps * oh * ow))?, D::Minus1)?
        .reshape((n, c, taps, oh * ow))?;
    let best = candidates.argmax_keepdim(2)?;
    let indices = positions.gather(&best, 2)?.reshape((n, c, oh * ow))?;
    let values = flat.gather(&indices, D::Minus1)?.reshape((n, c, oh, ow))?;
    debug_assert_eq!(indices.dtype(), DType::U32);
    Ok((values, indices.reshape((n, c, oh, ow))?))
}
