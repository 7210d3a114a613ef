//! CPU kernel of top-k: a linear scan per row that keeps a small candidate buffer behind a
//! threshold, rayon-parallel over rows, or over chunks of a row when there are few rows.

use std::cmp::Ordering;

use candle_core::{CpuStorage, Layout, Result};
use rayon::prelude::*;

use crate::cpu::{Float, slice};

/// Below this many elements a row is never split across threads.
const MIN_SPLIT: usize = 1 << 15;

/// The indices (u32, `rows x k`, best first) of the `k` largest elements of each row of the
/// contiguous input, whose last dimension has `cols` elements.
pub(crate) fn topk_indices<T: Float>(
    op: &'static str,
    storage: &CpuStorage,
    layout: &Layout,
    cols: usize,
    k: usize,
) -> Result<CpuStorage> {
    let x = slice::<T>(op, storage, layout)?;
    let rows = x.len() / cols;
    let mut out = vec![0u32; rows * k];
    let threads = rayon::current_num_threads();
    if rows >= 2 * threads || cols < 2 * MIN_SPLIT.max(8 * k) {
        out.par_chunks_mut(k)
            .zip(x.par_chunks(cols))
            .for_each_init(Vec::new, |buf, (out, row)| {
                scan(row, 0, k, buf);
                write_indices(buf, out);
            });
    } else {
        let chunk = cols.div_ceil(4 * threads).max(MIN_SPLIT).max(8 * k);
        out.par_chunks_mut(k)
            .zip(x.par_chunks(cols))
            .for_each(|(out, row)| {
                let mut merged = split_scan(row, chunk, k);
                select(&mut merged, k);
                write_indices(&merged, out);
            });
    }
    Ok(CpuStorage::U32(out))
}

/// The top `k` of each `chunk`-long piece of `row`, scanned in parallel, concatenated.
fn split_scan<T: Float>(row: &[T], chunk: usize, k: usize) -> Vec<(T, u32)> {
    row.par_chunks(chunk)
        .enumerate()
        .map(|(c, piece)| {
            let mut buf = Vec::new();
            scan(piece, c * chunk, k, &mut buf);
            buf
        })
        .flatten_iter()
        .collect()
}

fn write_indices<T>(best: &[(T, u32)], out: &mut [u32]) {
    for (o, &(_, i)) in out.iter_mut().zip(best) {
        *o = i;
    }
}

/// The rank order of (value, index) pairs: larger values first, NaN above every number, and
/// the lower index first among equal values (all NaNs count as equal; so do -0.0 and 0.0).
#[inline]
fn rank<T: Float>(a: &(T, u32), b: &(T, u32)) -> Ordering {
    match b.0.partial_cmp(&a.0) {
        Some(Ordering::Equal) => a.1.cmp(&b.1),
        Some(order) => order,
        None => rank_nan(a, b),
    }
}

/// `rank` when at least one value is NaN.
#[cold]
fn rank_nan<T: Float>(a: &(T, u32), b: &(T, u32)) -> Ordering {
    match (a.0.is_nan(), b.0.is_nan()) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.1.cmp(&b.1),
    }
}

/// Keeps in `buf` only its best `k` entries (or all if fewer), sorted best first.
fn select<T: Float>(buf: &mut Vec<(T, u32)>, k: usize) {
    compact(buf, k);
    buf.sort_unstable_by(rank);
}

/// Keeps in `buf` only its best `k` entries, in no particular order except that the k-th best
/// comes last. O(len).
fn compact<T: Float>(buf: &mut Vec<(T, u32)>, k: usize) {
    if buf.len() > k {
        buf.select_nth_unstable_by(k - 1, rank);
        buf.truncate(k);
    }
}

/// Whether `v` beats a (non-NaN) threshold that has a lower index: above it, or NaN. Without
/// short-circuit, so that a block of tests vectorises.
#[inline]
fn enters<T: Float>(v: T, threshold: T) -> bool {
    (v > threshold) | v.is_nan()
}

/// Elements tested against the threshold at once (a vectorisable block).
const BLOCK: usize = 32;

/// Leaves in `buf` the best `min(k, row.len())` (value, offset + position) pairs of `row`,
/// sorted best first.
///
/// Elements arrive in increasing index order, so a newcomer that only ties with the current
/// k-th best loses (its index is higher) and can be skipped: after each compaction of the
/// buffer to its best `k`, only values strictly above the k-th (or NaN above a number) enter,
/// and blocks without any such value are skipped by one vectorised test. Each compaction costs
/// O(capacity) and removes at least `capacity - k >= k` entries, so a row costs O(len)
/// whatever its order.
fn scan<T: Float>(row: &[T], offset: usize, k: usize, buf: &mut Vec<(T, u32)>) {
    let capacity = (2 * k).max(k + 256);
    buf.clear();
    buf.reserve(capacity + BLOCK);
    let mut i = capacity.min(row.len());
    buf.extend(
        row[..i]
            .iter()
            .enumerate()
            .map(|(j, &v)| (v, (offset + j) as u32)),
    );
    while i < row.len() {
        compact(buf, k);
        let threshold = buf[k - 1].0;
        if threshold.is_nan() {
            // Nothing that comes later can beat a NaN with a lower index.
            break;
        }
        while i < row.len() && buf.len() < capacity {
            let block = &row[i..(i + BLOCK).min(row.len())];
            if block
                .iter()
                .fold(false, |hit, &v| hit | enters(v, threshold))
            {
                for (j, &v) in block.iter().enumerate() {
                    if enters(v, threshold) {
                        buf.push((v, (offset + i + j) as u32));
                    }
                }
            }
            i += block.len();
        }
    }
    select(buf, k);
}
