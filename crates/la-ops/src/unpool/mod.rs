//! `max_unpool2d` and the index gather / scatter-add pair it is built from.
//!
//! Scatter-add and gather through the same indices are each other's adjoint, so each one's
//! backward pass is the other: unpooling's gradient is a gather, pooling's is a scatter-add.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod generic;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

use crate::check;
use crate::cpu::dispatch_float;
use cpu::{gather, scatter_add};

const UNPOOL: &str = "max_unpool2d";

/// Writes each value of `xs` (N, C, h, w) into a zeroed (N, C, H, W) output at the flat
/// position `indices` (u32, the shape of `xs`) names inside its (H, W) plane, as produced by
/// [`max_pool2d_with_indices`](crate::max_pool2d_with_indices). `output_hw` is (H, W).
///
/// Indices that repeat (only possible after overlapping pools) add up; PyTorch keeps one of
/// them instead. The gradient with respect to `xs` gathers the output gradient at the indices.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[[[7f32]]]], &Device::Cpu)?;
/// let i = Tensor::new(&[[[[2u32]]]], &Device::Cpu)?;
/// let y = la_ops::max_unpool2d(&x, &i, (2, 2))?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [0., 0., 7., 0.]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn max_unpool2d(xs: &Tensor, indices: &Tensor, output_hw: (usize, usize)) -> Result<Tensor> {
    check::dims4(UNPOOL, "input", xs)?;
    check_indices(UNPOOL, xs, indices)?;
    if !crate::backend::has_kernels(xs.device()) {
        return generic::scatter(xs, indices, output_hw);
    }
    scatter_add_planes(xs, indices, output_hw)
}

/// Fails unless `indices` is a u32 tensor of the shape of `xs` on the same device.
fn check_indices(op: &'static str, xs: &Tensor, indices: &Tensor) -> Result<()> {
    check::float(op, "input", xs)?;
    check::shape_is(op, "indices", indices, xs.dims())?;
    check::dtype_is(op, "indices", indices, DType::U32, "u32")?;
    check::same_device(op, "indices", indices, xs)
}

/// Scatter-add of `xs` planes into zeroed planes of size `output_hw` (the unpool forward and
/// the pool backward).
pub(crate) fn scatter_add_planes(
    xs: &Tensor,
    indices: &Tensor,
    output_hw: (usize, usize),
) -> Result<Tensor> {
    xs.contiguous()?
        .apply_op2(&indices.contiguous()?, ScatterAddPlanes { output_hw })
}

/// Gather from `xs` planes at `indices` (the unpool backward).
pub(crate) fn gather_planes(xs: &Tensor, indices: &Tensor) -> Result<Tensor> {
    xs.contiguous()?
        .apply_op2(&indices.contiguous()?, GatherPlanes)
}

struct ScatterAddPlanes {
    output_hw: (usize, usize),
}

impl CustomOp2 for ScatterAddPlanes {
    fn name(&self) -> &'static str {
        UNPOOL
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (h, w) = self.output_hw;
        let d = l1.dims();
        let out = dispatch_float!(UNPOOL, s1, scatter_add(UNPOOL, (s1, l1), (s2, l2), h * w))?;
        Ok((out, Shape::from((d[0], d[1], h, w))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (h, w) = self.output_hw;
        let d = l1.dims();
        let out = crate::cuda::dispatch_gpu!(
            UNPOOL,
            s1,
            cuda::scatter_add(UNPOOL, (s1, l1), (s2, l2), h * w)
        )?;
        Ok((out, Shape::from((d[0], d[1], h, w))))
    }

    fn bwd(
        &self,
        _xs: &Tensor,
        indices: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(gather_planes(grad_res, indices)?), None))
    }
}

struct GatherPlanes;

impl CustomOp2 for GatherPlanes {
    fn name(&self) -> &'static str {
        "max_unpool2d_backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = l1.dims();
        let out = dispatch_float!(
            self.name(),
            s1,
            gather(self.name(), (s1, l1), (s2, l2), d[2] * d[3])
        )?;
        Ok((out, l2.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let d = l1.dims();
        let out = crate::cuda::dispatch_gpu!(
            self.name(),
            s1,
            cuda::gather(self.name(), (s1, l1), (s2, l2), d[2] * d[3])
        )?;
        Ok((out, l2.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        indices: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (_, _, h, w) = xs.dims4()?;
        Ok((Some(scatter_add_planes(grad_res, indices, (h, w))?), None))
    }
}
