//! Similarities of embeddings with memory-bank rows, differentiable in the embeddings only.
//!
//! The losses need `v_i . bank_j` for some (background neighbours) or all bank rows `j`. The
//! values are computed once, without gradient, by the matrix product that also finds the
//! neighbours; this op attaches them to `v` so that the backward pass gives
//! `dL/dv_i = sum_j dL/ds_ij bank_j` and nothing for the bank (candle's own matmul backward
//! would also compute the bank's gradient, as large as the forward product, and a gathered
//! copy of the bank rows would be batch x k x D).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

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
        let dense = match &self.columns {
            None => grad.clone(),
            Some(idx) => {
                let (rows, n) = (grad.dims()[0], self.bank.dims()[0]);
                Tensor::zeros((rows, n), grad.dtype(), grad.device())?.scatter_add(
                    idx,
                    &grad.contiguous()?,
                    1,
                )?
            }
        };
        let bank = self.bank.to_dtype(grad.dtype())?;
        let grad_v = dense.contiguous()?.matmul(&bank)?;
        Ok((Some(grad_v), None))
    }
}
