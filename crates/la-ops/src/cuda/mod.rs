//! Plumbing shared by the CUDA kernels (feature `cuda`): the PTX modules built by `build.rs`,
//! typed access to candle's CUDA storage, launch shapes, device tensors and the check of the
//! index kernels' out-of-range flag.

mod gemm;

use candle_core::backend::BackendStorage;
use std::sync::Arc;

use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaSlice, CudaStream, CudaView, DeviceRepr, LaunchArgs, LaunchConfig,
    ValidAsZeroBits,
};
use candle_core::cuda_backend::{CudaDType, CudaDevice, WrapErr};
use candle_core::op::BackpropOp;
use candle_core::{CudaStorage, Layout, Result, Shape, Storage, Tensor, WithDType};

use crate::OpError;
pub(crate) use gemm::{Gemm, gemm};

/// One PTX module per kernel source file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Module {
    BatchNorm,
    Conv,
    Normalize,
    Pool,
    TopK,
    Unpool,
}

impl Module {
    fn name(self) -> &'static str {
        match self {
            Module::BatchNorm => "la_ops_batch_norm",
            Module::Conv => "la_ops_conv",
            Module::Normalize => "la_ops_normalize",
            Module::Pool => "la_ops_pool",
            Module::TopK => "la_ops_topk",
            Module::Unpool => "la_ops_unpool",
        }
    }

    fn ptx(self) -> &'static str {
        match self {
            Module::BatchNorm => include_str!(concat!(env!("OUT_DIR"), "/batch_norm.ptx")),
            Module::Conv => include_str!(concat!(env!("OUT_DIR"), "/conv.ptx")),
            Module::Normalize => include_str!(concat!(env!("OUT_DIR"), "/normalize.ptx")),
            Module::Pool => include_str!(concat!(env!("OUT_DIR"), "/pool.ptx")),
            Module::TopK => include_str!(concat!(env!("OUT_DIR"), "/topk.ptx")),
            Module::Unpool => include_str!(concat!(env!("OUT_DIR"), "/unpool.ptx")),
        }
    }
}

/// The element types of the CUDA kernels; each kernel `name` exists as `name_f32` and
/// `name_f64`.
pub(crate) trait GpuFloat: WithDType + CudaDType + DeviceRepr + ValidAsZeroBits {
    /// The suffix of the kernels' names.
    const SUFFIX: &'static str;
    /// The unsigned integer of the same width, in which top-k ranks the values.
    type Key: DeviceRepr + ValidAsZeroBits;
}

impl GpuFloat for f32 {
    const SUFFIX: &'static str = "f32";
    type Key = u32;
}

impl GpuFloat for f64 {
    const SUFFIX: &'static str = "f64";
    type Key = u64;
}

/// A loaded kernel and the stream (candle's) it runs on.
pub(crate) struct Kernel {
    func: CudaFunction,
    stream: Arc<CudaStream>,
}

impl Kernel {
    /// A launch of the kernel; arguments go in the order of its C signature.
    pub fn builder(&self) -> LaunchArgs<'_> {
        self.stream.launch_builder(&self.func)
    }
}

/// The kernel `name` for element type `T`, loaded (once per device) from `module`.
pub(crate) fn func<T: GpuFloat>(dev: &CudaDevice, module: Module, name: &str) -> Result<Kernel> {
    plain_func(dev, module, &format!("{name}_{}", T::SUFFIX))
}

/// The kernel `name` (no dtype suffix) from `module`.
pub(crate) fn plain_func(dev: &CudaDevice, module: Module, name: &str) -> Result<Kernel> {
    let func = dev.get_or_load_custom_func(name, module.name(), module.ptx())?;
    Ok(Kernel {
        func: func.into_cuda_function(),
        stream: dev.cuda_stream(),
    })
}

/// Runs `$f::<T>` for the float dtype of the CUDA storage `$storage`, or fails naming the op.
macro_rules! dispatch_gpu {
    ($op:expr, $storage:expr, $($f:ident)::+ ( $($arg:expr),* )) => {
        match candle_core::backend::BackendStorage::dtype($storage) {
            candle_core::DType::F32 => $($f)::+::<f32>($($arg),*),
            candle_core::DType::F64 => $($f)::+::<f64>($($arg),*),
            got => Err($crate::OpError::DType {
                op: $op,
                input: "input",
                got,
                expected: "f32 or f64",
            }
            .into()),
        }
    };
}
pub(crate) use dispatch_gpu;

/// The elements of a contiguous input as a device view. The public functions make their inputs
/// contiguous before applying an op, so a strided layout here is a bug in la-ops.
pub(crate) fn view<'a, T: CudaDType>(
    op: &'static str,
    storage: &'a CudaStorage,
    layout: &Layout,
) -> Result<CudaView<'a, T>> {
    let slice = storage.as_cuda_slice::<T>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(slice.slice(start..end)),
        None => candle_core::bail!("{op}: internal error, the kernel received a strided input"),
    }
}

/// Runs `f` on the device view of a contiguous CUDA tensor (kept alive by the guard for the
/// duration of `f`).
pub(crate) fn with_view<T: CudaDType, R>(
    op: &'static str,
    t: &Tensor,
    f: impl FnOnce(&CudaView<'_, T>) -> Result<R>,
) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cuda(s) = &*storage else {
        candle_core::bail!("{op}: internal error, expected a CUDA tensor");
    };
    f(&view::<T>(op, s, layout)?)
}

/// A fresh device buffer the kernel overwrites completely.
pub(crate) fn alloc<T: DeviceRepr>(dev: &CudaDevice, len: usize) -> Result<CudaSlice<T>> {
    // SAFETY: every caller launches a kernel that writes all `len` elements before any read.
    unsafe { dev.alloc::<T>(len.max(1)) }
}

/// A tensor owning the device buffer `slice`, without gradient.
pub(crate) fn tensor<T: CudaDType>(
    slice: CudaSlice<T>,
    dev: &CudaDevice,
    shape: impl Into<Shape>,
) -> Tensor {
    let storage = CudaStorage::wrap_cuda_slice(slice, dev.clone());
    Tensor::from_storage(Storage::Cuda(storage), shape, BackpropOp::none(), false)
}

/// The output of a kernel as the storage candle expects back from `cuda_fwd`.
pub(crate) fn storage<T: CudaDType>(slice: CudaSlice<T>, dev: &CudaDevice) -> CudaStorage {
    CudaStorage::wrap_cuda_slice(slice, dev.clone())
}

/// The device of a storage.
pub(crate) fn device(s: &CudaStorage) -> &CudaDevice {
    s.device()
}

/// Threads per block of the element-wise and per-plane kernels.
pub(crate) const THREADS: u32 = 256;

/// A 1-d grid of `THREADS`-thread blocks covering `n` items (the kernels grid-stride beyond).
pub(crate) fn grid_1d(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(THREADS as usize).clamp(1, 1 << 20);
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// A grid whose x walks `planes` planes and whose y walks the `plane` elements of each.
pub(crate) fn grid_planes(planes: usize, plane: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (
            planes.clamp(1, 1 << 20) as u32,
            plane.div_ceil(THREADS as usize).clamp(1, 65_535) as u32,
            1,
        ),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The grid of a per-channel reduction of an (n, c, plane) tensor: (splits, c) blocks, enough
/// splits to fill the GPU with blocks but not more than the plane can feed.
pub(crate) fn grid_channels(c: usize, plane: usize) -> LaunchConfig {
    let splits = plane
        .div_ceil(THREADS as usize)
        .min(4096usize.div_ceil(c.max(1)))
        .max(1);
    LaunchConfig {
        grid_dim: (splits as u32, c.clamp(1, 65_535) as u32, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Launches a configured kernel, mapping the driver's error.
pub(crate) fn launch(builder: &mut LaunchArgs<'_>, cfg: LaunchConfig) -> Result<()> {
    // SAFETY: every caller passes the arguments in the order and types of the kernel's C
    // signature, and buffers of the sizes the kernel indexes.
    unsafe { builder.launch(cfg) }.w()?;
    Ok(())
}

/// The device flag of the index kernels: the smallest flat position whose index was out of
/// range, or `u64::MAX`.
pub(crate) struct BadIndex(CudaSlice<u64>);

impl BadIndex {
    pub fn new(dev: &CudaDevice) -> Result<Self> {
        Ok(BadIndex(dev.clone_htod(&[u64::MAX])?))
    }

    /// The flag, to pass to the kernel.
    pub fn flag(&mut self) -> &mut CudaSlice<u64> {
        &mut self.0
    }

    /// Fails, naming the first bad index, if the kernel found one (reads the flag back, which
    /// waits for the kernel).
    pub fn check(
        &self,
        dev: &CudaDevice,
        op: &'static str,
        indices: &CudaView<'_, u32>,
        plane: usize,
    ) -> Result<()> {
        let position = dev.clone_dtoh(&self.0)?[0];
        if position == u64::MAX {
            return Ok(());
        }
        let at = position as usize;
        let index = dev.clone_dtoh(&indices.slice(at..at + 1))?[0];
        Err(OpError::IndexOutOfRange {
            op,
            index: index.into(),
            position: at,
            plane,
        }
        .into())
    }
}
