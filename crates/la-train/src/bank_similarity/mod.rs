//! Similarities of embeddings with memory-bank rows, differentiable in the embeddings only.
//!
//! The losses need `v_i . bank_j` for some (background neighbours) or all bank rows `j`. The
//! values are computed once, without gradient, by the matrix product that also finds the
//! neighbours; this op attaches them to `v` so that the backward pass gives
//! `dL/dv_i = sum_j dL/ds_ij bank_j` and nothing for the bank (candle's own matmul backward
//! would also compute the bank's gradient, as large as the forward product, and a gathered
//! copy of the bank rows would be batch x k x D).

mod kernels;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use kernels::{GatherRows, ScatterRows};

use crate::Result;

/// `values` (batch, cols) = `v @ bank^T`, restricted to `columns` (batch, cols) u32 when given,
/// as a tensor whose gradient flows into `v` (batch, D). `values` must have been computed from
/// `v`'s current value and the current bank (callers compute both in the same function).
pub(crate) fn attach(
    v: &Tensor,
    bank: &Tensor,
    columns: Option<&Tensor>,
    values: &Tensor,
) -> Result<Tensor> {
    if !v.device().is_cpu() {
        // Generic path: recompute through candle's ops (correct, not economical).
        let all = v.matmul(&bank.t()?)?;
        return Ok(match columns {
            Some(idx) => all.gather(idx, 1)?,
            None => all,
        });
    }
    let op = BankDots {
        bank: bank.clone(),
        columns: columns.cloned(),
    };
    Ok(v.apply_op2(&values.detach(), op)?)
}

/// The op: forward returns the precomputed values, backward maps their gradient to `v`.
struct BankDots {
    bank: Tensor,
    columns: Option<Tensor>,
}

impl CustomOp2 for BankDots {
    fn name(&self) -> &'static str {
        "bank_similarities"
    }

    fn cpu_fwd(
        &self,
        _v: &CpuStorage,
        _lv: &Layout,
        values: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("{}: the values must be contiguous", self.name())
        };
        let out = match values {
            CpuStorage::F32(x) => CpuStorage::F32(x[start..end].to_vec()),
            CpuStorage::F64(x) => CpuStorage::F64(x[start..end].to_vec()),
            other => candle_core::bail!("{}: unsupported dtype {:?}", self.name(), other.dtype()),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(
        &self,
        _v: &Tensor,
        _values: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let bank = self.bank.to_dtype(grad.dtype())?;
        let n = bank.dims()[0];
        let grad_v = match &self.columns {
            None => grad.matmul(&bank)?,
            Some(idx) if idx.dims()[1] * SPARSE_BELOW <= n => {
                grad.apply_op3_no_bwd(&bank.contiguous()?, &idx.contiguous()?, &GatherRows)?
            }
            Some(idx) => grad
                .apply_op2_no_bwd(&idx.contiguous()?, &ScatterRows { n })?
                .matmul(&bank)?,
        };
        Ok((Some(grad_v), None))
    }
}

/// The backward pass takes the sparse path (a weighted sum of gathered bank rows per
/// embedding) when the columns are fewer than N / `SPARSE_BELOW`, and otherwise scatters the
/// gradient into a dense (batch, N) matrix multiplied by the bank: the matrix product does
/// `SPARSE_BELOW` times the arithmetic but streams the bank once at full SIMD speed, while
/// the gather reads batch x k bank rows (1 GB at k = 4096, batch 128, D = 512). Measured by
/// `examples/bench_la_step.rs`.
const SPARSE_BELOW: usize = 8;
