//! The direct convolution's micro-kernels for AVX-512: MR channels x 2 vectors of 16 output
//! positions in 2 * MR registers, in f32 or (with AVX512-BF16) in bf16 pairs summed in f32.

use std::arch::x86_64::*;

use super::LANES;
use super::tile::{MR, Span, Tile};
use crate::cpu::avx512::{lane_mask, transpose16};

/// Sums the taps `inputs` of one channel panel over one tile into `c` (MR rows of two
/// vectors), or adds them to it when `accumulate`: tap p's MR weights are group `weight(p)` of
/// `a` (packed), its input for the tile's first vector starts at `b + inputs[p]`, for its second
/// `tile.second_in` later (only the tile's columns are read).
///
/// # Safety
/// The CPU must have AVX-512F; `a` must hold every group `weight` names; every input read must
/// lie inside `b`'s allocation.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn kernel(
    a: *const f32,
    b: *const f32,
    inputs: &[usize],
    weight: impl Fn(usize) -> usize,
    tile: &Tile,
    c: &mut [f32],
    accumulate: bool,
) {
    let masks = column_masks(tile);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    assert!(c.len() >= MR * 2 * LANES);
    // SAFETY: the caller guarantees the panel and the input reads; `c` is checked above.
    unsafe {
        for (p, &off) in inputs.iter().enumerate() {
            let bp = b.add(off);
            let b0 = _mm512_maskz_loadu_ps(masks[0], bp);
            let b1 = _mm512_maskz_loadu_ps(masks[1], bp.wrapping_add(tile.second_in));
            let ap = a.add(weight(p) * MR);
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*ap.add(i));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
            }
        }
        store_tile(&acc, c, accumulate);
    }
}

/// The bf16 micro-kernel: [`kernel`] with each element a pair of bf16 values of two input
/// channels (`a`'s weights and `b`'s inputs alike), one dot-product instruction summing both
/// products into f32 lanes.
///
/// # Safety
/// As [`kernel`]; the CPU must have AVX512-BF16 besides.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn kernel_bf16(
    a: *const u32,
    b: *const u32,
    inputs: &[usize],
    weight: impl Fn(usize) -> usize,
    tile: &Tile,
    c: &mut [f32],
    accumulate: bool,
) {
    let masks = column_masks(tile);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    assert!(c.len() >= MR * 2 * LANES);
    // SAFETY: the caller guarantees the panel and the input reads; `c` is checked above.
    unsafe {
        for (p, &off) in inputs.iter().enumerate() {
            let bp = b.add(off).cast::<i32>();
            let b0 = pairs(_mm512_maskz_loadu_epi32(masks[0], bp));
            let b1 = pairs(_mm512_maskz_loadu_epi32(
                masks[1],
                bp.wrapping_add(tile.second_in),
            ));
            let ap = a.add(weight(p) * MR);
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = pairs(_mm512_set1_epi32(*ap.add(i) as i32));
                row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
                row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
            }
        }
        store_tile(&acc, c, accumulate);
    }
}

/// The lane masks of a tile's two vectors: its first `cols[h]` lanes.
fn column_masks(tile: &Tile) -> [u16; 2] {
    tile.cols.map(lane_mask)
}

/// 32-bit lanes seen as pairs of bf16 values.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
fn pairs(v: __m512i) -> __m512bh {
    // SAFETY: both are 512 bits of plain data.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
}

/// Writes a tile's MR rows of two vectors into `c`, or adds them to it when `accumulate`.
///
/// # Safety
/// The CPU must have AVX-512F; `c` must hold MR x 2 vectors.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store_tile(acc: &[[__m512; 2]; MR], c: &mut [f32], accumulate: bool) {
    for (row, dst) in acc.iter().zip(c.chunks_exact_mut(2 * LANES)) {
        for (h, &v) in row.iter().enumerate() {
            // SAFETY: `dst` holds two vectors.
            unsafe {
                let d = dst.as_mut_ptr().add(h * LANES);
                let v = if accumulate {
                    _mm512_add_ps(v, _mm512_loadu_ps(d))
                } else {
                    v
                };
                _mm512_storeu_ps(d, v);
            }
        }
    }
}

/// Sums, over every position of `span`, tap i's input value times the gradient vectors of
/// NV * 16 channels, and adds the sums of taps i < `count` to row i of `dwt` (rows `span.ld`
/// apart, NV * 16 channels each): for output row r, column x, tap i's input is
/// `rows[taps[i] + span.bases[r] + x]`, the gradient `dyt[p * span.ld..][..NV * 16]` with
/// p = r * span.width + x.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn filter_kernel<const FR: usize, const NV: usize>(
    taps: &[usize; FR],
    rows: &[f32],
    dyt: &[f32],
    span: Span,
    (dwt, count): (&mut [f32], usize),
) {
    let nr = NV * LANES;
    let last = span.bases.iter().max().map_or(0, |b| b + span.width - 1);
    assert!(span.width > 0 && taps.iter().all(|&t| t + last < rows.len()));
    let positions = span.bases.len() * span.width;
    assert!(span.ld >= nr && (positions == 0 || (positions - 1) * span.ld + nr <= dyt.len()));
    assert!(count <= FR && (count == 0 || (count - 1) * span.ld + nr <= dwt.len()));
    let mut acc = [[_mm512_setzero_ps(); NV]; FR];
    let src: [*const f32; FR] = taps.map(|t| rows[t..].as_ptr());
    // SAFETY: the asserts above bound every read and write.
    unsafe {
        for (r, &base) in span.bases.iter().enumerate() {
            for x in 0..span.width {
                let b = dyt.as_ptr().add((r * span.width + x) * span.ld);
                let bv: [__m512; NV] = std::array::from_fn(|v| _mm512_loadu_ps(b.add(v * LANES)));
                for (row, &s) in acc.iter_mut().zip(&src) {
                    let a = _mm512_set1_ps(*s.add(base + x));
                    for (r, &b) in row.iter_mut().zip(&bv) {
                        *r = _mm512_fmadd_ps(a, b, *r);
                    }
                }
            }
        }
        add_filter_tile(&acc, dwt, span.ld, count);
    }
}

/// The bf16 filter kernel: [`filter_kernel`] over pairs of successive positions of a row
/// (`span.width` even), tap i's two inputs one 32-bit broadcast of `rows` (bf16 values), the
/// gradient `dyt[(p / 2) * span.ld..][..NV * 16]` pairs of bf16 values (positions p, p + 1)
/// per channel, one dot-product instruction summing both products into f32 lanes.
///
/// # Safety
/// The CPU must have AVX-512F and AVX512-BF16.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn filter_kernel_bf16<const FR: usize, const NV: usize>(
    taps: &[usize; FR],
    rows: &[u16],
    dyt: &[u32],
    span: Span,
    (dwt, count): (&mut [f32], usize),
) {
    let nr = NV * LANES;
    let last = span.bases.iter().max().map_or(0, |b| b + span.width - 1);
    assert!(span.width > 0 && span.width.is_multiple_of(2));
    assert!(taps.iter().all(|&t| t + last < rows.len()));
    let pairs_len = span.bases.len() * span.width / 2;
    assert!(span.ld >= nr && (pairs_len == 0 || (pairs_len - 1) * span.ld + nr <= dyt.len()));
    assert!(count <= FR && (count == 0 || (count - 1) * span.ld + nr <= dwt.len()));
    let mut acc = [[_mm512_setzero_ps(); NV]; FR];
    let src: [*const u16; FR] = taps.map(|t| rows[t..].as_ptr());
    // SAFETY: the asserts above bound every read (the pair at an even x < width ends at
    // x + 1 <= width - 1) and write.
    unsafe {
        for (r, &base) in span.bases.iter().enumerate() {
            for x in (0..span.width).step_by(2) {
                let b = dyt
                    .as_ptr()
                    .add((r * span.width + x) / 2 * span.ld)
                    .cast::<i32>();
                let bv: [__m512bh; NV] =
                    std::array::from_fn(|v| pairs(_mm512_loadu_epi32(b.add(v * LANES))));
                for (row, &s) in acc.iter_mut().zip(&src) {
                    let two = s.add(base + x).cast::<i32>().read_unaligned();
                    let a = pairs(_mm512_set1_epi32(two));
                    for (r, &b) in row.iter_mut().zip(&bv) {
                        *r = _mm512_dpbf16_ps(*r, a, b);
                    }
                }
            }
        }
        add_filter_tile(&acc, dwt, span.ld, count);
    }
}

/// Adds a filter tile's first `count` rows of NV vectors to the rows of `dwt`, `ld` apart.
///
/// # Safety
/// The CPU must have AVX-512F; `dwt` must hold `count` rows of NV vectors, `ld` apart.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn add_filter_tile<const FR: usize, const NV: usize>(
    acc: &[[__m512; NV]; FR],
    dwt: &mut [f32],
    ld: usize,
    count: usize,
) {
    for (i, row) in acc.iter().take(count).enumerate() {
        for (v, &r) in row.iter().enumerate() {
            // SAFETY: row i's NV vectors lie inside `dwt` (the caller's contract).
            unsafe {
                let d = dwt.as_mut_ptr().add(i * ld + v * LANES);
                _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), r));
            }
        }
    }
}

/// For every output channel j < C and 3 x 3 tap t = (ky, kx), adds the products of gradient
/// row oy of `dy[j]` (`out_h` rows of `w` values) with row oy + ky of `padded` (rows `pw`
/// apart) from column kx into `lanes[j * 9 + t]`, position x into lane x % 16, rows in order:
/// the sums of `lane_dot` bit for bit (a multiply, then an add: no fused multiply-add), with
/// the C x 9 sums in registers over a whole plane.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn plane_dots_3x3<const C: usize>(
    dy: [&[f32]; C],
    padded: &[f32],
    (pw, w, out_h): (usize, usize, usize),
    lanes: &mut [[f32; LANES]],
) {
    assert!(w + 2 <= pw && (out_h + 2) * pw <= padded.len() && lanes.len() >= C * 9);
    assert!(dy.iter().all(|d| d.len() >= out_h * w));
    let full = w / LANES * LANES;
    let tail: u16 = (1u32 << (w - full)).wrapping_sub(1) as u16;
    // SAFETY: the asserts above bound every read (rows hold w + 2 values from each start) and
    // write; masked loads read only the lanes they keep.
    unsafe {
        let mut acc: [[__m512; 9]; C] = std::array::from_fn(|j| {
            std::array::from_fn(|t| _mm512_loadu_ps(lanes[j * 9 + t].as_ptr()))
        });
        for oy in 0..out_h {
            let rows: [*const f32; 3] =
                std::array::from_fn(|ky| padded.as_ptr().add((oy + ky) * pw));
            let grads: [*const f32; C] = dy.map(|d| d.as_ptr().add(oy * w));
            for c0 in (0..full).step_by(LANES) {
                for (sums, &g) in acc.iter_mut().zip(&grads) {
                    let d = _mm512_loadu_ps(g.add(c0));
                    for (t, sum) in sums.iter_mut().enumerate() {
                        let x = _mm512_loadu_ps(rows[t / 3].add(c0 + t % 3));
                        *sum = _mm512_add_ps(*sum, _mm512_mul_ps(d, x));
                    }
                }
            }
            if tail != 0 {
                for (sums, &g) in acc.iter_mut().zip(&grads) {
                    let d = _mm512_maskz_loadu_ps(tail, g.add(full));
                    for (t, sum) in sums.iter_mut().enumerate() {
                        let x = _mm512_maskz_loadu_ps(tail, rows[t / 3].add(full + t % 3));
                        *sum = _mm512_mask_add_ps(*sum, tail, *sum, _mm512_mul_ps(d, x));
                    }
                }
            }
        }
        for (j, sums) in acc.iter().enumerate() {
            for (t, &s) in sums.iter().enumerate() {
                _mm512_storeu_ps(lanes[j * 9 + t].as_mut_ptr(), s);
            }
        }
    }
}

/// Turns runs of `count` (<= 16) images into image lanes by 16 x 16 transposes: for each flat
/// index f < `dest.len()`, the values `src[j * stride + f]` of images j < count (zero in the
/// lanes past count) as one vector at `dst[dest[f]..][..16]`.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn runs_to_lanes(
    src: &[f32],
    stride: usize,
    count: usize,
    dest: &[usize],
    dst: &mut [f32],
) {
    let len = dest.len();
    assert!(count <= LANES && (count == 0 || (count - 1) * stride + len <= src.len()));
    assert!(dest.iter().all(|&d| d + LANES <= dst.len()));
    for f0 in (0..len).step_by(LANES) {
        let mask = lane_mask(len - f0);
        // SAFETY: image j's run ends inside `src` (asserted), and the load stops at its end.
        let rows = std::array::from_fn(|j| {
            if j < count {
                unsafe { _mm512_maskz_loadu_ps(mask, src.as_ptr().add(j * stride + f0)) }
            } else {
                _mm512_setzero_ps()
            }
        });
        for (&d, v) in dest[f0..].iter().zip(transpose16(rows)) {
            // SAFETY: every destination vector lies inside `dst` (asserted).
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add(d), v) };
        }
    }
}

/// The inverse of [`runs_to_lanes`], adding `bias`: for images j < count (<= 16) and flat
/// indices f < `at.len()`, `dst[j * stride + f] = src[at[f] + j] + bias`.
///
/// # Safety
/// The CPU must have AVX-512F; `dst + j * stride` must be valid for `at.len()` writes for
/// every j < count, and no other thread may access them.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn lanes_to_runs(
    src: &[f32],
    at: &[usize],
    count: usize,
    (dst, stride): (*mut f32, usize),
    bias: f32,
) {
    assert!(count <= LANES && at.iter().all(|&a| a + LANES <= src.len()));
    let bias = _mm512_set1_ps(bias);
    for (f0, at) in (0..at.len()).step_by(LANES).zip(at.chunks(LANES)) {
        // SAFETY: every source vector lies inside `src` (asserted).
        let rows = std::array::from_fn(|t| match at.get(t) {
            Some(&a) => unsafe { _mm512_loadu_ps(src.as_ptr().add(a)) },
            None => _mm512_setzero_ps(),
        });
        let mask = lane_mask(at.len());
        for (j, v) in transpose16(rows).into_iter().take(count).enumerate() {
            // SAFETY: the caller's contract covers f0..f0 + at.len() of image j.
            unsafe {
                _mm512_mask_storeu_ps(dst.add(j * stride + f0), mask, _mm512_add_ps(v, bias))
            };
        }
    }
}

/// Copies `planes` planes of `rows` rows of `width` values from `src` to `dst`, a vector at a
/// time: plane p's row r starts at `p * from.0 + r * from.1` in `src` and at `p * to.0 + r *
/// to.1` in `dst` (rows of a few values cost a call to memcpy each, and the small planes of
/// deep layers a call each).
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn copy_rows(
    src: &[f32],
    dst: &mut [f32],
    (planes, rows, width): (usize, usize, usize),
    from: (usize, usize),
    to: (usize, usize),
) {
    if planes == 0 || rows == 0 || width == 0 {
        return;
    }
    let last = |(plane, row): (usize, usize)| (planes - 1) * plane + (rows - 1) * row + width;
    assert!(last(from) <= src.len() && last(to) <= dst.len());
    for p in 0..planes {
        for r in 0..rows {
            let (s, d) = (p * from.0 + r * from.1, p * to.0 + r * to.1);
            for x0 in (0..width).step_by(LANES) {
                let mask = lane_mask(width - x0);
                // SAFETY: the row's values lie inside both slices (asserted); the masks stop
                // there.
                unsafe {
                    let v = _mm512_maskz_loadu_ps(mask, src.as_ptr().add(s + x0));
                    _mm512_mask_storeu_ps(dst.as_mut_ptr().add(d + x0), mask, v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::direct::test_values as values;

    /// (count, len, stride): no image, a partial and a whole group of 16, runs shorter than,
    /// equal to and past one vector.
    const CASES: [(usize, usize, usize); 6] = [
        (0, 5, 7),
        (1, 1, 3),
        (5, 16, 19),
        (16, 17, 40),
        (16, 37, 37),
        (9, 4, 100),
    ];

    /// `len` distinct destination vectors, 16 apart and out of order, with gaps.
    fn scattered(len: usize) -> Vec<usize> {
        (0..len).map(|f| ((f * 7) % len) * 24 + 3).collect()
    }

    #[test]
    fn runs_become_image_lanes() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        for (i, &(count, len, stride)) in CASES.iter().enumerate() {
            let src = values(count.max(1) * stride + len, i as u32);
            let dest = scattered(len);
            let mut dst = vec![f32::NAN; len * 24 + 3 + LANES];
            // SAFETY: the CPU has AVX-512F (checked above).
            unsafe { runs_to_lanes(&src, stride, count, &dest, &mut dst) };
            for (f, &d) in dest.iter().enumerate() {
                for j in 0..LANES {
                    let want = if j < count { src[j * stride + f] } else { 0.0 };
                    assert_eq!(dst[d + j], want, "case {i}: index {f}, image {j}");
                }
            }
            let written = dst.iter().filter(|v| !v.is_nan()).count();
            assert_eq!(written, len * LANES, "case {i}: nothing else written");
        }
    }

    #[test]
    fn image_lanes_become_runs_plus_bias() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        for (i, &(count, len, stride)) in CASES.iter().enumerate() {
            let at = scattered(len);
            let src = values(len * 24 + 3 + LANES, 9 + i as u32);
            let mut dst = vec![f32::NAN; LANES * stride + len];
            // SAFETY: the CPU has AVX-512F; image j's run j * stride.. + len lies inside `dst`.
            unsafe { lanes_to_runs(&src, &at, count, (dst.as_mut_ptr(), stride), 0.5) };
            for (e, &v) in dst.iter().enumerate() {
                let (j, f) = (e / stride, e % stride);
                if j < count && f < len {
                    assert_eq!(v, src[at[f] + j] + 0.5, "case {i}: index {f}, image {j}");
                } else {
                    assert!(v.is_nan(), "case {i}: element {e} must stay unwritten");
                }
            }
        }
    }

    #[test]
    fn rows_are_copied_between_strides() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        // (planes, rows, width, source strides, destination strides): rows narrower than, as
        // wide as and wider than a vector; several planes, planes of one row, nothing.
        let cases = [
            (1, 5, 4, (0, 4), (0, 6)),
            (1, 3, 16, (0, 20), (0, 18)),
            (1, 4, 37, (0, 37), (0, 40)),
            (3, 2, 2, (4, 2), (16, 4)),
            (4, 1, 7, (7, 7), (9, 9)),
            (2, 0, 3, (3, 3), (3, 3)),
        ];
        for (i, &(planes, rows, width, from, to)) in cases.iter().enumerate() {
            let end = |(p, r): (usize, usize)| planes * p.max(rows * r) + rows * r + width;
            let src = values(end(from), 20 + i as u32);
            let mut dst = vec![f32::NAN; end(to) + 3];
            // SAFETY: the CPU has AVX-512F (checked above).
            unsafe { copy_rows(&src, &mut dst, (planes, rows, width), from, to) };
            let mut want = vec![None; dst.len()];
            for p in 0..planes {
                for r in 0..rows {
                    for x in 0..width {
                        want[p * to.0 + r * to.1 + x] = Some(src[p * from.0 + r * from.1 + x]);
                    }
                }
            }
            for (e, (&v, w)) in dst.iter().zip(&want).enumerate() {
                match w {
                    Some(w) => assert_eq!(v, *w, "case {i}: element {e}"),
                    None => assert!(v.is_nan(), "case {i}: element {e} must stay unwritten"),
                }
            }
        }
    }
}
