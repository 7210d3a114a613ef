//! The leading eigenvectors of a symmetric operator: block subspace iteration with
//! Rayleigh-Ritz steps, the small projected problems solved by cyclic Jacobi rotations.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Eigenvalues (descending) and eigenvectors (row-major n x count: row i holds the i-th
/// coordinate of every vector).
#[derive(Debug, Clone, PartialEq)]
pub struct Eigen {
    /// The eigenvalues, largest first.
    pub values: Vec<f64>,
    /// The eigenvectors as the columns of an n x count row-major matrix.
    pub vectors: Vec<f64>,
}

/// The `count` largest eigenpairs of the symmetric n x n operator `apply` (which writes
/// `A x` for a row-major n x b block `x` into `y`), whose eigenvalues must lie in [0, 1] so
/// that the largest in magnitude are the largest. Iterates a block of `count + extra`
/// vectors until every wanted Ritz pair has a residual `|A v - theta v|` below `tolerance`
/// (ARPACK's criterion for unit vectors and eigenvalues near 1), or `max_iter` times.
pub fn top_eigen(
    n: usize,
    count: usize,
    apply: impl Fn(&[f64], &mut [f64], usize) + Sync,
    seed: u64,
    max_iter: usize,
    tolerance: f64,
) -> Eigen {
    let b = (count + count.max(10)).min(n);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..n * b)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    orthonormalise(&mut v, b);
    let mut y = vec![0.0; n * b];
    // Rayleigh-Ritz every few steps: it also rotates the block towards the eigenvectors.
    const RITZ_EVERY: usize = 5;
    let mut values = Vec::new();
    for it in 1..=max_iter {
        apply(&v, &mut y, b);
        std::mem::swap(&mut v, &mut y);
        orthonormalise(&mut v, b);
        if it % RITZ_EVERY == 0 || it == max_iter {
            values = rayleigh_ritz(&mut v, &mut y, b, &apply);
            if largest_residual(&v, &mut y, &values, count, b, &apply) < tolerance {
                break;
            }
        }
    }
    let vectors = v
        .chunks_exact(b)
        .flat_map(|row| row[..count].iter().copied())
        .collect();
    values.truncate(count);
    Eigen { values, vectors }
}

/// The largest `|A v_c - theta_c v_c|` over the first `count` columns of the Ritz block `v`.
fn largest_residual(
    v: &[f64],
    scratch: &mut [f64],
    values: &[f64],
    count: usize,
    b: usize,
    apply: &(impl Fn(&[f64], &mut [f64], usize) + Sync),
) -> f64 {
    apply(v, scratch, b);
    let squares = scratch.chunks_exact(b).zip(v.chunks_exact(b)).fold(
        vec![0.0; count],
        |mut acc, (av, row)| {
            for c in 0..count {
                acc[c] += (av[c] - values[c] * row[c]).powi(2);
            }
            acc
        },
    );
    squares.into_iter().fold(0.0, f64::max).sqrt()
}

/// Rotates the orthonormal block `v` (n x b) onto the Ritz vectors of `apply`, largest Ritz
/// value first; returns the Ritz values. `scratch` (n x b) is overwritten.
fn rayleigh_ritz(
    v: &mut [f64],
    scratch: &mut [f64],
    b: usize,
    apply: &(impl Fn(&[f64], &mut [f64], usize) + Sync),
) -> Vec<f64> {
    apply(v, scratch, b);
    let h = cross(v, scratch, b);
    let (values, q) = jacobi_eigen(h, b);
    let mut order: Vec<usize> = (0..b).collect();
    order.sort_by(|&i, &j| values[j].total_cmp(&values[i]));
    scratch
        .par_chunks_exact_mut(b)
        .zip(v.par_chunks_exact(b))
        .for_each(|(out, row)| {
            for (c, &k) in order.iter().enumerate() {
                out[c] = (0..b).map(|i| row[i] * q[i * b + k]).sum();
            }
        });
    v.copy_from_slice(scratch);
    order.iter().map(|&k| values[k]).collect()
}

/// `a^T c` (b x b) for row-major n x b blocks. Partial sums over fixed blocks of rows, added
/// in order: the result does not depend on how the threads split the work.
fn cross(a: &[f64], c: &[f64], b: usize) -> Vec<f64> {
    const ROWS: usize = 256;
    let partial: Vec<Vec<f64>> = a
        .par_chunks(ROWS * b)
        .zip(c.par_chunks(ROWS * b))
        .map(|(ra, rc)| {
            let mut acc = vec![0.0; b * b];
            for (xa, xc) in ra.chunks_exact(b).zip(rc.chunks_exact(b)) {
                for i in 0..b {
                    for j in 0..b {
                        acc[i * b + j] += xa[i] * xc[j];
                    }
                }
            }
            acc
        })
        .collect();
    partial.into_iter().fold(vec![0.0; b * b], |mut x, y| {
        x.iter_mut().zip(&y).for_each(|(p, q)| *p += q);
        x
    })
}

/// Makes the columns of the row-major n x b block orthonormal by Cholesky QR, twice (the
/// second pass removes what rounding left). A column that has become dependent is replaced
/// by zeros, which the next products refill.
fn orthonormalise(v: &mut [f64], b: usize) {
    for _ in 0..2 {
        let r_inv = inverse_cholesky_factor(&cross(v, v, b), b);
        v.par_chunks_exact_mut(b).for_each(|row| {
            let old = row.to_vec();
            for j in 0..b {
                row[j] = (0..=j).map(|i| old[i] * r_inv[i * b + j]).sum();
            }
        });
    }
}

/// `R^-1` (upper triangular, row-major) of the Cholesky factor `G = R^T R` of a symmetric
/// positive semi-definite b x b matrix; directions with a vanishing pivot get a zero column.
fn inverse_cholesky_factor(g: &[f64], b: usize) -> Vec<f64> {
    let mut r = vec![0.0; b * b];
    let scale = (0..b).map(|i| g[i * b + i]).fold(0.0, f64::max);
    for j in 0..b {
        for i in 0..=j {
            let s: f64 = g[i * b + j] - (0..i).map(|k| r[k * b + i] * r[k * b + j]).sum::<f64>();
            if i == j {
                r[j * b + j] = if s > 1e-12 * scale { s.sqrt() } else { 0.0 };
            } else if r[i * b + i] > 0.0 {
                r[i * b + j] = s / r[i * b + i];
            }
        }
    }
    // Back substitution, column by column of the identity.
    let mut inv = vec![0.0; b * b];
    for j in 0..b {
        for i in (0..=j).rev() {
            if r[i * b + i] == 0.0 {
                continue;
            }
            let e = if i == j { 1.0 } else { 0.0 };
            let s: f64 = (i + 1..=j).map(|k| r[i * b + k] * inv[k * b + j]).sum();
            inv[i * b + j] = (e - s) / r[i * b + i];
        }
    }
    inv
}

/// Eigenvalues and eigenvectors (columns of the row-major result) of a symmetric b x b matrix
/// by cyclic Jacobi rotations, to machine precision.
pub fn jacobi_eigen(mut a: Vec<f64>, b: usize) -> (Vec<f64>, Vec<f64>) {
    let mut q = vec![0.0; b * b];
    (0..b).for_each(|i| q[i * b + i] = 1.0);
    for _sweep in 0..100 {
        let off: f64 = (0..b)
            .flat_map(|i| (0..b).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * b + j].powi(2))
            .sum();
        let total: f64 = a.iter().map(|x| x * x).sum();
        if off <= 1e-30 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..b {
            for r in p + 1..b {
                rotate(&mut a, &mut q, b, p, r);
            }
        }
    }
    ((0..b).map(|i| a[i * b + i]).collect(), q)
}

/// One Jacobi rotation zeroing `a[p][r]`, applied to `a` on both sides and to `q` on the right.
fn rotate(a: &mut [f64], q: &mut [f64], b: usize, p: usize, r: usize) {
    let apr = a[p * b + r];
    if apr == 0.0 {
        return;
    }
    let theta = (a[r * b + r] - a[p * b + p]) / (2.0 * apr);
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let t = if theta == 0.0 { 1.0 } else { t };
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for k in 0..b {
        let (akp, akr) = (a[k * b + p], a[k * b + r]);
        a[k * b + p] = c * akp - s * akr;
        a[k * b + r] = s * akp + c * akr;
    }
    for k in 0..b {
        let (apk, ark) = (a[p * b + k], a[r * b + k]);
        a[p * b + k] = c * apk - s * ark;
        a[r * b + k] = s * apk + c * ark;
    }
    for k in 0..b {
        let (qkp, qkr) = (q[k * b + p], q[k * b + r]);
        q[k * b + p] = c * qkp - s * qkr;
        q[k * b + r] = s * qkp + c * qkr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symmetric matrix with known eigenpairs: Q diag(values) Q^T for a rotation Q.
    fn known(values: &[f64], seed: u64) -> (Vec<f64>, Vec<f64>) {
        let b = values.len();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut q: Vec<f64> = (0..b * b)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        orthonormalise(&mut q, b);
        let mut a = vec![0.0; b * b];
        for i in 0..b {
            for j in 0..b {
                a[i * b + j] = (0..b)
                    .map(|k| q[i * b + k] * values[k] * q[j * b + k])
                    .sum();
            }
        }
        (a, q)
    }

    #[test]
    fn cholesky_qr_gives_orthonormal_columns_spanning_the_input() {
        let (n, b) = (50, 6);
        let mut rng = StdRng::seed_from_u64(1);
        let x: Vec<f64> = (0..n * b)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let mut v = x.clone();
        orthonormalise(&mut v, b);
        let g = cross(&v, &v, b);
        for i in 0..b {
            for j in 0..b {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (g[i * b + j] - want).abs() < 1e-12,
                    "({i},{j}) {}",
                    g[i * b + j]
                );
            }
        }
        // x = v (v^T x): the span is kept.
        let p = cross(&v, &x, b);
        for r in 0..n {
            for j in 0..b {
                let back: f64 = (0..b).map(|k| v[r * b + k] * p[k * b + j]).sum();
                assert!((back - x[r * b + j]).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn jacobi_finds_known_eigenpairs() {
        let values = [3.0, -1.0, 0.5, 0.5, 2.0];
        let (a, _) = known(&values, 2);
        let (got, q) = jacobi_eigen(a.clone(), 5);
        let mut sorted = got.clone();
        sorted.sort_by(f64::total_cmp);
        for (g, w) in sorted.iter().zip([-1.0, 0.5, 0.5, 2.0, 3.0]) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
        // A q_k = lambda_k q_k for every column.
        for k in 0..5 {
            for i in 0..5 {
                let aq: f64 = (0..5).map(|j| a[i * 5 + j] * q[j * 5 + k]).sum();
                assert!((aq - got[k] * q[i * 5 + k]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn subspace_iteration_finds_the_leading_eigenpairs_of_a_dense_operator() {
        let n = 40;
        // Distinct eigenvalues in (0, 1], close together near the top as a graph's are.
        let values: Vec<f64> = (0..n).map(|i| 0.97f64.powi(i as i32)).collect();
        let (a, q) = known(&values, 3);
        let apply = |x: &[f64], y: &mut [f64], b: usize| {
            for i in 0..n {
                for c in 0..b {
                    y[i * b + c] = (0..n).map(|j| a[i * n + j] * x[j * b + c]).sum();
                }
            }
        };
        let e = top_eigen(n, 4, apply, 7, 2000, 1e-12);
        for (k, value) in e.values.iter().enumerate() {
            assert!(
                (value - values[k]).abs() < 1e-8,
                "{k}: {value} vs {}",
                values[k]
            );
            // The vector matches the known one up to sign.
            let dot: f64 = (0..n).map(|i| e.vectors[i * 4 + k] * q[i * n + k]).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-6, "{k}: |dot| = {dot}");
        }
    }
}
