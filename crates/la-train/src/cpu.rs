//! Plumbing of the CPU kernels: typed access to candle's CPU storage.

use candle_core::{CpuStorage, Layout, Result, WithDType};

/// The elements of a contiguous tensor as a slice; callers make their inputs contiguous, so a
/// strided layout is an internal error.
pub(crate) fn slice<'a, T: WithDType>(
    op: &'static str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<&'a [T]> {
    let data = storage.as_slice::<T>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: internal error, the kernel received a strided input"),
    }
}

/// The float types of the kernels, with the exponential in their own precision (f32's is
/// about twice as fast as f64's).
pub(crate) trait Float: WithDType {
    fn exp(self) -> Self;
}

impl Float for f32 {
    fn exp(self) -> Self {
        f32::exp(self)
    }
}

impl Float for f64 {
    fn exp(self) -> Self {
        f64::exp(self)
    }
}

/// Runs `$f::<T>` for the float dtype (f32 or f64) of `$storage`, or fails naming the op.
macro_rules! dispatch_float {
    ($op:expr, $storage:expr, $f:ident ( $($arg:expr),* )) => {
        match $storage {
            candle_core::CpuStorage::F32(_) => $f::<f32>($($arg),*),
            candle_core::CpuStorage::F64(_) => $f::<f64>($($arg),*),
            s => candle_core::bail!(
                "{}: unsupported dtype {:?}, expected f32 or f64",
                $op,
                candle_core::backend::BackendStorage::dtype(s)
            ),
        }
    };
}
pub(crate) use dispatch_float;
