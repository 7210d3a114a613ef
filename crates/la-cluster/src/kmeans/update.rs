//! The update step: each centroid becomes the mean of its points; an empty cluster is
//! re-seeded at the point farthest from its centroid (as scikit-learn does).

use candle_core::Tensor;
use rayon::prelude::*;

use super::Metric;
use super::points::{Points, on_cpu};
use crate::Result;

/// The per-cluster sums (f64, row-major k x d) and sizes of one group's labelling.
pub(crate) struct Sums {
    pub sums: Vec<f64>,
    pub counts: Vec<usize>,
}

/// The sums and sizes of the clusters of each labelling in `labels` (each of length n, values
/// below `k`).
pub(crate) fn cluster_sums(points: &Points, labels: &[Vec<u32>], k: usize) -> Result<Vec<Sums>> {
    let cpu = on_cpu(&points.x, |x| sums_rows(x, points.d, labels, k));
    match cpu {
        Some(sums) => Ok(sums),
        None => labels.iter().map(|l| sums_generic(points, l, k)).collect(),
    }
}

/// Accumulators of one part of the rows hold at most about this many bytes in all.
const PART_BYTES: usize = 64 << 20;
/// Rows added in f32 before the f32 sums are added into the f64 ones.
const FLUSH_ROWS: usize = 2048;

/// One pass over the rows: the rows are split into a fixed number of parts (set by the sizes,
/// not by the number of threads, so results are reproducible anywhere); each part adds every
/// row into the sums of its cluster in each labelling, in f32 over runs of at most
/// `FLUSH_ROWS` rows and in f64 beyond; the parts are added in order.
fn sums_rows(x: &[f32], d: usize, labels: &[Vec<u32>], k: usize) -> Vec<Sums> {
    let (n, width) = (x.len() / d, labels.len() * k * d);
    let parts = (n / FLUSH_ROWS)
        .min(PART_BYTES / (12 * width).max(1))
        .clamp(1, 16);
    let rows_per_part = n.div_ceil(parts).max(1);
    let partial: Vec<Vec<f64>> = x
        .par_chunks(rows_per_part * d)
        .enumerate()
        .map(|(p, rows)| {
            let (mut total, mut run) = (vec![0f64; width], vec![0f32; width]);
            for (r, rows) in rows.chunks(FLUSH_ROWS * d).enumerate() {
                let first = p * rows_per_part + r * FLUSH_ROWS;
                add_rows(&mut run, rows, d, labels, k, first);
                for (t, v) in total.iter_mut().zip(&mut run) {
                    *t += f64::from(std::mem::take(v));
                }
            }
            total
        })
        .collect();
    let mut total = vec![0f64; width];
    for part in partial {
        for (t, v) in total.iter_mut().zip(part) {
            *t += v;
        }
    }
    total
        .chunks(k * d)
        .zip(labels)
        .map(|(sums, l)| {
            let mut counts = vec![0; k];
            for &c in l {
                counts[c as usize] += 1;
            }
            Sums {
                sums: sums.to_vec(),
                counts,
            }
        })
        .collect()
}

/// Adds each row (the first being row `first` of the data) into `acc` at its cluster of every
/// labelling.
fn add_rows(acc: &mut [f32], rows: &[f32], d: usize, labels: &[Vec<u32>], k: usize, first: usize) {
    for (r, row) in rows.chunks(d).enumerate() {
        for (grp, l) in labels.iter().enumerate() {
            let at = (grp * k + l[first + r] as usize) * d;
            for (a, &v) in acc[at..at + d].iter_mut().zip(row) {
                *a += v;
            }
        }
    }
}

/// The same with tensor ops on the points' device: each feature's column is scattered (added)
/// into the k slots its labels name, la-ops' `max_unpool2d` on the (1, d, 1, n) transposed
/// points (candle's `index_add` walks the points one after the other on CUDA).
fn sums_generic(points: &Points, labels: &[u32], k: usize) -> Result<Sums> {
    let (n, d) = (points.n, points.d);
    let ids =
        Tensor::from_slice(labels, (1, 1, 1, n), points.device())?.broadcast_as((1, d, 1, n))?;
    let columns = points.x.t()?.reshape((1, d, 1, n))?;
    let sums = la_ops::max_unpool2d(&columns, &ids, (1, k))?
        .reshape((d, k))?
        .t()?;
    let sums: Vec<f32> = sums.flatten_all()?.to_vec1()?;
    let mut counts = vec![0; k];
    for &l in labels {
        counts[l as usize] += 1;
    }
    Ok(Sums {
        sums: sums.into_iter().map(f64::from).collect(),
        counts,
    })
}

/// The new centroids (k x d, row-major) of one group from its sums, after moving the points
/// farthest from their centroids (by `dist`) into the empty clusters, one each.
pub(crate) fn new_centroids(
    points: &Points,
    mut s: Sums,
    labels: &[u32],
    dist: &[f32],
    old: &[f32],
    metric: Metric,
) -> Result<Vec<f32>> {
    let d = points.d;
    reseed_empty(points, &mut s, labels, dist)?;
    let mut c = vec![0f32; old.len()];
    for (j, (c, sum)) in c.chunks_mut(d).zip(s.sums.chunks(d)).enumerate() {
        let scale = match metric {
            Metric::Euclidean => 1.0 / s.counts[j] as f64,
            Metric::Cosine => 1.0 / sum.iter().map(|v| v * v).sum::<f64>().sqrt(),
        };
        if s.counts[j] == 0 || !scale.is_finite() {
            // Only when a cluster lost its last point to a re-seed, or sums to zero.
            c.copy_from_slice(&old[j * d..(j + 1) * d]);
            continue;
        }
        for (c, &v) in c.iter_mut().zip(sum) {
            *c = (v * scale) as f32;
        }
    }
    Ok(c)
}

/// scikit-learn's relocation: the `e` points of largest distance seed the `e` empty clusters,
/// each leaving the sums of the cluster it belonged to.
fn reseed_empty(points: &Points, s: &mut Sums, labels: &[u32], dist: &[f32]) -> Result<()> {
    let empty: Vec<usize> = (0..s.counts.len()).filter(|&j| s.counts[j] == 0).collect();
    if empty.is_empty() {
        return Ok(());
    }
    let mut order: Vec<u32> = (0..dist.len() as u32).collect();
    order.sort_by(|&a, &b| {
        dist[b as usize]
            .total_cmp(&dist[a as usize])
            .then(a.cmp(&b))
    });
    order.truncate(empty.len());
    let rows = points.rows(&order)?;
    let d = points.d;
    for ((&j, &i), row) in empty.iter().zip(&order).zip(rows.chunks(d)) {
        let from = labels[i as usize] as usize;
        for (t, &v) in row.iter().enumerate() {
            s.sums[from * d + t] -= f64::from(v);
            s.sums[j * d + t] = f64::from(v);
        }
        s.counts[from] -= 1;
        s.counts[j] = 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The index-add path (what GPUs run) agrees with the CPU path.
    #[test]
    fn generic_sums_match_the_cpu_sums() {
        let (n, d, k) = (23, 4, 5);
        let x: Vec<f32> = (0..n * d).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
        let x = Tensor::from_vec(x, (n, d), &Device::Cpu).unwrap();
        let points = Points::new("x", &x, false).unwrap();
        let labels: Vec<Vec<u32>> = (0..2)
            .map(|g| (0..n).map(|i| ((i * (g + 2)) % (k - 1)) as u32).collect())
            .collect();
        let cpu = cluster_sums(&points, &labels, k).unwrap();
        for (l, s) in labels.iter().zip(&cpu) {
            let generic = sums_generic(&points, l, k).unwrap();
            assert_eq!(generic.counts, s.counts);
            assert_eq!(s.counts[k - 1], 0);
            assert_eq!(generic.sums, s.sums);
        }
    }
}
