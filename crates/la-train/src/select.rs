//! The k largest similarities of each row, in no particular order: what background neighbours
//! need. A sorted top-k (la-ops' `topk`) spends most of its time sorting when k is a large
//! part of the row (4096 of 14,400 in the paper's setting); the loss does not care about the
//! order, so on the CPU the k-th largest value is found by a radix selection on
//! order-preserving integer keys and one pass in column order collects the winners.

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

/// Floats with an order-preserving integer key: `key(a) < key(b)` exactly when `a < b` in
/// IEEE total order (so a positive NaN is above every number).
trait TotalOrder: WithDType {
    /// The number of significant bits of the key.
    const BITS: u32;
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

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The reference: a stable sort by IEEE total order, largest first; the first k columns,
    /// then in increasing order.
    fn naive(row: &[f32], k: usize) -> Vec<u32> {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let mut best: Vec<u32> = order[..k].iter().map(|&j| j as u32).collect();
        best.sort();
        best
    }

    #[test]
    fn radix_selection_matches_a_total_order_sort() {
        let mut rng = StdRng::seed_from_u64(3);
        let special = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e-30,
            -1e-30,
        ];
        for (n, k) in [
            (1, 1),
            (7, 3),
            (300, 1),
            (300, 150),
            (300, 299),
            (1000, 1000),
        ] {
            // Many repeated values (ties), special values, and random ones of both signs.
            let row: Vec<f32> = (0..n)
                .map(|_| match rng.random_range(0..4) {
                    0 => special[rng.random_range(0..special.len())],
                    1 => rng.random_range(0..5) as f32 * 0.25,
                    _ => rng.random_range(-2.0..2.0),
                })
                .collect();
            let x = Tensor::from_vec(row.clone(), (1, n), &Device::Cpu).unwrap();
            let (values, idx) = super::top_k_unordered(&x, k).unwrap();
            let idx = idx.to_vec2::<u32>().unwrap().remove(0);
            assert_eq!(idx, naive(&row, k), "n {n}, k {k}");
            let values = values.to_vec2::<f32>().unwrap().remove(0);
            for (v, &j) in values.iter().zip(&idx) {
                assert_eq!(v.to_bits(), row[j as usize].to_bits());
            }
        }
    }
}
