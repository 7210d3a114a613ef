//! CUDA kernels of row L2-normalisation: one warp per row.

use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::{CudaStorage, Layout, Result};

use crate::cuda::{GpuFloat, Module, alloc, device, func, grid_1d, launch, storage, view};

/// `y = x / max(|x|, eps)` for each `cols`-long row of the contiguous input.
pub(super) fn forward<T: GpuFloat>(
    op: &'static str,
    x: (&CudaStorage, &Layout),
    cols: usize,
    eps: f64,
) -> Result<CudaStorage> {
    let dev = device(x.0);
    let xs = view::<T>(op, x.0, x.1)?;
    let mut out = alloc::<T>(dev, xs.len())?;
    let rows = xs.len().checked_div(cols).unwrap_or(0);
    if rows > 0 {
        let eps = T::from_f64(eps);
        let f = func::<T>(dev, Module::Normalize, "l2_normalize")?;
        let mut b = f.builder();
        b.arg(&xs).arg(&mut out).arg(&rows).arg(&cols).arg(&eps);
        launch(&mut b, grid_1d(rows * 32))?;
    }
    Ok(storage(out, dev))
}

/// The input gradient given the input `x` and the output gradient `g`.
pub(super) fn backward<T: GpuFloat>(
    op: &'static str,
    x: (&CudaStorage, &Layout),
    g: (&CudaStorage, &Layout),
    cols: usize,
    eps: f64,
) -> Result<CudaStorage> {
    let dev = device(x.0);
    let xs = view::<T>(op, x.0, x.1)?;
    let gs = view::<T>(op, g.0, g.1)?;
    let mut out = alloc::<T>(dev, xs.len())?;
    let rows = xs.len().checked_div(cols).unwrap_or(0);
    if rows > 0 {
        let eps = T::from_f64(eps);
        let f = func::<T>(dev, Module::Normalize, "l2_normalize_backward")?;
        let mut b = f.builder();
        b.arg(&xs)
            .arg(&gs)
            .arg(&mut out)
            .arg(&rows)
            .arg(&cols)
            .arg(&eps);
        launch(&mut b, grid_1d(rows * 32))?;
    }
    Ok(storage(out, dev))
}
