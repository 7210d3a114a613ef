//! CPU kernel of the matrix product: the output cut into one block per thread (and, for few
//! rows and a long inner dimension, that dimension into two parts), each block a
//! single-threaded call of one GEMM kernel, chosen once for the whole product.

use candle_core::{CpuStorage, Layout, Result};
use rayon::prelude::*;

use crate::cpu::gemm::{Kernel, Mat, matmul};
use crate::cpu::{Float, Shared};

/// Block edges fall on multiples of this many columns (or rows), the width of the `gemm`
/// crate's AVX-512 micro-kernel, so no block ends in a partial tile it could have filled.
const ALIGN: usize = 16;
/// Products of fewer multiply-adds run as one call: waking the other threads costs about as
/// long as such a product takes on one.
const MIN_SPLIT_WORK: usize = 1 << 19;
/// Fewest steps of the inner dimension per output column for [`inner_parts`] to cut it: at
/// 128 x 2048 x 512 two parts ran slower than two blocks of columns, at 128 x 4096 x 512 as
/// fast, at 128 x 14,400 x 512 (7.4 MB of left operand) 10% faster (docs/benchmarks.md).
const INNER_PER_COLUMN: usize = 8;
/// Values per parallel task of the parts' addition.
const ADD_CHUNK: usize = 1 << 14;

/// `a @ b`, dense row-major (m, n), for matrices with any strides.
pub(crate) fn product<T: Float>(
    a: (&CpuStorage, &Layout),
    b: (&CpuStorage, &Layout),
) -> Result<CpuStorage> {
    let (a, am) = operand::<T>(a)?;
    let (b, bm) = operand::<T>(b)?;
    let (m, k, n) = (am.rows, am.cols, bm.cols);
    if k == 0 {
        return Ok(T::to_cpu_storage_owned(vec![T::zero(); m * n]));
    }
    let dst = Mat::dense(m, n);
    let kernel = Kernel::choose::<T>(dst, bm, false);
    let parts = inner_parts(kernel, (m, k, n));
    // The `gemm` crate sums a block of fewer rows in another order (128 x 1100 x 20 differed
    // between one block and two of 64 rows), so its products are cut by columns only.
    let cut_rows = !matches!(kernel, Kernel::Gemm { .. });
    let threads = rayon::current_num_threads().div_ceil(parts);
    let blocks = blocks((m, k.div_ceil(parts), n), threads, cut_rows);
    let step = k.div_ceil(parts);
    let tasks: Vec<_> = (0..parts)
        .flat_map(|p| {
            blocks
                .iter()
                .map(move |&b| ((p * step, (p * step + step).min(k)), b))
        })
        .collect();
    // Part 0 is summed into the output, each further part into its own m x n buffer.
    let mut out = Vec::<T>::with_capacity(parts * m * n);
    let ptr = Shared(out.as_mut_ptr());
    tasks
        .par_iter()
        .for_each(|&((s0, s1), ((r0, r1), (c0, c1)))| {
            let lhs = (a, am.rows(r0, r1).cols(s0, s1));
            let rhs = (b, bm.rows(s0, s1).cols(c0, c1));
            let part = Mat::at(s0 / step * m * n, m, n, n);
            // SAFETY: the blocks are disjoint parts of their part's m * n elements, each written
            // by one call (`gemm` overwrites without reading when not accumulating).
            unsafe {
                matmul(
                    ptr.ptr(),
                    part.rows(r0, r1).cols(c0, c1),
                    lhs,
                    rhs,
                    false,
                    kernel,
                )
            };
        });
    // SAFETY: the blocks of every part cover its (m, n) elements.
    unsafe { out.set_len(parts * m * n) };
    add_parts(&mut out, m * n);
    Ok(T::to_cpu_storage_owned(out))
}

/// Parts the inner dimension is cut into, each summed into its own m x n output and the
/// outputs added in order: 2 where la-ops' kernel that packs the left operand computes a
/// product whose inner dimension is at least INNER_PER_COLUMN times its output's width (Local
/// Aggregation's gradient into the embeddings, 128 x 14,400 x 512), else 1. Cut by columns,
/// each thread would read and pack the whole left operand, there far larger than the output
/// a part adds. Depends on the shape alone, so that no value depends on the thread count.
fn inner_parts(kernel: Kernel, (m, k, n): (usize, usize, usize)) -> usize {
    if kernel == Kernel::PackedLeft && k >= INNER_PER_COLUMN * n && m * k * n >= MIN_SPLIT_WORK {
        2
    } else {
        1
    }
}

/// Adds the parts after the first of `values` (each `len` long) into the first, in order, and
/// drops them; in parallel over blocks of values.
fn add_parts<T: Float>(values: &mut Vec<T>, len: usize) {
    if values.len() <= len {
        return;
    }
    let (first, rest) = values.split_at_mut(len);
    first
        .par_chunks_mut(ADD_CHUNK)
        .enumerate()
        .for_each(|(i, sums)| {
            for part in rest.chunks_exact(len) {
                let part = &part[i * ADD_CHUNK..][..sums.len()];
                sums.iter_mut().zip(part).for_each(|(s, &x)| *s += x);
            }
        });
    values.truncate(len);
}

/// The operand's elements and where the matrix lies in them (offset and strides of its
/// layout).
fn operand<'a, T: Float>((storage, layout): (&'a CpuStorage, &Layout)) -> Result<(&'a [T], Mat)> {
    let (rows, cols) = layout.shape().dims2()?;
    let [rs, cs] = layout.stride() else {
        candle_core::bail!(
            "matmul: internal error, a matrix layout with {:?} strides",
            layout.stride()
        );
    };
    let mat = Mat {
        offset: layout.start_offset(),
        rows,
        cols,
        rs: *rs,
        cs: *cs,
    };
    Ok((storage.as_slice::<T>()?, mat))
}

/// The (rows, columns) ranges of the output each thread computes: the columns cut into
/// `threads` blocks when there are at least `ALIGN` for each, else, when `cut_rows`, the rows
/// likewise, else (or when the product is small) the whole output in one block.
fn blocks(
    (m, k, n): (usize, usize, usize),
    threads: usize,
    cut_rows: bool,
) -> Vec<((usize, usize), (usize, usize))> {
    let whole = vec![((0, m), (0, n))];
    if threads < 2 || m * k * n < MIN_SPLIT_WORK {
        return whole;
    }
    let cut = |len: usize| -> Vec<(usize, usize)> {
        let step = len.div_ceil(threads).next_multiple_of(ALIGN);
        (0..len)
            .step_by(step)
            .map(|s| (s, (s + step).min(len)))
            .collect()
    };
    if n >= threads * ALIGN {
        cut(n).into_iter().map(|c| ((0, m), c)).collect()
    } else if cut_rows && m >= threads * ALIGN {
        cut(m).into_iter().map(|r| (r, (0, n))).collect()
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_tile_the_output_once() {
        for &(m, k, n, threads) in &[
            (128, 512, 14_400, 2),
            (14_400, 512, 128, 2),
            (14_400, 512, 20, 3),
            (100, 100, 100, 2),
            (20, 1 << 20, 20, 4),
            (64, 576, 1792, 7),
        ] {
            let mut covered = vec![0u8; m * n];
            for ((r0, r1), (c0, c1)) in blocks((m, k, n), threads, true) {
                for r in r0..r1 {
                    for c in c0..c1 {
                        covered[r * n + c] += 1;
                    }
                }
            }
            assert!(covered.iter().all(|&c| c == 1), "{m}x{k}x{n} on {threads}");
        }
        assert_eq!(blocks((128, 512, 14_400), 2, true).len(), 2);
        assert_eq!(
            blocks((14_400, 512, 20), 2, true),
            [((0, 7200), (0, 20)), ((7200, 14_400), (0, 20))]
        );
        assert_eq!(
            blocks((14_400, 512, 20), 2, false),
            [((0, 14_400), (0, 20))]
        );
        assert_eq!(blocks((10, 10, 10), 2, true).len(), 1);
    }

    #[test]
    fn cuts_the_inner_dimension_of_few_row_products_much_longer_than_wide() {
        assert_eq!(inner_parts(Kernel::PackedLeft, (128, 14_400, 512)), 2);
        assert_eq!(inner_parts(Kernel::PackedLeft, (64, 4096, 512)), 2);
        assert_eq!(inner_parts(Kernel::PackedLeft, (128, 2048, 512)), 1);
        assert_eq!(inner_parts(Kernel::PackedLeft, (128, 512, 14_400)), 1);
        assert_eq!(inner_parts(Kernel::PackedRight, (128, 14_400, 512)), 1);
        let gemm = Kernel::Gemm { parallel: false };
        assert_eq!(inner_parts(gemm, (128, 14_400, 512)), 1);
        // Too little work to share out.
        assert_eq!(inner_parts(Kernel::PackedLeft, (32, 400, 40)), 1);
    }

    #[test]
    fn adds_the_parts_into_the_first_in_order() {
        let len = ADD_CHUNK + 3;
        let mut values: Vec<f64> = (0..3 * len).map(|i| i as f64).collect();
        add_parts(&mut values, len);
        assert_eq!(values.len(), len);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(*v, (3 * i + 3 * len) as f64, "value {i}");
        }
    }
}
