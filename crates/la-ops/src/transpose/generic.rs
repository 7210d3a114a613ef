//! The transpose built from candle tensor ops only, for devices and dtypes without the kernel.

use candle_core::{Result, Tensor};

/// [`transpose_contiguous`](crate::transpose_contiguous) as candle's `t()?.contiguous()`, any
/// dtype.
pub fn transpose_contiguous(x: &Tensor) -> Result<Tensor> {
    super::validate(x)?;
    transpose(x)
}

/// The transpose once the input is validated.
pub(crate) fn transpose(x: &Tensor) -> Result<Tensor> {
    x.t()?.contiguous()
}
