//! An f32 matrix product for AVX-512 whose right operand has contiguous columns (a transposed
//! view): the output in tiles of MR rows x NR columns held in registers, the right operand
//! packed a panel of KC x NR at a time by register transposes (it stays in L1 while every
//! row tile of the left operand, read in place from L2, passes over it); a last panel of at most
//! 16 columns runs tiles one vector wide.

use std::arch::x86_64::*;

use super::{Strided, Tile};
use crate::cpu::avx512::{lane_mask, transpose16};

/// Rows of an output tile: each is broadcast from the left operand once per product step.
const MR: usize = 8;
/// Columns of an output tile and of a packed panel of the right operand: two vectors of 16.
const NR: usize = 32;
/// Steps of the inner dimension per panel: a panel of KC x NR f32 is 32 KiB, within the 48 KiB
/// L1 of a Zen 5 core (128 and 192 steps measured a few % slower there; a Zen 4's L1 is 32 KiB,
/// not measured).
const KC: usize = 256;
/// Largest left-operand block (bytes) the panel loop keeps hot: half of a 1 MiB L2.
const A_BLOCK_BYTES: usize = 512 * 1024;
/// Rows of the left operand that one packed panel serves before the next is packed: a block
/// of KC steps of them fills A_BLOCK_BYTES.
const ROW_BLOCK: usize = A_BLOCK_BYTES / (KC * size_of::<f32>());
/// Panels ahead of the one being packed whose columns are prefetched (columns far apart in
/// memory defeat the hardware's stream prefetchers).
const PREFETCH_PANELS: usize = 2;

/// One packed right-operand panel, aligned to cache lines.
#[repr(align(64))]
struct Panel([f32; KC * NR]);

/// Whether [`product`] is the faster kernel for an m x k by k x n product whose right operand
/// has row stride `b_rs` and column stride `b_cs` (docs/benchmarks.md, la-ops): where that
/// operand's columns are contiguous (a transposed view, such as the filter gradient's patches),
/// which it packs with 16 x 16 transposes in registers; the rows at most one block of ROW_BLOCK,
/// so that each panel is packed once and feeds every row (with more, the `gemm` crate, which
/// packs the left operand, is faster); and the output is written once or stays in L2 (all of
/// `a` in L2, one step of KC, or a small output), since each further step of KC otherwise
/// reads and writes all of it in memory again (the kNN search's 256 x 784 x 16,384 ran 5-10%
/// slower than on the `gemm` crate).
pub(super) fn serves((m, k, n): (usize, usize, usize), b_rs: usize, b_cs: usize) -> bool {
    let output_once = fits_l2(m, k) || k <= KC || fits_l2(m, n);
    b_rs == 1 && b_cs != 1 && m <= ROW_BLOCK && output_once
}

/// Whether an m x k matrix of f32 fits the part of L2 the panel loop keeps for an operand.
fn fits_l2(m: usize, k: usize) -> bool {
    m * k * size_of::<f32>() <= A_BLOCK_BYTES
}

/// `c = a @ b` for an m x k `a` and a k x n `b`, or `c += a @ b` when `accumulate`; `c` is
/// row-major with row stride `ldc`.
///
/// # Safety
/// The CPU must have AVX-512F; `a` and `b` must be readable at every element of their m x k
/// and k x n shapes, `b`'s columns contiguous (row stride 1), and `c` writable at every element
/// of m x n.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn product(
    (m, k, n): (usize, usize, usize),
    a: Strided,
    b: Strided,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let mut panel = Panel([0.0; KC * NR]);
    let mut step = |p0: usize, j0: usize, rows: (usize, usize)| {
        // SAFETY: the panel's and the tiles' elements lie inside b, a and c (the caller's
        // guarantee).
        unsafe {
            let at = (p0, j0, rows);
            if n - j0 > 16 {
                panel_step::<2>(&mut panel, at, (k, n), a, b, (c, ldc), accumulate)
            } else {
                panel_step::<1>(&mut panel, at, (k, n), a, b, (c, ldc), accumulate)
            }
        }
    };
    if fits_l2(m, k) {
        // All of `a` stays in L2: each column panel's output tiles stay in cache while every
        // step of k passes over them, so the output is written once.
        for j0 in (0..n).step_by(NR) {
            for p0 in (0..k).step_by(KC) {
                step(p0, j0, (0, m));
            }
        }
        return;
    }
    for p0 in (0..k).step_by(KC) {
        for i0 in (0..m).step_by(ROW_BLOCK) {
            for j0 in (0..n).step_by(NR) {
                step(p0, j0, (i0, (i0 + ROW_BLOCK).min(m)));
            }
        }
    }
}

/// Packs the panel of `b` at step `p0`, column `j0`, and runs every row tile of `rows` over it,
/// V vectors of 16 columns wide.
///
/// # Safety
/// As [`product`]; the panel's columns fit V vectors.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn panel_step<const V: usize>(
    panel: &mut Panel,
    (p0, j0, (i0, i1)): (usize, usize, (usize, usize)),
    (k, n): (usize, usize),
    a: Strided,
    b: Strided,
    (c, ldc): (*mut f32, usize),
    accumulate: bool,
) {
    let (kc, cols) = (KC.min(k - p0), NR.min(n - j0));
    // SAFETY: the panel lies inside b (the caller's guarantee).
    unsafe {
        let at = b.ptr.add(p0 * b.rs + j0 * b.cs);
        let ahead = j0 + NR * (PREFETCH_PANELS + 1) <= n;
        pack_columns::<V>(kc, cols, at, b.cs, &mut panel.0, ahead);
    }
    for i in (i0..i1).step_by(MR) {
        let tile = Tile {
            rows: MR.min(i1 - i),
            cols,
            kc,
        };
        let a_tile = Strided {
            // SAFETY: row i, column p0 of a.
            ptr: unsafe { a.ptr.add(i * a.rs + p0 * a.cs) },
            ..a
        };
        let add = accumulate || p0 > 0;
        // SAFETY: the tile lies inside c (the caller's guarantee).
        unsafe { kernel::<V>(&tile, a_tile, &panel.0, c.add(i * ldc + j0), ldc, add) };
    }
}

/// One output tile: `kc` steps of MR broadcast values of `a` times a panel row of V vectors,
/// summed in V * MR registers, then written to `c` (or added to it when `accumulate`); only
/// the tile's `rows` x `cols` are read from `a` and written.
///
/// # Safety
/// As [`product`], for this tile.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const V: usize>(
    tile: &Tile,
    a: Strided,
    panel: &[f32; KC * NR],
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let masks = column_masks::<V>(tile.cols);
    // Rows past the tile repeat its last row, so every broadcast reads inside `a`.
    let rows: [*const f32; MR] =
        std::array::from_fn(|r| a.ptr.wrapping_add(r.min(tile.rows - 1) * a.rs));
    let mut acc = [[_mm512_setzero_ps(); V]; MR];
    let mut b = panel.as_ptr();
    let mut offset = 0;
    // SAFETY: the panel holds kc rows of V vectors; `a` is readable per the caller.
    unsafe {
        for _ in 0..tile.kc {
            let bv: [__m512; V] = std::array::from_fn(|v| _mm512_load_ps(b.add(v * 16)));
            for (row, ptr) in acc.iter_mut().zip(&rows) {
                let av = _mm512_set1_ps(*ptr.add(offset));
                for (sum, &bv) in row.iter_mut().zip(&bv) {
                    *sum = _mm512_fmadd_ps(av, bv, *sum);
                }
            }
            b = b.add(V * 16);
            offset += a.cs;
        }
        for (r, row) in acc.iter().enumerate().take(tile.rows) {
            let dst = c.add(r * ldc);
            for (v, (&sum, &mask)) in row.iter().zip(&masks).enumerate() {
                let at = dst.add(v * 16);
                let sum = if accumulate {
                    _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, at))
                } else {
                    sum
                };
                _mm512_mask_storeu_ps(at, mask, sum);
            }
        }
    }
}

/// The lane masks of a tile row's V vectors when it has `cols` columns.
fn column_masks<const V: usize>(cols: usize) -> [u16; V] {
    std::array::from_fn(|v| lane_mask(cols.saturating_sub(v * 16)))
}

/// Packs a panel whose columns are contiguous (column stride `cs`): blocks of 16 x 16 values
/// are read along the columns and transposed in registers; when `ahead`, the same steps of the
/// columns PREFETCH_PANELS panels further right are prefetched.
///
/// # Safety
/// The CPU must have AVX-512F; the kc x cols values must be readable.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn pack_columns<const V: usize>(
    kc: usize,
    cols: usize,
    b: *const f32,
    cs: usize,
    panel: &mut [f32; KC * NR],
    ahead: bool,
) {
    for p0 in (0..kc).step_by(16) {
        let steps = 16.min(kc - p0);
        let [mask] = column_masks::<1>(steps);
        if ahead {
            for col in 0..V * 16 {
                let next = b.wrapping_add((col + NR * PREFETCH_PANELS) * cs + p0);
                _mm_prefetch::<_MM_HINT_T0>(next.cast::<i8>());
            }
        }
        for v in 0..V {
            let block: [__m512; 16] = std::array::from_fn(|j| {
                let col = v * 16 + j;
                if col < cols {
                    // SAFETY: column `col`, rows p0..p0 + steps are readable.
                    unsafe { _mm512_maskz_loadu_ps(mask, b.add(col * cs + p0)) }
                } else {
                    _mm512_setzero_ps()
                }
            });
            for (s, row) in transpose16(block).iter().enumerate().take(steps) {
                // SAFETY: row p0 + s < kc <= KC of the panel.
                let at = (p0 + s) * V * 16 + v * 16;
                unsafe { _mm512_storeu_ps(panel.as_mut_ptr().add(at), *row) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::naive::check_product;
    use super::*;

    #[test]
    fn product_matches_naive_loops() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        // Edges in every dimension: partial tiles, several panels of KC, a second block of rows;
        // both loop orders (all of a in L2, or not).
        let shapes = [
            (1, 1, 1),
            (7, 3, 5),
            (8, 256, 32),
            (9, 257, 33),
            (13, 600, 70),
            (3, 40, 100),
            (521, 260, 40),
        ];
        assert!(fits_l2(13, 600) && !fits_l2(521, 260) && 521 > ROW_BLOCK);
        for &shape in &shapes {
            for (a_cm, accumulate) in [(false, false), (true, true), (false, true), (true, false)] {
                check_product(product, shape, (a_cm, true), accumulate);
            }
        }
    }
}
