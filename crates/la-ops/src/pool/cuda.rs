//! CUDA kernel of the max-pool forward pass: values and argmax indices in one sweep.

use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::{CudaStorage, Layout, Result, Shape, Tensor};

use super::OP;
use super::cpu::PoolGeometry;
use crate::cuda::{GpuFloat, Module, alloc, device, func, grid_1d, launch, storage, tensor, view};

/// The pooled values and the (u32) indices tensor, both of `shape`.
pub(super) fn forward<T: GpuFloat>(
    s: &CudaStorage,
    layout: &Layout,
    g: PoolGeometry,
    shape: &Shape,
) -> Result<(CudaStorage, Tensor)> {
    let dev = device(s);
    let x = view::<T>(OP, s, layout)?;
    let count = shape.elem_count();
    let mut values = alloc::<T>(dev, count)?;
    let mut indices = alloc::<u32>(dev, count)?;
    if count > 0 {
        let f = func::<T>(dev, Module::Pool, "max_pool2d")?;
        let ((h, w), (oh, ow)) = (g.in_hw, g.out_hw);
        let mut b = f.builder();
        b.arg(&x).arg(&mut values).arg(&mut indices);
        b.arg(&count).arg(&h).arg(&w).arg(&oh).arg(&ow);
        b.arg(&g.kernel).arg(&g.stride);
        launch(&mut b, grid_1d(count))?;
    }
    Ok((storage(values, dev), tensor(indices, dev, shape.clone())))
}
