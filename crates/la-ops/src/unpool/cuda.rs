//! CUDA kernels moving values between pooled planes and full planes through flat indices.
//! Both read back a flag after the kernel (one small device-to-host copy) so that an index
//! outside its plane is an error naming it, as on the CPU.

use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::{CudaStorage, Layout, Result};

use crate::cuda::{
    BadIndex, GpuFloat, Module, alloc, device, func, grid_1d, launch, storage, view,
};

/// `out[plane][idx[i]] += src[plane][i]` into zeroed planes of `out_plane` elements (atomic
/// adds, so repeated indices add up).
pub(super) fn scatter_add<T: GpuFloat>(
    op: &'static str,
    src: (&CudaStorage, &Layout),
    idx: (&CudaStorage, &Layout),
    out_plane: usize,
) -> Result<CudaStorage> {
    let dev = device(src.0);
    let x = view::<T>(op, src.0, src.1)?;
    let ids = view::<u32>(op, idx.0, idx.1)?;
    let d = src.1.dims();
    let (count, in_plane) = (x.len(), d[2] * d[3]);
    let planes = count.checked_div(in_plane).unwrap_or(0);
    let mut out = dev.alloc_zeros::<T>((planes * out_plane).max(1))?;
    if count > 0 {
        let mut bad = BadIndex::new(dev)?;
        let f = func::<T>(dev, Module::Unpool, "scatter_add_planes")?;
        let mut b = f.builder();
        b.arg(&x).arg(&ids).arg(&mut out);
        b.arg(&count).arg(&in_plane).arg(&out_plane).arg(bad.flag());
        launch(&mut b, grid_1d(count))?;
        drop(b);
        bad.check(dev, op, &ids, out_plane)?;
    }
    Ok(storage(out, dev))
}

/// `out[plane][i] = src[plane][idx[i]]` where `src` planes have `src_plane` elements.
pub(super) fn gather<T: GpuFloat>(
    op: &'static str,
    src: (&CudaStorage, &Layout),
    idx: (&CudaStorage, &Layout),
    src_plane: usize,
) -> Result<CudaStorage> {
    let dev = device(src.0);
    let x = view::<T>(op, src.0, src.1)?;
    let ids = view::<u32>(op, idx.0, idx.1)?;
    let d = idx.1.dims();
    let (count, out_plane) = (ids.len(), d[2] * d[3]);
    let mut out = alloc::<T>(dev, count)?;
    if count > 0 {
        let mut bad = BadIndex::new(dev)?;
        let f = func::<T>(dev, Module::Unpool, "gather_planes")?;
        let mut b = f.builder();
        b.arg(&x).arg(&ids).arg(&mut out);
        b.arg(&count)
            .arg(&out_plane)
            .arg(&src_plane)
            .arg(bad.flag());
        launch(&mut b, grid_1d(count))?;
        drop(b);
        bad.check(dev, op, &ids, src_plane)?;
    }
    Ok(storage(out, dev))
}
