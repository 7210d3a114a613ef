//! `bank_dots`: precomputed dot products of embeddings with rows of a constant bank, made
//! differentiable in the embeddings only.
//!
//! Memory-bank losses need `v_i . bank_j` for some (selected columns) or all bank rows `j`.
//! The caller computes the values once, without gradient, by the matrix product that also
//! selects the columns; this op attaches them to `v` so that the backward pass gives
//! `dL/dv_i = sum_j dL/ds_ij bank_j` and nothing for the bank (candle's own matmul backward
//! would also compute the bank's gradient, as large as the forward product, and a gathered
//! copy of the bank rows would be batch x k x D). The CPU kernels of the backward pass live in
//! `cpu`; other devices take the generic path of `generic`, which recomputes the products.

mod cpu;
pub(crate) mod generic;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

use crate::check;
use cpu::{GatherRows, ScatterRows};

const OP: &str = "bank_dots";

/// `values` (batch, cols) = `v @ bank^T`, restricted to `columns` (batch, cols) u32 when given,
/// returned as a tensor whose gradient flows into `v` (batch, D) and not into `bank` (N, D).
/// `v`, `bank` and `values` share a float dtype and a device.
///
/// `values` must be the products of `v`'s current value with the current bank: on the CPU the
/// forward pass returns them as given (the backward pass reads the bank). Other devices
/// recompute them by candle's matmul (see [`generic::bank_dots`](crate::generic::bank_dots)).
///
/// ```
/// # use candle_core::{Device, Tensor, Var};
/// let dev = Device::Cpu;
/// let bank = Tensor::new(&[[1f32, 0.], [0., 1.], [0.6, 0.8]], &dev)?;
/// let v = Var::new(&[[1f32, 0.]], &dev)?;
/// let columns = Tensor::new(&[[0u32, 2]], &dev)?;
/// let values = Tensor::new(&[[1f32, 0.6]], &dev)?; // v . bank_0, v . bank_2
/// let s = la_ops::bank_dots(v.as_tensor(), &bank, Some(&columns), &values)?;
/// let grads = s.sum_all()?.backward()?;
/// // d(s_0 + s_1)/dv = bank_0 + bank_2.
/// assert_eq!(grads.get(v.as_tensor()).unwrap().to_vec2::<f32>()?, [[1.6, 0.8]]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn bank_dots(
    v: &Tensor,
    bank: &Tensor,
    columns: Option<&Tensor>,
    values: &Tensor,
) -> Result<Tensor> {
    validate(v, bank, columns, values)?;
    if !v.device().is_cpu() {
        return generic::recompute(v, bank, columns);
    }
    let op = BankDots {
        bank: bank.detach(),
        columns: columns.cloned(),
    };
    v.apply_op2(&values.detach().contiguous()?, op)
}

/// Checks the shapes, dtypes and devices of the inputs.
fn validate(v: &Tensor, bank: &Tensor, columns: Option<&Tensor>, values: &Tensor) -> Result<()> {
    check::float(OP, "v", v)?;
    let (batch, d) = check::dims2(OP, "v", v)?;
    let n = bank.dims().first().copied().unwrap_or(0);
    check::shape_is(OP, "bank", bank, &[n, d])?;
    let cols = match columns {
        Some(c) => {
            let cols = c.dims().get(1).copied().unwrap_or(0);
            check::shape_is(OP, "columns", c, &[batch, cols])?;
            check::dtype_is(OP, "columns", c, DType::U32, "u32")?;
            check::same_device(OP, "columns", c, v)?;
            cols
        }
        None => n,
    };
    check::shape_is(OP, "values", values, &[batch, cols])?;
    for (name, t) in [("bank", bank), ("values", values)] {
        check::dtype_is(OP, name, t, v.dtype(), "the dtype of v")?;
        check::same_device(OP, name, t, v)?;
    }
    Ok(())
}

/// The op on (v, values): forward returns the values, backward maps their gradient to `v`.
struct BankDots {
    bank: Tensor,
    columns: Option<Tensor>,
}

impl CustomOp2 for BankDots {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        _v: &CpuStorage,
        _lv: &Layout,
        values: &CpuStorage,
        layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Ok((cpu::copy(OP, values, layout)?, layout.shape().clone()))
    }

    fn bwd(
        &self,
        _v: &Tensor,
        _values: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let bank = self.bank.to_dtype(grad.dtype())?;
        let n = bank.dims()[0];
        let grad_v = match &self.columns {
            None => crate::matmul(&grad, &bank)?,
            Some(idx) if idx.dims()[1] * SPARSE_BELOW <= n => {
                grad.apply_op3_no_bwd(&bank.contiguous()?, &idx.contiguous()?, &GatherRows)?
            }
            Some(idx) => crate::matmul(
                &grad.apply_op2_no_bwd(&idx.contiguous()?, &ScatterRows { n })?,
                &bank,
            )?,
        };
        Ok((Some(grad_v), None))
    }
}

/// The backward pass takes the sparse path (a weighted sum of gathered bank rows per
/// embedding) when the columns are fewer than N / `SPARSE_BELOW`, and otherwise scatters the
/// gradient into a dense (batch, N) matrix multiplied by the bank: the matrix product does
/// `SPARSE_BELOW` times the arithmetic but streams the bank once at full SIMD speed, while
/// the gather reads batch x k bank rows (1 GB at k = 4096, batch 128, D = 512). Measured by
/// la-train's `examples/bench_la_step.rs`.
const SPARSE_BELOW: usize = 8;
