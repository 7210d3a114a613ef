//! The assignment step: for every point and every group of `k` centroids, the nearest centroid
//! and the distance to it. The distances come from matrix products over chunks of points,
//! `|x|^2 - 2 x.c + |c|^2` (or `1 - x.c` for the cosine metric), so the full N x K block is
//! never held; the argmin runs fused on the CPU, or as tensor ops on other devices, where the
//! product itself yields `x.c - |c|^2 / 2` (a column of ones appended to the points, one of
//! `-|c|^2 / 2` to the centroids) so that one argmax pass over the block finds the nearest.

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use super::Metric;
use super::points::{Points, on_cpu};
use crate::Result;

/// Distance blocks hold about this many values unless the caller chose a chunk size.
pub(crate) const BLOCK: usize = 1 << 21;

/// The same on GPUs (1 GiB of f32), where larger products run faster and every block costs a
/// round trip for its labels.
const DEVICE_BLOCK: usize = 1 << 28;

/// The values of one distance block on `device`.
pub(crate) fn block_values(device: &Device) -> usize {
    if device.is_cpu() { BLOCK } else { DEVICE_BLOCK }
}

/// The nearest centroid of each point within each group, row-major (n, groups).
pub(crate) struct Assignment {
    /// The label (0..k) of point i in group g at `i * groups + g`.
    pub labels: Vec<u32>,
    /// The distance from point i to that centroid, same layout.
    pub dist: Vec<f32>,
}

impl Assignment {
    /// The labels and distances of group `g` among `groups`.
    pub fn group(&self, g: usize, groups: usize) -> (Vec<u32>, Vec<f32>) {
        let labels = self
            .labels
            .iter()
            .skip(g)
            .step_by(groups)
            .copied()
            .collect();
        let dist = self.dist.iter().skip(g).step_by(groups).copied().collect();
        (labels, dist)
    }
}

/// Centroids of several groups as the assignment needs them.
pub(crate) struct CentroidBlock {
    /// (groups * k, d) on the points' device.
    c: Tensor,
    /// |c|^2 of each row.
    sq_norms: Vec<f32>,
    groups: usize,
    k: usize,
}

impl CentroidBlock {
    /// `centroids` holds `groups` groups of `k` rows of `d` values, row-major.
    pub fn new(centroids: &[f32], k: usize, d: usize, device: &Device) -> Result<Self> {
        let rows = centroids.len() / d;
        let sq_norms = centroids
            .chunks(d)
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        let c = Tensor::from_slice(centroids, (rows, d), device)?;
        Ok(Self {
            c,
            sq_norms,
            groups: rows / k,
            k,
        })
    }
}

/// The nearest centroid of every point in every group of `block`.
pub(crate) fn assign(
    points: &Points,
    block: &CentroidBlock,
    metric: Metric,
    chunk_rows: Option<usize>,
) -> Result<Assignment> {
    let (n, g) = (points.n, block.groups);
    let cols = g * block.k;
    let chunk = chunk_rows
        .unwrap_or((block_values(points.device()) / cols).max(1))
        .min(n.max(1));
    let mut out = Assignment {
        labels: vec![0; n * g],
        dist: vec![0.0; n * g],
    };
    let cpu = points.device().is_cpu();
    let (x, ct) = if cpu {
        (points.x.clone(), block.c.t()?)
    } else {
        scoring_operands(points, block, metric)?
    };
    for start in (0..n).step_by(chunk) {
        let rows = chunk.min(n - start);
        let dot = la_ops::matmul(&x.narrow(0, start, rows)?, &ct)?;
        let labels = &mut out.labels[start * g..(start + rows) * g];
        let dist = &mut out.dist[start * g..(start + rows) * g];
        let x_sq = &points.sq_norms[start..start + rows];
        let fused = if cpu {
            on_cpu(&dot, |dot| {
                nearest_cpu(dot, x_sq, block, metric, labels, dist)
            })
        } else {
            None
        };
        if fused.is_none() {
            nearest_generic(&dot, x_sq, block, metric, labels, dist)?;
        }
    }
    Ok(out)
}

/// The operands whose product is the score `nearest_generic` maximises: `x.c - |c|^2 / 2` for
/// the Euclidean metric (points with a column of ones, centroids with one of `-|c|^2 / 2`),
/// `x.c` for the cosine one. Returns the points and the transposed centroids.
fn scoring_operands(
    points: &Points,
    block: &CentroidBlock,
    metric: Metric,
) -> Result<(Tensor, Tensor)> {
    if metric == Metric::Cosine {
        return Ok((points.x.clone(), block.c.t()?));
    }
    let dev = points.device();
    let ones = Tensor::ones((points.n, 1), DType::F32, dev)?;
    let x = Tensor::cat(&[&points.x, &ones], 1)?;
    let half: Vec<f32> = block.sq_norms.iter().map(|v| -0.5 * v).collect();
    let half = Tensor::from_vec(half, (block.sq_norms.len(), 1), dev)?;
    let c = Tensor::cat(&[&block.c, &half], 1)?;
    Ok((x, c.t()?))
}

/// The distance between a point and a centroid from their dot product and squared norms.
#[inline]
pub(crate) fn distance(metric: Metric, dot: f32, x_sq: f32, c_sq: f32) -> f32 {
    match metric {
        Metric::Euclidean => (x_sq + c_sq - 2.0 * dot).max(0.0),
        Metric::Cosine => (1.0 - dot).max(0.0),
    }
}

/// The argmin on the CPU, one pass over the dot products, rows in parallel; the first of
/// equally near centroids wins.
fn nearest_cpu(
    dot: &[f32],
    x_sq: &[f32],
    block: &CentroidBlock,
    metric: Metric,
    labels: &mut [u32],
    dist: &mut [f32],
) {
    let (g, k) = (block.groups, block.k);
    labels
        .par_chunks_mut(g)
        .zip(dist.par_chunks_mut(g))
        .zip(dot.par_chunks(g * k).zip(x_sq))
        .with_min_len(64)
        .for_each(|((labels, dist), (dot, &x_sq))| {
            for (grp, (label, dist)) in labels.iter_mut().zip(dist).enumerate() {
                let dots = &dot[grp * k..(grp + 1) * k];
                let c_sq = &block.sq_norms[grp * k..(grp + 1) * k];
                let (best, score) = best_score(metric, dots, c_sq);
                *label = best as u32;
                *dist = match metric {
                    Metric::Euclidean => (x_sq + score).max(0.0),
                    Metric::Cosine => (1.0 - score).max(0.0),
                };
            }
        });
}

/// The index of the nearest centroid and its score: `|c|^2 - 2 x.c` (smallest wins) for the
/// Euclidean metric, `x.c` (largest wins) for the cosine one.
#[inline]
fn best_score(metric: Metric, dots: &[f32], c_sq: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    match metric {
        Metric::Euclidean => {
            for (j, (&d, &c)) in dots.iter().zip(c_sq).enumerate() {
                let s = c - 2.0 * d;
                if s < best.1 {
                    best = (j, s);
                }
            }
        }
        Metric::Cosine => {
            best.1 = f32::NEG_INFINITY;
            for (j, &d) in dots.iter().enumerate() {
                if d > best.1 {
                    best = (j, d);
                }
            }
        }
    }
    best
}

/// The argmax of the scores of `scoring_operands` as tensor ops on their device (one pass over
/// the block, then a gather of the best); only labels and distances travel to the CPU.
fn nearest_generic(
    scores: &Tensor,
    x_sq: &[f32],
    block: &CentroidBlock,
    metric: Metric,
    labels: &mut [u32],
    dist: &mut [f32],
) -> Result<()> {
    let (rows, g, k) = (x_sq.len(), block.groups, block.k);
    let s = scores.reshape((rows, g, k))?;
    let best = s.argmax_keepdim(2)?;
    let score: Vec<f32> = s.gather(&best, 2)?.flatten_all()?.to_vec1()?;
    let best: Vec<u32> = best.flatten_all()?.to_vec1()?;
    labels.copy_from_slice(&best);
    for ((d, s), &x) in dist.chunks_mut(g).zip(score.chunks(g)).zip(x_sq) {
        for (d, &s) in d.iter_mut().zip(s) {
            *d = match metric {
                Metric::Euclidean => (x - 2.0 * s).max(0.0),
                Metric::Cosine => (1.0 - s).max(0.0),
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tensor-op path (what GPUs run) agrees with the fused CPU path.
    #[test]
    fn generic_path_matches_the_cpu_path() {
        let (n, d, k, g) = (37, 5, 4, 3);
        let x: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7919) % 101) as f32 / 10.0)
            .collect();
        let c: Vec<f32> = (0..g * k * d)
            .map(|i| ((i * 104_729) % 97) as f32 / 10.0)
            .collect();
        let x = Tensor::from_vec(x, (n, d), &Device::Cpu).unwrap();
        for metric in [Metric::Euclidean, Metric::Cosine] {
            let points = Points::new("x", &x, metric == Metric::Cosine).unwrap();
            let block = CentroidBlock::new(&c, k, d, &Device::Cpu).unwrap();
            let dot = points.x.matmul(&block.c.t().unwrap()).unwrap();
            let (mut l1, mut d1) = (vec![0; n * g], vec![0.0; n * g]);
            let (mut l2, mut d2) = (vec![0; n * g], vec![0.0; n * g]);
            let dots: Vec<f32> = dot.flatten_all().unwrap().to_vec1().unwrap();
            nearest_cpu(&dots, &points.sq_norms, &block, metric, &mut l1, &mut d1);
            let (xs, ct) = scoring_operands(&points, &block, metric).unwrap();
            let scores = xs.matmul(&ct).unwrap();
            nearest_generic(&scores, &points.sq_norms, &block, metric, &mut l2, &mut d2).unwrap();
            assert_eq!(l1, l2, "{metric:?}");
            for (a, b) in d1.iter().zip(&d2) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                    "{metric:?}: {a} vs {b}"
                );
            }
        }
    }
}
