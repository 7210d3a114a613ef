//! CPU kernels of the bank dot products: the forward copy and the two forms of the backward
//! pass.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape};
use rayon::prelude::*;

use crate::OpError;
use crate::cpu::{Float, dispatch_float, slice};

/// A copy of the contiguous float storage `values`.
pub(super) fn copy(op: &'static str, values: &CpuStorage, layout: &Layout) -> Result<CpuStorage> {
    dispatch_float!(op, values, copy_as(op, values, layout))
}

fn copy_as<T: Float>(op: &'static str, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
    Ok(T::to_cpu_storage(slice::<T>(op, s, l)?))
}

/// The dense (batch, n) matrix with `grad[i, c]` at column `idx[i, c]` of row `i` (summed
/// over repeated columns) and zeros elsewhere: (grad (batch, k), idx (batch, k) u32), rows in
/// parallel.
pub(super) struct ScatterRows {
    pub(super) n: usize,
}

impl CustomOp2 for ScatterRows {
    fn name(&self) -> &'static str {
        "bank_dots_scatter"
    }

    fn cpu_fwd(
        &self,
        g: &CpuStorage,
        lg: &Layout,
        idx: &CpuStorage,
        li: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let rows = lg.dims()[0];
        let out = dispatch_float!(
            self.name(),
            g,
            scatter_rows((g, lg), (idx, li), self.n, self.name())
        )?;
        Ok((out, Shape::from((rows, self.n))))
    }
}

fn scatter_rows<T: Float>(
    (g, lg): (&CpuStorage, &Layout),
    (idx, li): (&CpuStorage, &Layout),
    n: usize,
    op: &'static str,
) -> Result<CpuStorage> {
    let k = lg.dims()[1].max(1);
    let g = slice::<T>(op, g, lg)?;
    let idx = columns(op, idx, li, n)?;
    let mut out = vec![T::zero(); g.len() / k * n];
    out.par_chunks_mut(n.max(1))
        .zip(g.par_chunks(k).zip(idx.par_chunks(k)))
        .for_each(|(row, (g, idx))| {
            for (&w, &j) in g.iter().zip(idx) {
                row[j as usize] += w;
            }
        });
    Ok(T::to_cpu_storage_owned(out))
}

/// `out[i] = sum_c grad[i, c] * bank[idx[i, c]]`: (grad (batch, k), bank (N, D),
/// idx (batch, k) u32) -> (batch, D), rows in parallel.
///
/// Memory-bound: it reads batch x k bank rows. A variant that walks the bank once per thread
/// in cache-sized blocks (serving every sum that needs a row while it is cached, AVX-512
/// axpy) measured no faster at k = 100 (same CPU time) nor than the dense product at
/// k = 4096 (35 vs 37-44 ms of CPU per backward), so the simple loop stays.
pub(super) struct GatherRows;

impl CustomOp3 for GatherRows {
    fn name(&self) -> &'static str {
        "bank_dots_backward"
    }

    fn cpu_fwd(
        &self,
        g: &CpuStorage,
        lg: &Layout,
        bank: &CpuStorage,
        lb: &Layout,
        idx: &CpuStorage,
        li: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, d) = (lg.dims()[0], lb.dims()[1]);
        let out = dispatch_float!(
            self.name(),
            g,
            gather_rows((g, lg), (bank, lb), (idx, li), self.name())
        )?;
        Ok((out, Shape::from((rows, d))))
    }
}

fn gather_rows<T: Float>(
    (g, lg): (&CpuStorage, &Layout),
    (bank, lb): (&CpuStorage, &Layout),
    (idx, li): (&CpuStorage, &Layout),
    op: &'static str,
) -> Result<CpuStorage> {
    let (k, (n, d)) = (lg.dims()[1].max(1), (lb.dims()[0], lb.dims()[1].max(1)));
    let g = slice::<T>(op, g, lg)?;
    let bank = slice::<T>(op, bank, lb)?;
    let idx = columns(op, idx, li, n)?;
    let mut out = vec![T::zero(); g.len() / k * d];
    out.par_chunks_mut(d)
        .zip(g.par_chunks(k).zip(idx.par_chunks(k)))
        .for_each(|(acc, (g, idx))| {
            for (&w, &j) in g.iter().zip(idx) {
                let row = &bank[j as usize * d..(j as usize + 1) * d];
                for (a, &b) in acc.iter_mut().zip(row) {
                    *a += w * b;
                }
            }
        });
    Ok(T::to_cpu_storage_owned(out))
}

/// The column indices, each checked to address one of the `n` bank rows.
fn columns<'a>(op: &'static str, s: &'a CpuStorage, l: &Layout, n: usize) -> Result<&'a [u32]> {
    let idx = slice::<u32>(op, s, l)?;
    match idx.iter().find(|&&j| j as usize >= n) {
        Some(&bad) => Err(OpError::Param {
            op,
            param: "columns",
            got: bad.to_string(),
            expected: format!("below the {n} bank rows"),
        }
        .into()),
        None => Ok(idx),
    }
}
