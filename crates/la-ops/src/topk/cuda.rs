//! CUDA kernels of top-k: radix selection and collection, one block per row, then a bitonic
//! sort of the k best (in shared memory when a row's k fits, else one launch per stage).

use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
use candle_core::{CudaStorage, Layout, Result};

use crate::cuda::{
    GpuFloat, Module, alloc, device, func, grid_1d, launch, plain_func, storage, view,
};

/// Shared memory a row's (key, index) pairs may use in the one-block sort.
const SHARED_SORT_BYTES: usize = 32 << 10;

/// Elements each thread of the select kernel loads per step (`UNROLL` in topk.cu).
const UNROLL: usize = 8;

/// The indices (u32, `rows x k`, best first) of the `k` largest elements of each `cols`-long row
/// of the contiguous input.
pub(super) fn topk_indices<T: GpuFloat>(
    op: &'static str,
    x: (&CudaStorage, &Layout),
    cols: usize,
    k: usize,
) -> Result<CudaStorage> {
    let dev = device(x.0);
    let xs = view::<T>(op, x.0, x.1)?;
    let rows = xs.len().checked_div(cols).unwrap_or(0);
    let mut out = alloc::<u32>(dev, rows * k)?;
    if rows == 0 {
        return Ok(storage(out, dev));
    }
    // Each row's k best go to p slots, p a power of two for the bitonic network.
    let p = k.next_power_of_two();
    let mut keys = alloc::<T::Key>(dev, rows * p)?;
    let mut ids = alloc::<u32>(dev, rows * p)?;
    {
        let f = func::<T>(dev, Module::TopK, "topk_select")?;
        let threads = cols.div_ceil(UNROLL).next_multiple_of(32).clamp(64, 1024);
        let mut b = f.builder();
        b.arg(&xs).arg(&rows).arg(&cols).arg(&k).arg(&p);
        b.arg(&mut keys).arg(&mut ids);
        launch(&mut b, rows_grid(rows, threads, 0))?;
    }
    let pair_bytes = p * (size_of::<T::Key>() + size_of::<u32>());
    if pair_bytes <= SHARED_SORT_BYTES {
        let f = func::<T>(dev, Module::TopK, "topk_sort_shared")?;
        let threads = (p / 2).next_multiple_of(32).clamp(32, 1024);
        let mut b = f.builder();
        b.arg(&keys)
            .arg(&ids)
            .arg(&rows)
            .arg(&p)
            .arg(&k)
            .arg(&mut out);
        launch(&mut b, rows_grid(rows, threads, pair_bytes))?;
    } else {
        let f = func::<T>(dev, Module::TopK, "topk_sort_step")?;
        let mut size = 2;
        while size <= p {
            let mut stride = size / 2;
            while stride > 0 {
                let mut b = f.builder();
                b.arg(&mut keys).arg(&mut ids).arg(&rows).arg(&p);
                b.arg(&size).arg(&stride);
                launch(&mut b, grid_1d(rows * p / 2))?;
                stride /= 2;
            }
            size *= 2;
        }
        let f = plain_func(dev, Module::TopK, "topk_write")?;
        let mut b = f.builder();
        b.arg(&ids).arg(&rows).arg(&p).arg(&k).arg(&mut out);
        launch(&mut b, grid_1d(rows * k))?;
    }
    Ok(storage(out, dev))
}

/// One block of `threads` per row (rows beyond the grid are walked by the blocks).
fn rows_grid(rows: usize, threads: usize, shared: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows.clamp(1, 1 << 20) as u32, 1, 1),
        block_dim: (threads as u32, 1, 1),
        shared_mem_bytes: shared as u32,
    }
}
