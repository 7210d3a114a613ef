//! `transpose_contiguous`: a matrix's transpose written out as a contiguous tensor.
//!
//! candle's `t()` is a strided view, and making it contiguous on the CPU walks it element by
//! element; the CPU kernel (in `cpu`) copies cache-sized tiles in parallel instead. Other
//! devices and dtypes take the generic path of `generic`.

mod cpu;
pub(crate) mod generic;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

use crate::check;
use crate::cpu::dispatch_float;

const OP: &str = "transpose_contiguous";

/// `x^T` (cols, rows) of a matrix `x` (rows, cols), contiguous. Differentiable: the gradient
/// is the transpose of the output gradient.
///
/// On the CPU, f32 and f64 matrices are copied by a tiled, parallel kernel (a product of a
/// large matrix with a small one is fastest in one orientation, and its consumer may want the
/// other); other dtypes and devices use candle's `t()?.contiguous()`.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &Device::Cpu)?;
/// let y = la_ops::transpose_contiguous(&x)?;
/// assert_eq!(y.to_vec2::<f32>()?, [[1., 4.], [2., 5.], [3., 6.]]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn transpose_contiguous(x: &Tensor) -> Result<Tensor> {
    validate(x)?;
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Transpose)
    } else {
        generic::transpose(x)
    }
}

/// Fails unless `x` is a matrix.
fn validate(x: &Tensor) -> Result<()> {
    check::dims2(OP, "input", x).map(drop)
}

/// The transpose as a candle op.
struct Transpose;

impl CustomOp1 for Transpose {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, cols) = layout.shape().dims2()?;
        let out = dispatch_float!(OP, storage, cpu::blocked(OP, storage, layout, rows, cols))?;
        Ok((out, Shape::from((cols, rows))))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(transpose_contiguous(grad_res)?))
    }
}
