//! CPU kernel of the matrix product: the output cut into one block per thread, each block a
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
    let mut out = Vec::<T>::with_capacity(m * n);
    let ptr = Shared(out.as_mut_ptr());
    // The `gemm` crate sums a block of fewer rows in another order (128 x 1100 x 20 differed
    // between one block and two of 64 rows), so its products are cut by columns only.
    let cut_rows = !matches!(kernel, Kernel::Gemm { .. });
    let blocks = blocks((m, k, n), rayon::current_num_threads(), cut_rows);
    blocks.par_iter().for_each(|&(rows, cols)| {
        let (r0, r1) = rows;
        let (c0, c1) = cols;
        let lhs = (a, am.rows(r0, r1));
        let rhs = (b, bm.cols(c0, c1));
        // SAFETY: the blocks are disjoint parts of `out`'s m * n elements, each written by
        // one call (`gemm` overwrites without reading when not accumulating).
        unsafe {
            matmul(
                ptr.ptr(),
                dst.rows(r0, r1).cols(c0, c1),
                lhs,
                rhs,
                false,
                kernel,
            )
        };
    });
    // SAFETY: the blocks cover every element of the (m, n) output.
    unsafe { out.set_len(m * n) };
    Ok(T::to_cpu_storage_owned(out))
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
}
