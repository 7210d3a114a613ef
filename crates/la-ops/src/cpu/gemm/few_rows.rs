//! An f32 matrix product for AVX-512 with few output rows (a few panels of 32): the left
//! operand packed, transposed into panels of 32 rows, a block of steps at a time, and the right
//! operand read in place (or, where its rows lie far apart, copied a block of columns at a
//! time), 12 columns at a time broadcast against a panel's two vectors. Packing
//! the right operand instead (the `gemm` crate, [`super::avx512`]) costs as much per element as
//! a few rows of products earn from it (docs/benchmarks.md, la-ops).

use std::arch::x86_64::*;

use super::{Strided, Tile};
use crate::cpu::avx512::{lane_mask, transpose16};

/// Rows of a packed panel and of an output tile: two vectors of 16.
const MR: usize = 32;
/// Columns of an output tile, each broadcast from the right operand once per step: with MR,
/// 24 of the 32 vector registers hold sums.
const NR: usize = 12;
/// Most rows served: beyond four panels the right operand's elements are read often enough that
/// packing them pays.
const MAX_ROWS: usize = 4 * MR;
/// Most steps of the inner dimension per block: a tile's 12 columns of the right operand, a
/// cache line per step where its rows lie far apart, stay in a 48 KiB L1 (32 KiB) while every
/// panel passes over them.
const MAX_STEPS: usize = 512;
/// Columns of the right operand copied at once, as strips of NR: each of its rows is read as
/// a run of lines (rows read a strip at a time missed the cache every step), and the copy,
/// 256 KiB at MAX_STEPS, stays in L2 while every panel passes over its strips.
const BLOCK_COLUMNS: usize = 8 * NR;

/// Fewest steps of the inner dimension served: a tile's transposed store costs about as much
/// as 16 of its steps (the first layer's 27-tap products ran 1.6x slower than on the `gemm`
/// crate).
const MIN_STEPS: usize = 64;
/// Fewest output columns served, so that the last, partial tile of 12 is a small part.
const MIN_COLUMNS: usize = 4 * NR;

/// Whether [`product`] is the faster kernel for an m x k by k x n product: whole panels of
/// rows, at most MAX_ROWS of them, and enough steps and columns to amortise a tile's store.
pub(super) fn serves((m, k, n): (usize, usize, usize)) -> bool {
    m.is_multiple_of(MR) && (MR..=MAX_ROWS).contains(&m) && k >= MIN_STEPS && n >= MIN_COLUMNS
}

/// Steps of the inner dimension per block: `k` in equal blocks of at most MAX_STEPS, so that no
/// short last block pays a full pass over the output. Depends on `k` alone, so a product cut
/// into blocks of rows or columns sums every element in the same order.
fn block_steps(k: usize) -> usize {
    k.div_ceil(k.div_ceil(MAX_STEPS).max(1))
}

/// A cache line of packed values, so that each panel row's two vectors are aligned loads.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Line(#[allow(dead_code, reason = "read through pointers")] [f32; 16]);

/// `c = a @ b` for an m x k `a` and a k x n `b`, or `c += a @ b` when `accumulate`; `c` is
/// row-major with row stride `ldc`.
///
/// # Safety
/// The CPU must have AVX-512F; `a` and `b` must be readable at every element of their m x k
/// and k x n shapes and `c` writable at every element of m x n.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn product(
    (m, k, n): (usize, usize, usize),
    a: Strided,
    b: Strided,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let steps = block_steps(k);
    let mut strips = Strips::default();
    for p0 in (0..k).step_by(steps) {
        // SAFETY: every block of steps of a, b and c lies inside them (the caller's guarantee).
        unsafe {
            let packed = PackedLeft::pack(a.at(0, p0), (m, steps.min(k - p0)));
            let panels = 0..m.div_ceil(MR);
            let add = accumulate || p0 > 0;
            packed.product(panels, (b.at(p0, 0), n), (c, ldc), add, &mut strips);
        }
    }
}

/// A packed left operand, `rows` x `steps` in panels of PANEL_ROWS rows: one block of steps of
/// [`product`], or an operand packed once for many products (Winograd's transformed weights).
pub(crate) struct PackedLeft {
    lines: Vec<Line>,
    rows: usize,
    steps: usize,
}

impl PackedLeft {
    /// Rows of a panel; [`PackedLeft::product`] takes ranges of whole panels.
    pub const PANEL_ROWS: usize = MR;

    /// The `rows` x `steps` matrix `a`, packed.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; the rows x steps values of `a` must be readable.
    #[target_feature(enable = "avx512f")]
    unsafe fn pack(a: Strided, (rows, steps): (usize, usize)) -> Self {
        let mut packed = Self::zeroed((rows, steps));
        let per_panel = steps * MR / 16;
        for (i, panel) in packed.lines.chunks_exact_mut(per_panel.max(1)).enumerate() {
            // SAFETY: rows i * MR.. of a (the caller's guarantee).
            unsafe { pack_panel(a.at(i * MR, 0), (MR.min(rows - i * MR), steps), panel) };
        }
        packed
    }

    /// A zero `rows` x `steps` operand whose panels [`PackedLeft::panels_mut`] fills.
    pub fn zeroed((rows, steps): (usize, usize)) -> Self {
        let lines = vec![Line([0.0; 16]); rows.div_ceil(MR) * steps * MR / 16];
        PackedLeft { lines, rows, steps }
    }

    /// Each panel's values: `steps` groups of PANEL_ROWS, row r of the panel at `s *
    /// PANEL_ROWS + r` for step s (rows past the operand's stay zero).
    pub fn panels_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
        let len = self.steps * MR;
        // SAFETY: a Line is 16 f32 values, so the lines are their values in order.
        let values = unsafe {
            std::slice::from_raw_parts_mut(
                self.lines.as_mut_ptr().cast::<f32>(),
                self.lines.len() * 16,
            )
        };
        values.chunks_exact_mut(len.max(1))
    }

    /// `c = a[panels] @ b`, or `c += a[panels] @ b` when `accumulate`, for the rows of panels
    /// `panels` (c's first row is the first panel's) and a `steps` x `n` operand `b`; `c`
    /// row-major with row stride `ldc`; `strips` holds the copies of tiles' columns of `b`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `b` must be readable at every element of steps x n and `c`
    /// writable at every element of the panels' rows x n; `panels` within the operand's.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn product(
        &self,
        panels: std::ops::Range<usize>,
        (b, n): (Strided, usize),
        (c, ldc): (*mut f32, usize),
        accumulate: bool,
        strips: &mut Strips,
    ) {
        let per_panel = self.steps * MR / 16;
        for j0 in (0..n).step_by(BLOCK_COLUMNS) {
            let width = BLOCK_COLUMNS.min(n - j0);
            // SAFETY: `width` columns of b (the caller's guarantee).
            let tiles = unsafe { strips.copy(b.at(0, j0), (self.steps, width)) };
            for (s, b_tile) in tiles.enumerate() {
                let cols = NR.min(width - s * NR);
                for (i, p) in panels.clone().enumerate() {
                    let tile = Tile {
                        rows: MR.min(self.rows - p * MR),
                        cols,
                        kc: self.steps,
                    };
                    let panel = &self.lines[p * per_panel..(p + 1) * per_panel];
                    let at = c.wrapping_add(i * MR * ldc + j0 + s * NR);
                    // SAFETY: the tile lies inside b and c (the caller's guarantee).
                    unsafe { kernel(&tile, panel, b_tile, at, ldc, accumulate) };
                }
            }
        }
    }
}

/// One output tile: `kc` steps of NR values broadcast from `b` times a panel row's two
/// vectors, summed in 2 * NR registers, then transposed into rows of `c` and written (or added
/// when `accumulate`); only the tile's `rows` x `cols` are read from `b` and written.
///
/// # Safety
/// As [`product`], for this tile; `panel` holds `kc` packed steps.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn kernel(
    tile: &Tile,
    panel: &[Line],
    b: Strided,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY: as this function's.
    let acc = unsafe { tile_sums(tile.kc, panel, b) };
    let mask = lane_mask(tile.cols);
    for v in 0..2 {
        let block = std::array::from_fn(|j| acc.get(j).map_or(_mm512_setzero_ps(), |s| s[v]));
        for (r, row) in transpose16(block).iter().enumerate() {
            if v * 16 + r >= tile.rows {
                break;
            }
            // SAFETY: row v * 16 + r of the tile, its first `cols` columns.
            unsafe {
                let at = c.add((v * 16 + r) * ldc);
                let sum = if accumulate {
                    _mm512_add_ps(*row, _mm512_maskz_loadu_ps(mask, at))
                } else {
                    *row
                };
                _mm512_mask_storeu_ps(at, mask, sum);
            }
        }
    }
}

/// The sums of one tile, column j's two vectors of rows at `[j]`.
///
/// # Safety
/// As [`kernel`]'s, for NR columns of `b`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile_sums(kc: usize, panel: &[Line], b: Strided) -> [[__m512; 2]; NR] {
    // Column j at bases[j / 3] + (j % 3) * cs: four pointers and a stride, so that the loop
    // addresses all twelve without spilling their offsets.
    let cs = b.cs;
    let mut bases: [*const f32; NR / 3] = std::array::from_fn(|i| b.ptr.wrapping_add(3 * i * cs));
    let mut acc = [[_mm512_setzero_ps(); 2]; NR];
    let mut a = panel.as_ptr().cast::<f32>();
    for _ in 0..kc {
        // SAFETY: the panel holds kc rows of two aligned vectors; b is readable at this step
        // of each column (the caller's guarantee).
        unsafe {
            let av = [_mm512_load_ps(a), _mm512_load_ps(a.add(16))];
            for j in 0..NR {
                let bv = _mm512_set1_ps(*bases[j / 3].add(j % 3 * cs));
                acc[j][0] = _mm512_fmadd_ps(av[0], bv, acc[j][0]);
                acc[j][1] = _mm512_fmadd_ps(av[1], bv, acc[j][1]);
            }
            a = a.add(MR);
        }
        for base in &mut bases {
            *base = base.wrapping_add(b.rs);
        }
    }
    acc
}

/// The right operand's columns of a block of tiles, each tile's a strip of a cache line per
/// step, where they are copied (see [`Strips::copy`]); kept from call to call.
#[derive(Default)]
pub(crate) struct Strips(Vec<Line>);

impl Strips {
    /// The `cols` (<= BLOCK_COLUMNS) columns of `b` over `kc` steps as strips of NR columns,
    /// in order, each read in place or copied as a kc x 16 row-major matrix with columns past
    /// the operand's zero. A row-major `b` whose rows lie far apart ([`FAR_APART`]) is copied
    /// whole, a row of the block at a time, so that each row's lines are read together, and
    /// the next block's lines of the row are prefetched into L2 meanwhile (a prefetch past b's
    /// end does not fault); otherwise full strips are read in place and only a last, narrow
    /// one is copied.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; the kc x cols values of `b` must be readable.
    #[target_feature(enable = "avx512f")]
    unsafe fn copy(
        &mut self,
        b: Strided,
        (kc, cols): (usize, usize),
    ) -> impl Iterator<Item = Strided> {
        let strips = cols.div_ceil(NR);
        let far = b.cs == 1 && rows_far_apart(b.rs);
        let copied = if far { 0..strips } else { cols / NR..strips };
        // A line between strips, so that a row's lines of successive strips fall in other L1
        // sets when kc is a multiple of 64.
        let stride = kc + 1;
        if self.0.len() < copied.len() * stride {
            self.0.resize(copied.len() * stride, Line([0.0; 16]));
        }
        // Full strips read in place leave nothing to copy.
        let rows = if copied.is_empty() { 0 } else { kc };
        for p in 0..rows {
            if far {
                let next = b.at(p, BLOCK_COLUMNS).ptr;
                for line in (0..BLOCK_COLUMNS).step_by(16) {
                    _mm_prefetch::<_MM_HINT_T1>(next.wrapping_add(line).cast());
                }
            }
            for s in copied.clone() {
                let (first, width) = (s * NR, NR.min(cols - s * NR));
                let line = &mut self.0[(s - copied.start) * stride + p].0;
                if b.cs == 1 {
                    // SAFETY: `width` values of row p of b from column `first`; a Line is 16
                    // aligned f32 values.
                    unsafe {
                        let row = _mm512_maskz_loadu_ps(lane_mask(width), b.at(p, first).ptr);
                        _mm512_store_ps(line.as_mut_ptr(), row);
                    }
                } else {
                    for (j, x) in line.iter_mut().enumerate() {
                        // SAFETY: element (p, first + j) of b, read only for j < width.
                        *x = if j < width {
                            unsafe { *b.at(p, first + j).ptr }
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
        let base = self.0.as_ptr();
        (0..strips).map(move |s| {
            if copied.contains(&s) {
                Strided {
                    ptr: base.wrapping_add((s - copied.start) * stride).cast(),
                    rs: 16,
                    cs: 1,
                }
            } else {
                b.at(0, s * NR)
            }
        })
    }
}

/// Bytes between a row-major right operand's rows from which its strips are copied: read in
/// place, each step of a strip was then a line of a page of its own or of one shared with a few
/// steps, which the hardware prefetchers do not run ahead of (on an Intel Xeon copying made
/// rows 2-57 KiB apart 9-32% faster). Closer rows, as Winograd's transformed inputs (48-192
/// tiles, within a page), are read in place: each call would copy them again for every chunk
/// of output channels.
const FAR_APART: usize = 1024;

/// Whether a row-major right operand's rows `rs` values apart are copied (see FAR_APART).
fn rows_far_apart(rs: usize) -> bool {
    rs * size_of::<f32>() >= FAR_APART
}

/// Packs `rows` (at most MR) rows of `a` over `kc` steps as `kc` panel rows of MR values,
/// rows past `rows` zero: through 16 x 16 register transposes where `a`'s rows are contiguous,
/// vector copies where its columns are, element by element otherwise.
///
/// # Safety
/// The CPU must have AVX-512F; the rows x kc values must be readable.
#[target_feature(enable = "avx512f")]
unsafe fn pack_panel(a: Strided, (rows, kc): (usize, usize), panel: &mut [Line]) {
    let out = panel.as_mut_ptr().cast::<f32>();
    for v in 0..2 {
        let (first, count) = (v * 16, rows.saturating_sub(v * 16).min(16));
        if a.cs == 1 {
            for p0 in (0..kc).step_by(16) {
                let steps = 16.min(kc - p0);
                let block = std::array::from_fn(|r| {
                    if r < count {
                        // SAFETY: row first + r, steps p0.. of a.
                        unsafe { _mm512_maskz_loadu_ps(lane_mask(steps), a.at(first + r, p0).ptr) }
                    } else {
                        _mm512_setzero_ps()
                    }
                });
                for (s, row) in transpose16(block).iter().enumerate().take(steps) {
                    // SAFETY: panel row p0 + s < kc, vector v.
                    unsafe { _mm512_storeu_ps(out.add((p0 + s) * MR + first), *row) };
                }
            }
        } else if a.rs == 1 {
            for p in 0..kc {
                // SAFETY: rows first..first + count of step p are contiguous in a.
                unsafe {
                    let x = _mm512_maskz_loadu_ps(lane_mask(count), a.at(first, p).ptr);
                    _mm512_storeu_ps(out.add(p * MR + first), x);
                }
            }
        } else {
            for p in 0..kc {
                for r in 0..16 {
                    // SAFETY: element (first + r, p) of a, read only for r < count.
                    let x = if r < count {
                        unsafe { *a.at(first + r, p).ptr }
                    } else {
                        0.0
                    };
                    // SAFETY: panel row p < kc.
                    unsafe { *out.add(p * MR + first + r) = x };
                }
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
        // Partial tiles and panels, several blocks of steps (k = 1100: three of 367), one
        // panel and four; every layout of both operands.
        for &(m, k, n) in &[
            (1, 1, 1),
            (32, 5, 13),
            (17, 40, 12),
            (64, 600, 37),
            (128, 1100, 25),
            // Rows 2 KiB apart: copied, in blocks of 96 columns and a last one of three strips
            // and four columns.
            (64, 130, 520),
        ] {
            for layouts in [(false, false), (true, true), (false, true), (true, false)] {
                for accumulate in [false, true] {
                    check_product(product, (m, k, n), layouts, accumulate);
                }
            }
        }
        assert_eq!(block_steps(1100), 367);
        assert_eq!(block_steps(512), 512);
        assert_eq!(block_steps(0), 0);
    }

    #[test]
    fn rows_from_a_kibibyte_apart_are_copied() {
        assert!(!rows_far_apart(64) && !rows_far_apart(255));
        assert!(rows_far_apart(256) && rows_far_apart(512) && rows_far_apart(14_400));
    }

    #[test]
    fn serves_whole_panels_up_to_four_with_enough_steps_and_columns() {
        for m in [32, 64, 96, 128] {
            assert!(serves((m, 64, 48)), "{m} rows");
        }
        for m in [16, 48, 160, 256] {
            assert!(!serves((m, 576, 1792)), "{m} rows");
        }
        assert!(!serves((64, 27, 4096)) && !serves((64, 4096, 27)));
    }
}
