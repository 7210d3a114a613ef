//! `topk`: the k largest values of each row and where they are.
//!
//! The CPU kernel (in `cpu`) selects in O(columns) per row; the CUDA kernel (in `cuda`, feature
//! `cuda`) by radix selection, one block per row; tensors on other devices take the generic path
//! of `generic`, through candle's own sort.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod generic;

use candle_core::{CpuStorage, CustomOp1, D, Layout, Result, Shape, Tensor};

use crate::OpError;
use crate::check;
use crate::cpu::dispatch_float;
use cpu::topk_indices;

const OP: &str = "topk";

/// The `k` largest values along the last dimension of `x` (f32 or f64, any rank >= 1) and
/// their positions in that dimension (u32); both have the shape of `x` with the last dimension
/// replaced by `k`, best first.
///
/// Order: larger values first; among equal values the lower index first (so the result is
/// deterministic); NaN ranks above every number, as in `torch.topk`, and NaNs among themselves
/// by index; -0.0 and 0.0 are equal.
///
/// Cost: O(columns) per row whatever the data (a threshold scan with a bounded candidate
/// buffer), rows in parallel, and a row is split across threads when there are fewer rows than
/// threads, so single rows of millions of columns are fast too. On CUDA (feature `cuda`), one
/// block per row finds the k-th value by radix selection (four passes over the row for f32),
/// collects the k best and sorts them, with the same order. On other devices the values are
/// sorted with candle's `arg_sort_last_dim` (see [`generic::topk`](crate::generic::topk)).
///
/// The values carry a gradient (a gather of `x`, whose backward is a scatter-add); the indices
/// do not. Fails, naming the op and the shape, when `k` is 0 or exceeds the last dimension.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[3f32, 1., 4., 1., 5.], [2., 7., 1., 8., 2.]], &Device::Cpu)?;
/// let (values, indices) = la_ops::topk(&x, 2)?;
/// assert_eq!(values.to_vec2::<f32>()?, [[5., 4.], [8., 7.]]);
/// assert_eq!(indices.to_vec2::<u32>()?, [[4, 2], [3, 1]]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn topk(x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
    check::float(OP, "input", x)?;
    let cols = check_k(OP, x, k)?;
    if !crate::backend::has_kernels(x.device()) {
        return generic::select(x, k);
    }
    let x = x.contiguous()?;
    let indices = x.apply_op1_no_bwd(&TopKIndices { k, cols })?;
    let values = x.gather(&indices, D::Minus1)?;
    Ok((values, indices))
}

/// The number of columns, once `k` is known to fit them; errors name `op`.
pub(crate) fn check_k(op: &'static str, x: &Tensor, k: usize) -> Result<usize> {
    let Some(&cols) = x.dims().last() else {
        return Err(OpError::Shape {
            op,
            input: "input",
            got: vec![],
            expected: "at least one dimension".into(),
        }
        .into());
    };
    if cols > u32::MAX as usize {
        return Err(OpError::Shape {
            op,
            input: "input",
            got: x.dims().to_vec(),
            expected: "a last dimension below 2^32 (indices are u32)".into(),
        }
        .into());
    }
    if k == 0 || k > cols {
        return Err(OpError::Param {
            op,
            param: "k",
            got: k.to_string(),
            expected: format!(
                "between 1 and the last dimension of the input {:?}",
                x.dims()
            ),
        }
        .into());
    }
    Ok(cols)
}

/// The shape of `layout` with its last dimension replaced by `k`.
pub(crate) fn last_replaced(layout: &Layout, k: usize) -> Shape {
    let mut dims = layout.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = k;
    }
    Shape::from(dims)
}

/// The selection as a candle op; its result is the indices.
struct TopKIndices {
    k: usize,
    cols: usize,
}

impl CustomOp1 for TopKIndices {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(
            OP,
            storage,
            topk_indices(OP, storage, layout, self.cols, self.k)
        )?;
        Ok((out, last_replaced(layout, self.k)))
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
            cuda::topk_indices(OP, (storage, layout), self.cols, self.k)
        )?;
        Ok((out, last_replaced(layout, self.k)))
    }
}
