//! The stride-1 convolutions built from candle tensor ops only (candle's own `conv2d` and
//! `conv_transpose2d`, with candle's autograd), for devices without la-ops kernels.

use candle_core::{Result, Tensor};

use super::{check_conv, check_conv_transpose, check_weight_grad};

/// [`conv2d`](crate::conv2d) through candle's `conv2d` and a broadcast bias.
pub fn conv2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<Tensor> {
    check_conv(xs, weight, bias)?;
    conv(xs, weight, bias, padding)
}

/// [`conv_transpose2d`](crate::conv_transpose2d) through candle's `conv_transpose2d`.
pub fn conv_transpose2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<Tensor> {
    check_conv_transpose(xs, weight, bias, padding)?;
    conv_transpose(xs, weight, bias, padding)
}

/// [`conv2d_weight_grad`](crate::conv2d_weight_grad) as candle's `conv2d` of the input and the
/// output gradient with batch and channels swapped.
pub fn conv2d_weight_grad(
    xs: &Tensor,
    grad: &Tensor,
    kernel_hw: (usize, usize),
    padding: usize,
) -> Result<Tensor> {
    check_weight_grad(xs, grad, kernel_hw, padding)?;
    filter_grad(xs, grad, padding)
}

pub(crate) fn conv(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<Tensor> {
    with_bias(xs.conv2d(weight, padding, 1, 1, 1)?, bias)
}

pub(crate) fn conv_transpose(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<Tensor> {
    with_bias(xs.conv_transpose2d(weight, padding, 0, 1, 1)?, bias)
}

/// dW[co, ci] = sum over images and positions of x[ci] shifted times grad[co]: the convolution
/// of x^T (C_in, N, H, W) with grad^T (C_out, N, H', W') as kernel, transposed back.
pub(crate) fn filter_grad(xs: &Tensor, grad: &Tensor, padding: usize) -> Result<Tensor> {
    let x = xs.transpose(0, 1)?.contiguous()?;
    let g = grad.transpose(0, 1)?.contiguous()?;
    x.conv2d(&g, padding, 1, 1, 1)?
        .transpose(0, 1)?
        .contiguous()
}

fn with_bias(ys: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) => ys.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
        None => Ok(ys),
    }
}
