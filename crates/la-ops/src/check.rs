//! Input validation shared by every op: shapes, dtypes and devices are checked before any
//! kernel runs, so that a mistake is an error naming the op and the input, never a panic.

use candle_core::{DType, Result, Tensor};

use crate::OpError;

/// The four dimensions of an (N, C, H, W) tensor.
pub(crate) fn dims4(op: &'static str, input: &'static str, t: &Tensor) -> Result<[usize; 4]> {
    match t.dims() {
        &[n, c, h, w] => Ok([n, c, h, w]),
        d => Err(OpError::Shape {
            op,
            input,
            got: d.to_vec(),
            expected: "a 4-d tensor (N, C, H, W)".into(),
        }
        .into()),
    }
}

/// The two dimensions of a (rows, cols) matrix.
pub(crate) fn dims2(op: &'static str, input: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    match t.dims() {
        &[r, c] => Ok((r, c)),
        d => Err(OpError::Shape {
            op,
            input,
            got: d.to_vec(),
            expected: "a matrix (rows, cols)".into(),
        }
        .into()),
    }
}

/// Fails unless `t` has exactly the dimensions `expected`.
pub(crate) fn shape_is(
    op: &'static str,
    input: &'static str,
    t: &Tensor,
    expected: &[usize],
) -> Result<()> {
    if t.dims() == expected {
        return Ok(());
    }
    Err(OpError::Shape {
        op,
        input,
        got: t.dims().to_vec(),
        expected: format!("{expected:?}"),
    }
    .into())
}

/// Fails unless `t` is f32 or f64, the dtypes every kernel is written for.
pub(crate) fn float(op: &'static str, input: &'static str, t: &Tensor) -> Result<()> {
    match t.dtype() {
        DType::F32 | DType::F64 => Ok(()),
        got => Err(OpError::DType {
            op,
            input,
            got,
            expected: "f32 or f64",
        }
        .into()),
    }
}

/// Fails unless `t` has the dtype `expected`.
pub(crate) fn dtype_is(
    op: &'static str,
    input: &'static str,
    t: &Tensor,
    expected: DType,
    in_words: &'static str,
) -> Result<()> {
    if t.dtype() == expected {
        return Ok(());
    }
    Err(OpError::DType {
        op,
        input,
        got: t.dtype(),
        expected: in_words,
    }
    .into())
}

/// Fails unless `t` lives on the same device as `reference`.
pub(crate) fn same_device(
    op: &'static str,
    input: &'static str,
    t: &Tensor,
    reference: &Tensor,
) -> Result<()> {
    if t.device().same_device(reference.device()) {
        return Ok(());
    }
    Err(OpError::Device {
        op,
        input,
        got: format!("{:?}", t.device().location()),
        expected: format!("{:?}", reference.device().location()),
    }
    .into())
}

/// Fails unless `value` is at least one.
pub(crate) fn positive(op: &'static str, param: &'static str, value: usize) -> Result<()> {
    if value >= 1 {
        return Ok(());
    }
    Err(OpError::Param {
        op,
        param,
        got: value.to_string(),
        expected: "at least 1".into(),
    }
    .into())
}
