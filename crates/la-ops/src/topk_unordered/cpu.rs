//! CPU kernel of the unordered top-k: the k-th largest value of each row by a radix selection on
//! order-preserving integer keys, then one pass in column order that collects the winners.

use candle_core::{CpuStorage, Layout, Result};
use rayon::prelude::*;

use crate::cpu::{Float, slice};

/// Floats with an order-preserving integer key: `key(a) < key(b)` exactly when `a < b` in
/// IEEE total order (so a positive NaN is above every number).
pub(crate) trait TotalOrder: Float {
    /// The number of significant bits of the key.
    const BITS: u32;
    /// The key of the value.
    fn key(self) -> u64;
}

impl TotalOrder for f32 {
    const BITS: u32 = 32;
    fn key(self) -> u64 {
        let b = self.to_bits();
        u64::from(if b >> 31 == 1 { !b } else { b | (1 << 31) })
    }
}

impl TotalOrder for f64 {
    const BITS: u32 = 64;
    fn key(self) -> u64 {
        let b = self.to_bits();
        if b >> 63 == 1 { !b } else { b | (1 << 63) }
    }
}

/// The positions (u32, `rows x k`, increasing within a row) of the `k` largest elements of
/// each `cols`-long row of the contiguous input, rows in parallel.
pub(crate) fn select<T: TotalOrder>(
    op: &'static str,
    storage: &CpuStorage,
    layout: &Layout,
    cols: usize,
    k: usize,
) -> Result<CpuStorage> {
    let x = slice::<T>(op, storage, layout)?;
    let mut out = vec![0u32; x.len() / cols * k];
    out.par_chunks_mut(k)
        .zip(x.par_chunks(cols))
        .for_each_init(Vec::new, |candidates, (out, row)| {
            select_row(row, k, candidates, out)
        });
    Ok(CpuStorage::U32(out))
}

/// Writes into `out` the columns of the k largest values of `row`, in increasing order.
///
/// A radix selection on 8-bit digits of the keys from the top: the first pass histograms the
/// top digit straight from the row, and only the keys of the bucket holding the k-th largest
/// are kept as candidates for the next digits; a last pass in column order collects the
/// winners. A row costs two or three linear passes whatever its values.
fn select_row<T: TotalOrder>(row: &[T], k: usize, candidates: &mut Vec<u64>, out: &mut [u32]) {
    let shift = T::BITS - 8;
    let digit = |key: u64| ((key >> shift) & 0xff) as usize;
    let hist = histogram(row, |x: T| digit(x.key()));
    let (bucket, above, rest) = bucket_of(&hist, k);
    candidates.clear();
    candidates.extend(
        row.iter()
            .map(|x| x.key())
            .filter(|&key| digit(key) == bucket),
    );
    let (kth, above_in_bucket) = kth_largest(candidates, rest, shift);
    emit(row, kth, k - above - above_in_bucket, out);
}

/// Counts of the digit of every element, in four interleaved tables so that runs of equal
/// digits do not wait on each other's increments.
fn histogram<X: Copy>(xs: &[X], digit: impl Fn(X) -> usize) -> [usize; 256] {
    let mut h = [[0u32; 256]; 4];
    let mut quads = xs.chunks_exact(4);
    for q in &mut quads {
        h[0][digit(q[0])] += 1;
        h[1][digit(q[1])] += 1;
        h[2][digit(q[2])] += 1;
        h[3][digit(q[3])] += 1;
    }
    for &x in quads.remainder() {
        h[0][digit(x)] += 1;
    }
    std::array::from_fn(|b| (h[0][b] + h[1][b] + h[2][b] + h[3][b]) as usize)
}

/// The bucket holding the k-th largest element (1 <= k <= total), how many elements lie in
/// higher buckets, and the rank of the k-th largest within its bucket.
fn bucket_of(hist: &[usize; 256], mut k: usize) -> (usize, usize, usize) {
    let mut above = 0;
    let mut bucket = 255;
    while hist[bucket] < k {
        k -= hist[bucket];
        above += hist[bucket];
        bucket -= 1;
    }
    (bucket, above, k)
}

/// The k-th largest of `keys` (1 <= k <= len), which agree on every bit from `bits` up, and
/// how many are strictly larger: radix selection on the lower digits. `keys` is consumed.
fn kth_largest(keys: &mut Vec<u64>, mut k: usize, bits: u32) -> (u64, usize) {
    let mut above = 0;
    let mut shift = bits;
    while shift > 0 && keys.len() > 1 {
        shift = shift.saturating_sub(8);
        let digit = |key: u64| ((key >> shift) & 0xff) as usize;
        let (bucket, higher, rest) = bucket_of(&histogram(keys, digit), k);
        above += higher;
        k = rest;
        keys.retain(|&key| digit(key) == bucket);
    }
    // All remaining keys are equal (or one is left): it is the k-th largest.
    (keys[0], above)
}

/// Writes into `out` the columns of `row` whose key is above `kth`, and the first `ties`
/// columns whose key equals it, in increasing order.
fn emit<T: TotalOrder>(row: &[T], kth: u64, mut ties: usize, out: &mut [u32]) {
    let mut o = 0;
    for (j, &x) in row.iter().enumerate() {
        let key = x.key();
        let take = key > kth || (key == kth && ties > 0);
        if key == kth && take {
            ties -= 1;
        }
        if take {
            out[o] = j as u32;
            o += 1;
        }
    }
}
