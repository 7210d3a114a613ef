//! Initial centroids: greedy k-means++ or uniformly drawn points, for several runs at once so
//! that the runs share each matrix product.

use candle_core::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, seq::index};
use rayon::prelude::*;

use super::assign::{block_values, distance};
use super::points::Points;
use super::{Init, Metric};
use crate::Result;

/// The first centroids (k x d, row-major) of each run, one RNG per run.
pub(crate) fn init(
    points: &Points,
    k: usize,
    init: Init,
    rngs: &mut [StdRng],
    chunk_rows: Option<usize>,
) -> Result<Vec<Vec<f32>>> {
    match init {
        Init::Random => rngs
            .iter_mut()
            .map(|rng| {
                let ids: Vec<u32> = index::sample(rng, points.n, k)
                    .into_iter()
                    .map(|i| i as u32)
                    .collect();
                points.rows(&ids)
            })
            .collect(),
        Init::KMeansPlusPlus => plus_plus(points, k, rngs, chunk_rows),
    }
}

/// The state of one run of k-means++.
struct Run<'a> {
    rng: &'a mut StdRng,
    /// The squared distance of every point to its nearest chosen centroid.
    closest: Vec<f32>,
    chosen: Vec<u32>,
    candidates: Vec<u32>,
}

/// Greedy k-means++ (scikit-learn's `_kmeans_plusplus`): at each step every run draws
/// `2 + ln k` candidates with probability proportional to `closest` and keeps the one that
/// lowers the total the most.
fn plus_plus(
    points: &Points,
    k: usize,
    rngs: &mut [StdRng],
    chunk_rows: Option<usize>,
) -> Result<Vec<Vec<f32>>> {
    let trials = 2 + (k as f64).ln() as usize;
    let mut runs: Vec<Run> = rngs
        .iter_mut()
        .map(|rng| {
            let first = rng.random_range(0..points.n) as u32;
            Run {
                rng,
                closest: Vec::new(),
                chosen: vec![first],
                candidates: vec![first],
            }
        })
        .collect();
    let first: Vec<u32> = runs.iter().map(|r| r.chosen[0]).collect();
    let dist = distances_to(points, &first, chunk_rows)?;
    for (g, run) in runs.iter_mut().enumerate() {
        run.closest = dist.iter().skip(g).step_by(first.len()).copied().collect();
    }
    for _ in 1..k {
        for run in &mut runs {
            run.candidates = draw(run.rng, &run.closest, trials);
        }
        let ids: Vec<u32> = runs
            .iter()
            .flat_map(|r| r.candidates.iter().copied())
            .collect();
        let dist = distances_to(points, &ids, chunk_rows)?;
        let cols = ids.len();
        runs.par_iter_mut()
            .enumerate()
            .for_each(|(g, run)| keep_best(run, &dist, cols, g * trials));
    }
    runs.iter().map(|r| points.rows(&r.chosen)).collect()
}

/// `trials` indices drawn with probability proportional to `weights` (the first index whose
/// cumulative weight reaches a uniform draw, as numpy's `searchsorted`).
fn draw(rng: &mut StdRng, weights: &[f32], trials: usize) -> Vec<u32> {
    let mut cumulative = Vec::with_capacity(weights.len());
    let mut total = 0f64;
    for &w in weights {
        total += f64::from(w);
        cumulative.push(total);
    }
    (0..trials)
        .map(|_| {
            let r = rng.random::<f64>() * total;
            let i = cumulative.partition_point(|&c| c < r);
            i.min(weights.len() - 1) as u32
        })
        .collect()
}

/// Keeps the candidate of `run` (columns `offset..` of `dist`, n x cols) whose addition
/// leaves the smallest total of `closest`; the first on ties.
fn keep_best(run: &mut Run, dist: &[f32], cols: usize, offset: usize) {
    let trials = run.candidates.len();
    let mut totals = vec![0f64; trials];
    for (row, &c) in dist.chunks(cols).zip(&run.closest) {
        for (t, total) in totals.iter_mut().enumerate() {
            *total += f64::from(row[offset + t].min(c));
        }
    }
    let best = (0..trials).fold(0, |b, t| if totals[t] < totals[b] { t } else { b });
    for (row, c) in dist.chunks(cols).zip(&mut run.closest) {
        *c = c.min(row[offset + best]);
    }
    run.chosen.push(run.candidates[best]);
}

/// Squared Euclidean distances (n x ids.len(), row-major, on the CPU) from every point to the
/// points `ids`, by matrix products over chunks of points.
fn distances_to(points: &Points, ids: &[u32], chunk_rows: Option<usize>) -> Result<Vec<f32>> {
    let cols = ids.len();
    let c = points.rows(ids)?;
    let c_sq: Vec<f32> = c
        .chunks(points.d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let ct = Tensor::from_slice(&c, (cols, points.d), points.device())?.t()?;
    let chunk = chunk_rows
        .unwrap_or((block_values(points.device()) / cols).max(1))
        .min(points.n.max(1));
    let mut out = Vec::with_capacity(points.n * cols);
    for start in (0..points.n).step_by(chunk) {
        let rows = chunk.min(points.n - start);
        let dot = la_ops::matmul(&points.x.narrow(0, start, rows)?, &ct)?;
        let dot: Vec<f32> = dot.flatten_all()?.to_vec1()?;
        for (row, &x_sq) in dot.chunks(cols).zip(&points.sq_norms[start..start + rows]) {
            out.extend(
                row.iter()
                    .zip(&c_sq)
                    .map(|(&d, &c)| distance(Metric::Euclidean, d, x_sq, c)),
            );
        }
    }
    Ok(out)
}
