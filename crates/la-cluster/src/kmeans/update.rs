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
/// One column block's accumulators (an f32 and an f64 sum of its columns for every cluster of
/// every labelling) stay within about this many bytes, the L2 cache of a core.
const BLOCK_BYTES: usize = 512 << 10;

/// One pass over the rows: the rows are split into a fixed number of parts (set by the sizes,
/// not by the number of threads, so results are reproducible anywhere); each part adds every
/// row into the sums of its cluster in each labelling, in f32 over runs of at most
/// `FLUSH_ROWS` rows and in f64 beyond; the parts are added in order. The columns are cut into
/// blocks whose sums stay in cache, and the (part, block) pairs run in parallel: every sum
/// still adds the same values in the same order, whatever the blocks.
fn sums_rows(x: &[f32], d: usize, labels: &[Vec<u32>], k: usize) -> Vec<Sums> {
    let slots = labels.len() * k;
    let (n, width) = (x.len() / d.max(1), slots * d);
    let rows_per_part = rows_per_part(n, width);
    let block = (BLOCK_BYTES / (12 * slots).max(1)).max(16);
    let tasks: Vec<(usize, usize, usize)> = (0..n.div_ceil(rows_per_part))
        .flat_map(|p| {
            (0..d)
                .step_by(block)
                .map(move |c0| (p, c0, (c0 + block).min(d)))
        })
        .collect();
    let partial: Vec<Vec<f64>> = tasks
        .par_iter()
        .map(|&(p, c0, c1)| {
            let rows = p * rows_per_part..((p + 1) * rows_per_part).min(n);
            let (mut total, mut run) =
                (vec![0f64; slots * (c1 - c0)], vec![0f32; slots * (c1 - c0)]);
            for first in rows.clone().step_by(FLUSH_ROWS) {
                let last = (first + FLUSH_ROWS).min(rows.end);
                add_rows(&mut run, x, (first..last, c0..c1), d, labels, k);
                for (t, v) in total.iter_mut().zip(&mut run) {
                    *t += f64::from(std::mem::take(v));
                }
            }
            total
        })
        .collect();
    let mut total = vec![0f64; width];
    for (&(_, c0, c1), part) in tasks.iter().zip(partial) {
        for (slot, sums) in part.chunks(c1 - c0).enumerate() {
            let dst = &mut total[slot * d + c0..slot * d + c1];
            dst.iter_mut().zip(sums).for_each(|(t, v)| *t += v);
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

/// Rows per part of `n` rows whose sums are `width` values: at least `FLUSH_ROWS` rows and at
/// most about `PART_BYTES` of accumulators a part, 1 to 16 parts.
fn rows_per_part(n: usize, width: usize) -> usize {
    let parts = (n / FLUSH_ROWS)
        .min(PART_BYTES / (12 * width).max(1))
        .clamp(1, 16);
    n.div_ceil(parts).max(1)
}

/// Adds columns `cols` of rows `rows` of the (n, d) data into `acc`, which holds those columns
/// of every cluster of every labelling.
fn add_rows(
    acc: &mut [f32],
    x: &[f32],
    (rows, cols): (std::ops::Range<usize>, std::ops::Range<usize>),
    d: usize,
    labels: &[Vec<u32>],
    k: usize,
) {
    let w = cols.len();
    for r in rows {
        let row = &x[r * d + cols.start..r * d + cols.end];
        for (grp, l) in labels.iter().enumerate() {
            let at = (grp * k + l[r] as usize) * w;
            for (a, &v) in acc[at..at + w].iter_mut().zip(row) {
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

    /// The sums as one thread adds them: parts of the rows in order, each in f32 runs of
    /// `FLUSH_ROWS` rows flushed into f64, every column of a row at once.
    fn sequential_sums(x: &[f32], d: usize, labels: &[Vec<u32>], k: usize) -> Vec<f64> {
        let (n, width) = (x.len() / d, labels.len() * k * d);
        let (mut total, rows_per_part) = (vec![0f64; width], rows_per_part(n, width));
        for (p, part) in x.chunks(rows_per_part * d).enumerate() {
            let (mut part_total, mut run) = (vec![0f64; width], vec![0f32; width]);
            for (r, row) in part.chunks(d).enumerate() {
                let first = p * rows_per_part;
                for (grp, l) in labels.iter().enumerate() {
                    let at = (grp * k + l[first + r] as usize) * d;
                    run[at..at + d]
                        .iter_mut()
                        .zip(row)
                        .for_each(|(a, &v)| *a += v);
                }
                if (r + 1) % FLUSH_ROWS == 0 || r + 1 == part.len() / d {
                    for (t, v) in part_total.iter_mut().zip(&mut run) {
                        *t += f64::from(std::mem::take(v));
                    }
                }
            }
            total.iter_mut().zip(part_total).for_each(|(t, v)| *t += v);
        }
        total
    }

    #[test]
    fn blocked_sums_are_the_sequential_sums_bit_for_bit() {
        // Several parts and flushes (n), several column blocks (d with 3 x 40 slots).
        for &(n, d, groups, k) in &[(9000, 3, 2, 4), (5000, 1500, 3, 40), (100, 7, 1, 1)] {
            let x: Vec<f32> = (0..n * d)
                .map(|i| ((i * 7919) % 10_007) as f32 * 1.3e-3 - 6.0)
                .collect();
            let labels: Vec<Vec<u32>> = (0..groups)
                .map(|g| (0..n).map(|i| ((i * (g + 3) + i / 7) % k) as u32).collect())
                .collect();
            let want = sequential_sums(&x, d, &labels, k);
            let got: Vec<f64> = sums_rows(&x, d, &labels, k)
                .into_iter()
                .flat_map(|s| s.sums)
                .collect();
            assert!(got == want, "{n} x {d}, {groups} x {k}");
        }
    }

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
