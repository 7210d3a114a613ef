//! The k largest similarities of each row, in no particular order: what background neighbours
//! need. A sorted top-k (la-ops' `topk`) spends most of its time sorting when k is a large
//! part of the row (4096 of 14,400 in the paper's setting); the loss does not care about the
//! order, so on the CPU the k-th largest value is found by quickselect on a copy of the row and
//! one pass in column order collects the winners.

use std::cmp::Ordering;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::cpu::{dispatch_float, slice};

const OP: &str = "background_select";

/// The `k` largest values of each row of `x` (rows, n) and their columns (u32), both
/// (rows, k). On the CPU the columns come in increasing order; ties at the k-th value go to
/// the lower columns, and values rank by IEEE total order (a positive NaN above every number).
/// Other devices use la-ops' sorted `topk`.
pub(crate) fn top_k_unordered(x: &Tensor, k: usize) -> candle_core::Result<(Tensor, Tensor)> {
    if !x.device().is_cpu() {
        return la_ops::topk(x, k);
    }
    let x = x.contiguous()?;
    let (_, n) = x.dims2()?;
    if k == 0 || k > n {
        candle_core::bail!("{OP}: k = {k} is not between 1 and the {n} columns");
    }
    let indices = x.apply_op1_no_bwd(&Select { k })?;
    let values = x.gather(&indices, 1)?;
    Ok((values, indices))
}

/// Floats ordered totally.
trait TotalOrder: WithDType {
    fn total(a: &Self, b: &Self) -> Ordering;
}

impl TotalOrder for f32 {
    fn total(a: &Self, b: &Self) -> Ordering {
        a.total_cmp(b)
    }
}

impl TotalOrder for f64 {
    fn total(a: &Self, b: &Self) -> Ordering {
        a.total_cmp(b)
    }
}

struct Select {
    k: usize,
}

impl CustomOp1 for Select {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let rows = l.dims()[0];
        let out = dispatch_float!(OP, s, select(s, l, self.k))?;
        Ok((out, Shape::from((rows, self.k))))
    }
}

fn select<T: TotalOrder>(s: &CpuStorage, l: &Layout, k: usize) -> candle_core::Result<CpuStorage> {
    let n = l.dims()[1];
    let x = slice::<T>(OP, s, l)?;
    let mut out = vec![0u32; x.len() / n * k];
    out.par_chunks_mut(k)
        .zip(x.par_chunks(n))
        .for_each_init(Vec::new, |scratch, (out, row)| {
            select_row(row, k, scratch, out)
        });
    Ok(CpuStorage::U32(out))
}

/// Writes into `out` (length k) the columns of the k largest values of `row`, increasing.
fn select_row<T: TotalOrder>(row: &[T], k: usize, scratch: &mut Vec<T>, out: &mut [u32]) {
    scratch.clear();
    scratch.extend_from_slice(row);
    let n = row.len();
    let (_, kth, larger) = scratch.select_nth_unstable_by(n - k, T::total);
    let kth = *kth;
    let above = larger
        .iter()
        .filter(|x| T::total(x, &kth) == Ordering::Greater)
        .count();
    let mut ties = k - above;
    let mut o = 0;
    for (j, x) in row.iter().enumerate() {
        let take = match T::total(x, &kth) {
            Ordering::Greater => true,
            Ordering::Equal if ties > 0 => {
                ties -= 1;
                true
            }
            _ => false,
        };
        if take {
            out[o] = j as u32;
            o += 1;
        }
    }
}
