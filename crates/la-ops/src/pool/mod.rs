//! `max_pool2d_with_indices`: max-pooling that also returns where each maximum came from.

#[cfg(target_arch = "x86_64")]
mod avx512;
pub(crate) mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod generic;

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Result, Shape, Tensor};

use crate::check;
use crate::cpu::dispatch_float;
use crate::unpool::scatter_add_planes;
use cpu::{PoolGeometry, forward};

const OP: &str = "max_pool2d_with_indices";

/// Max-pools the (H, W) planes of `xs` (N, C, H, W) with a square `kernel` and `stride`, and
/// returns the pooled values and, for each, the flat position `row * W + col` of its maximum
/// inside the input plane (u32, same shape as the values).
///
/// PyTorch semantics: output sizes floor (`(H - kernel) / stride + 1`), the first maximum wins
/// on ties, and the gradient flows only to the argmax (summed where windows overlap).
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[[[1f32, 5.], [3., 2.]]]], &Device::Cpu)?;
/// let (values, indices) = la_ops::max_pool2d_with_indices(&x, 2, 2)?;
/// assert_eq!(values.flatten_all()?.to_vec1::<f32>()?, [5.]);
/// assert_eq!(indices.flatten_all()?.to_vec1::<u32>()?, [1]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn max_pool2d_with_indices(
    xs: &Tensor,
    kernel: usize,
    stride: usize,
) -> Result<(Tensor, Tensor)> {
    let geometry = validate(xs, kernel, stride)?;
    if !crate::backend::has_kernels(xs.device()) {
        return generic::pool(xs, geometry);
    }
    let op = MaxPool2d {
        geometry,
        indices: Arc::default(),
    };
    let indices = op.indices.clone();
    let values = xs.contiguous()?.apply_op1(op)?;
    let indices = indices
        .get()
        .cloned()
        .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: the kernel produced no indices")))?;
    Ok((values, indices))
}

/// Checks the input and parameters and returns the window geometry.
pub(crate) fn validate(xs: &Tensor, kernel: usize, stride: usize) -> Result<PoolGeometry> {
    let [_, _, h, w] = check::dims4(OP, "input", xs)?;
    check::float(OP, "input", xs)?;
    check::positive(OP, "kernel", kernel)?;
    check::positive(OP, "stride", stride)?;
    if h < kernel || w < kernel {
        return Err(crate::OpError::Shape {
            op: OP,
            input: "input",
            got: xs.dims().to_vec(),
            expected: format!("height and width of at least the kernel size {kernel}"),
        }
        .into());
    }
    if h * w > u32::MAX as usize {
        return Err(crate::OpError::Shape {
            op: OP,
            input: "input",
            got: xs.dims().to_vec(),
            expected: "planes of fewer than 2^32 elements (indices are u32)".into(),
        }
        .into());
    }
    Ok(PoolGeometry {
        kernel,
        stride,
        in_hw: (h, w),
        out_hw: ((h - kernel) / stride + 1, (w - kernel) / stride + 1),
    })
}

/// The pool as a candle op: its result is the values; the indices, produced in the same sweep,
/// are kept here for the caller and for the backward pass.
struct MaxPool2d {
    geometry: PoolGeometry,
    indices: Arc<OnceLock<Tensor>>,
}

impl MaxPool2d {
    fn out_shape(&self, layout: &Layout) -> Shape {
        let d = layout.dims();
        let (oh, ow) = self.geometry.out_hw;
        Shape::from((d[0], d[1], oh, ow))
    }
}

impl CustomOp1 for MaxPool2d {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let shape = self.out_shape(layout);
        let (values, indices) = dispatch_float!(
            OP,
            storage,
            forward(storage, layout, self.geometry, shape.clone())
        )?;
        let indices = Tensor::from_vec(indices, shape.clone(), &Device::Cpu)?;
        // A second forward through the same op object would be a bug, not a user error.
        let _ = self.indices.set(indices);
        Ok((values, shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let shape = self.out_shape(layout);
        let (values, indices) = crate::cuda::dispatch_gpu!(
            OP,
            storage,
            cuda::forward(storage, layout, self.geometry, &shape)
        )?;
        let _ = self.indices.set(indices);
        Ok((values, shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let indices = self
            .indices
            .get()
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: backward before forward")))?;
        scatter_add_planes(grad_res, indices, self.geometry.in_hw).map(Some)
    }
}
