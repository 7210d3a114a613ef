//! `l2_normalize_rows`: each row divided by its Euclidean norm, with a backward pass.
//!
//! The CPU kernels live in `cpu`, the CUDA ones in `cuda` (feature `cuda`); tensors on other
//! devices take the generic path of `generic`, built from candle's tensor ops (correct,
//! differentiable, not fused).

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod generic;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use crate::OpError;
use crate::check;
use crate::cpu::dispatch_float;
use cpu::{backward, forward};

const OP: &str = "l2_normalize_rows";

/// The floor of the norm, as in `torch.nn.functional.normalize`.
const EPS: f64 = 1e-12;

/// Divides each row (the last dimension) of `x` (f32 or f64, any rank >= 1) by its Euclidean
/// norm: `x / max(|x|, 1e-12)`, exactly `torch.nn.functional.normalize(x, dim=-1)`. A row of
/// zeros stays zeros.
///
/// Differentiable: the gradient is `(g - y (y . g)) / |x|`, or `g / 1e-12` for rows whose norm
/// is below the floor.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[3f32, 4.], [0., 0.]], &Device::Cpu)?;
/// let y = la_ops::l2_normalize_rows(&x)?;
/// assert_eq!(y.to_vec2::<f32>()?, [[0.6, 0.8], [0., 0.]]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn l2_normalize_rows(x: &Tensor) -> Result<Tensor> {
    let cols = validate(x)?;
    if crate::backend::has_kernels(x.device()) {
        x.contiguous()?.apply_op1(L2Normalize { cols })
    } else {
        generic::normalize(x)
    }
}

/// Checks the input and returns the length of its rows.
fn validate(x: &Tensor) -> Result<usize> {
    check::float(OP, "input", x)?;
    let Some(&cols) = x.dims().last() else {
        return Err(OpError::Shape {
            op: OP,
            input: "input",
            got: vec![],
            expected: "at least one dimension".into(),
        }
        .into());
    };
    Ok(cols)
}

/// The forward pass as a candle op.
struct L2Normalize {
    cols: usize,
}

impl CustomOp1 for L2Normalize {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(OP, storage, forward(OP, storage, layout, self.cols, EPS))?;
        Ok((out, layout.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let out = crate::cuda::dispatch_gpu!(
            OP,
            storage,
            cuda::forward(OP, (storage, layout), self.cols, EPS)
        )?;
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad = x.apply_op2_no_bwd(
            &grad_res.contiguous()?,
            &L2NormalizeBackward { cols: self.cols },
        )?;
        Ok(Some(grad))
    }
}

/// The backward pass as a candle op of (input, output gradient); not itself differentiable.
struct L2NormalizeBackward {
    cols: usize,
}

impl CustomOp2 for L2NormalizeBackward {
    fn name(&self) -> &'static str {
        "l2_normalize_rows_backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(
            self.name(),
            s1,
            backward(self.name(), (s1, l1), (s2, l2), self.cols, EPS)
        )?;
        Ok((out, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let out = crate::cuda::dispatch_gpu!(
            self.name(),
            s1,
            cuda::backward(self.name(), (s1, l1), (s2, l2), self.cols, EPS)
        )?;
        Ok((out, l1.shape().clone()))
    }
}
