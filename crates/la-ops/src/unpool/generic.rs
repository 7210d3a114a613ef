//! The max-unpool built from candle tensor ops only, for devices without la-ops kernels.

use candle_core::{Result, Tensor};

use crate::OpError;

/// [`max_unpool2d`](crate::max_unpool2d) from candle tensor ops: an `index_add` of the values
/// into a flat zero tensor at plane offset + index (its gradient is candle's `index_select`;
/// candle 0.11's `scatter_add` backward fails when the indices are smaller than the output).
/// Indices are checked against the plane first, which reads their maximum back from the device.
/// Slow on CUDA (candle's `index_add` kernel is serial along the indexed dimension); la-ops'
/// own kernels are used there.
pub fn max_unpool2d(xs: &Tensor, indices: &Tensor, output_hw: (usize, usize)) -> Result<Tensor> {
    crate::check::dims4(super::UNPOOL, "input", xs)?;
    super::check_indices(super::UNPOOL, xs, indices)?;
    scatter(xs, indices, output_hw)
}

/// The unpool once the inputs are validated.
pub(crate) fn scatter(xs: &Tensor, indices: &Tensor, output_hw: (usize, usize)) -> Result<Tensor> {
    let (n, c, h, w) = xs.dims4()?;
    let (oh, ow) = output_hw;
    let plane = oh * ow;
    let indices = indices.reshape((n, c, h * w))?;
    if indices.elem_count() > 0 {
        let flat = indices.flatten_all()?;
        let max = flat.max(0)?.to_scalar::<u32>()?;
        if max as usize >= plane {
            let position = flat.argmax(0)?.to_scalar::<u32>()? as usize;
            return Err(OpError::IndexOutOfRange {
                op: super::UNPOOL,
                index: max.into(),
                position,
                plane,
            }
            .into());
        }
    }
    if n * c * plane > u32::MAX as usize {
        return Err(OpError::Shape {
            op: super::UNPOOL,
            input: "input",
            got: xs.dims().to_vec(),
            expected: "fewer than 2^32 output elements on the generic path".into(),
        }
        .into());
    }
    let offsets: Vec<u32> = (0..n * c).map(|p| (p * plane) as u32).collect();
    let flat = Tensor::from_vec(offsets, (n, c, 1), xs.device())?
        .broadcast_add(&indices)?
        .flatten_all()?;
    Tensor::zeros(n * c * plane, xs.dtype(), xs.device())?
        .index_add(&flat, &xs.flatten_all()?, 0)?
        .reshape((n, c, oh, ow))
}
