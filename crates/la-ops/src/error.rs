//! The one error type of la-ops.

use candle_core::DType;

/// What went wrong in an la-ops operation.
///
/// The public functions return `candle_core::Result` so that they compose with candle's own
/// ops and autograd; an `OpError` becomes the message of the returned `candle_core::Error`
/// (candle keeps wrapped errors as text), naming the operation, the offending input and what
/// was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// An input has the wrong shape.
    #[error("{op}: {input} has shape {got:?}, expected {expected}")]
    Shape {
        /// The operation.
        op: &'static str,
        /// Which input.
        input: &'static str,
        /// Its actual dimensions.
        got: Vec<usize>,
        /// What was expected, in words.
        expected: String,
    },
    /// An input has a dtype the operation does not support.
    #[error("{op}: {input} has dtype {got:?}, expected {expected}")]
    DType {
        /// The operation.
        op: &'static str,
        /// Which input.
        input: &'static str,
        /// Its actual dtype.
        got: DType,
        /// The accepted dtypes, in words.
        expected: &'static str,
    },
    /// Two inputs live on different devices.
    #[error("{op}: {input} is on {got}, but the other inputs are on {expected}")]
    Device {
        /// The operation.
        op: &'static str,
        /// Which input.
        input: &'static str,
        /// Its device.
        got: String,
        /// The device of the first input.
        expected: String,
    },
    /// An index points outside the plane it addresses.
    #[error(
        "{op}: index {index} at flat position {position} is outside the output plane of {plane} elements"
    )]
    IndexOutOfRange {
        /// The operation.
        op: &'static str,
        /// The bad index.
        index: u64,
        /// Where it was found in the index tensor (flat, row-major).
        position: usize,
        /// The number of elements of one output plane.
        plane: usize,
    },
    /// A scalar parameter is out of its range.
    #[error("{op}: {param} = {got}, expected {expected}")]
    Param {
        /// The operation.
        op: &'static str,
        /// The parameter's name.
        param: &'static str,
        /// Its value, formatted.
        got: String,
        /// The valid range, in words.
        expected: String,
    },
}

impl From<OpError> for candle_core::Error {
    fn from(e: OpError) -> Self {
        candle_core::Error::wrap(e)
    }
}
