//! The matrix product as candle's matmul, for devices and dtypes without the kernel.

use candle_core::{Result, Tensor};

/// [`matmul`](crate::matmul) as candle's `matmul`, any dtype and device.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    super::validate(a, b)?;
    product(a, b)
}

/// The product once the operands are validated.
pub(crate) fn product(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.matmul(b)
}
