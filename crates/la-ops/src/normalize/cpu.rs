//! CPU kernels of row L2-normalisation, rayon-parallel over rows.

use candle_core::{CpuStorage, Layout, Result};
use rayon::prelude::*;

use crate::cpu::{Float, dot, slice};

/// Rows are handed to threads in groups of about this many elements.
const GRAIN: usize = 1 << 14;

/// `y = x / max(|x|, eps)` for each `cols`-long row of the contiguous input.
pub(crate) fn forward<T: Float>(
    op: &'static str,
    storage: &CpuStorage,
    layout: &Layout,
    cols: usize,
    eps: f64,
) -> Result<CpuStorage> {
    let x = slice::<T>(op, storage, layout)?;
    let eps = <T as candle_core::WithDType>::from_f64(eps);
    let mut out = vec![T::zero(); x.len()];
    if cols > 0 {
        let step = cols * (GRAIN / cols).max(1);
        out.par_chunks_mut(step)
            .zip(x.par_chunks(step))
            .for_each(|(out, x)| {
                for (y, x) in out.chunks_mut(cols).zip(x.chunks(cols)) {
                    let scale = num_traits::Float::max(norm(x), eps).recip();
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = x * scale;
                    }
                }
            });
    }
    Ok(T::to_cpu_storage_owned(out))
}

/// The input gradient of the forward pass, given the input `x` and the output gradient `g`:
/// `g / n - x (x . g) / n^3` where `n = |x| >= eps`, and `g / eps` where `|x| < eps` (there
/// the output is `x / eps`).
pub(crate) fn backward<T: Float>(
    op: &'static str,
    x: (&CpuStorage, &Layout),
    g: (&CpuStorage, &Layout),
    cols: usize,
    eps: f64,
) -> Result<CpuStorage> {
    let x = slice::<T>(op, x.0, x.1)?;
    let g = slice::<T>(op, g.0, g.1)?;
    let eps = <T as candle_core::WithDType>::from_f64(eps);
    let mut out = vec![T::zero(); x.len()];
    if cols > 0 {
        let step = cols * (GRAIN / cols).max(1);
        out.par_chunks_mut(step)
            .zip(x.par_chunks(step).zip(g.par_chunks(step)))
            .for_each(|(out, (x, g))| {
                for (dx, (x, g)) in out.chunks_mut(cols).zip(x.chunks(cols).zip(g.chunks(cols))) {
                    row_backward(dx, x, g, eps);
                }
            });
    }
    Ok(T::to_cpu_storage_owned(out))
}

fn row_backward<T: Float>(dx: &mut [T], x: &[T], g: &[T], eps: T) {
    let n = norm(x);
    if n < eps {
        let scale = eps.recip();
        for (dx, &g) in dx.iter_mut().zip(g) {
            *dx = g * scale;
        }
        return;
    }
    let inv = n.recip();
    let xg = dot(x, g);
    let along = xg * inv * inv * inv;
    for (dx, (&x, &g)) in dx.iter_mut().zip(x.iter().zip(g)) {
        *dx = g * inv - x * along;
    }
}

fn norm<T: Float>(x: &[T]) -> T {
    dot(x, x).sqrt()
}
