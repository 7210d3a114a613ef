//! The small ops of the convolution's backward pass: the filter gradient, the rotated and
//! transposed weight, and the per-channel sums of the bias gradient.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

#[cfg(feature = "cuda")]
use super::cuda;
use super::{CONV, Geometry, cpu};
use crate::cpu::{Float, dispatch_float, slice};

/// The filter gradient of a convolution: (input, output gradient) -> weight-shaped tensor.
pub(super) struct FilterGrad(pub(super) Geometry);

impl CustomOp2 for FilterGrad {
    fn name(&self) -> &'static str {
        "conv2d_filter_grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let out = dispatch_float!(CONV, s1, filter_grad(s1, l1, s2, l2, g))?;
        Ok((out, Shape::from((g.c_out, g.c_in, g.kh, g.kw))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        cuda::filter_grad_op(&self.0, (s1, l1), (s2, l2))
    }
}

fn filter_grad<T: Float>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    g: &Geometry,
) -> Result<CpuStorage> {
    let x = slice::<T>(CONV, s1, l1)?;
    let grad = slice::<T>(CONV, s2, l2)?;
    let dw = cpu::filter_grad(x, grad, l1.dims()[0], g);
    Ok(T::to_cpu_storage_owned(dw))
}

/// (a, b, kh, kw) -> (b, a, kh, kw) rotated by 180 degrees; linear and its own adjoint, so its
/// backward pass is itself.
pub(super) struct FlipTranspose;

impl CustomOp1 for FlipTranspose {
    fn name(&self) -> &'static str {
        "conv_flip_transpose"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d: [usize; 4] = l.dims().try_into().map_err(|_| {
            candle_core::Error::Msg(format!("{}: expected a 4-d weight", self.name()))
        })?;
        let out = dispatch_float!(self.name(), s, flip(s, l, d))?;
        Ok((out, Shape::from((d[1], d[0], d[2], d[3]))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        cuda::flip_transpose_op(s, l)
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        grad.contiguous()?.apply_op1(FlipTranspose).map(Some)
    }
}

fn flip<T: Float>(s: &CpuStorage, l: &Layout, d: [usize; 4]) -> Result<CpuStorage> {
    let w = slice::<T>("conv_flip_transpose", s, l)?;
    Ok(T::to_cpu_storage_owned(cpu::flip_transpose(w, d)))
}

/// Sums of an (N, C, H, W) tensor over everything but C: the bias gradient.
pub(crate) struct ChannelSum;

impl CustomOp1 for ChannelSum {
    fn name(&self) -> &'static str {
        "conv2d_bias_grad"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = l.dims();
        let c = d[1];
        let out = dispatch_float!(self.name(), s, channel_sum(s, l))?;
        Ok((out, Shape::from(c)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        cuda::channel_sum_op(s, l)
    }
}

fn channel_sum<T: Float>(s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
    let d = l.dims();
    let g = slice::<T>("conv2d_bias_grad", s, l)?;
    Ok(T::to_cpu_storage_owned(cpu::channel_sum(
        g,
        d[0],
        d[1],
        d[2] * d[3],
    )))
}
