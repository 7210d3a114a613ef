//! CPU kernels of the masked softmax mass: the row losses and their gradient, rows in
//! parallel, sums in f64.

use candle_core::{CpuStorage, Layout, Result};
use rayon::prelude::*;

use crate::cpu::{Float, slice};

/// The terms `e_j = exp(s_j / tau - max)` of one row are computed in the row's precision (f32's
/// exponential is about twice as fast as f64's) and summed in f64.
fn term<T: Float>(x: T, tau: T, shift: T) -> T {
    (x / tau - shift).exp()
}

/// The largest logit of a row.
fn shift<T: Float>(s: &[T], tau: T) -> T {
    s.iter()
        .map(|&x| x / tau)
        .fold(T::of(f64::NEG_INFINITY), |a, b| if b > a { b } else { a })
}

/// The sum of all terms and the sum of the masked terms of one row.
fn row_sums<T: Float>(s: &[T], m: &[T], tau: T) -> (f64, f64) {
    let shift = shift(s, tau);
    let (mut den, mut num) = (0.0, 0.0);
    for (&x, c) in s.iter().zip(m) {
        let e = term(x, tau, shift).f64();
        den += e;
        num += c.f64() * e;
    }
    (den, num)
}

/// The loss of each row of the contiguous (rows, k) logits `s` and mask `m`.
pub(super) fn forward<T: Float>(
    op: &'static str,
    (s, ls): (&CpuStorage, &Layout),
    (m, lm): (&CpuStorage, &Layout),
    tau: f64,
    eps: f64,
) -> Result<CpuStorage> {
    let k = ls.dims()[1].max(1);
    let (s, m) = (slice::<T>(op, s, ls)?, slice::<T>(op, m, lm)?);
    let out: Vec<T> = s
        .par_chunks(k)
        .zip(m.par_chunks(k))
        .map(|(s, m)| {
            let (den, num) = row_sums(s, m, T::of(tau));
            T::of(-(num / den + eps).ln())
        })
        .collect();
    Ok(T::to_cpu_storage_owned(out))
}

/// The gradient with respect to `s` given the gradient `g` (rows) of the row losses.
pub(super) fn backward<T: Float>(
    op: &'static str,
    (s, ls): (&CpuStorage, &Layout),
    (m, lm): (&CpuStorage, &Layout),
    (g, lg): (&CpuStorage, &Layout),
    tau: f64,
    eps: f64,
) -> Result<CpuStorage> {
    let k = ls.dims()[1].max(1);
    let (s, m, g) = (
        slice::<T>(op, s, ls)?,
        slice::<T>(op, m, lm)?,
        slice::<T>(op, g, lg)?,
    );
    let mut out = vec![T::zero(); s.len()];
    out.par_chunks_mut(k)
        .zip(s.par_chunks(k).zip(m.par_chunks(k)))
        .zip(g.par_iter())
        .for_each_init(Vec::new, |e, ((out, (s, m)), g)| {
            // One exponential per element: keep the terms, then scale them.
            let shift = s
                .iter()
                .map(|x| x.f64() / tau)
                .fold(f64::NEG_INFINITY, f64::max);
            e.clear();
            e.extend(s.iter().map(|x| (x.f64() / tau - shift).exp()));
            let den: f64 = e.iter().sum();
            let num: f64 = e.iter().zip(m).map(|(e, c)| e * c.f64()).sum();
            let r = num / den;
            let scale = g.f64() / (tau * den * (r + eps));
            for ((o, e), c) in out.iter_mut().zip(e.iter()).zip(m) {
                *o = T::of(scale * e * (r - c.f64()));
            }
        });
    Ok(T::to_cpu_storage_owned(out))
}
