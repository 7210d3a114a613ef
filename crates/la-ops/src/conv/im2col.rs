//! Unfolding of image rows into the column matrix of a stride-1 convolution.

use super::Geometry;
use crate::cpu::Float;

/// Writes the patches of output rows `r0..r1` of one image `x` (c_in, h, w) into the column
/// matrix `col`: K rows (K = c_in*kh*kw) of `ld` elements, this image's (r1-r0)*out_w columns
/// starting at column `first`. Positions in the padding read zero.
pub(crate) fn im2col<T: Float>(
    x: &[T],
    g: &Geometry,
    rows: (usize, usize),
    col: &mut [T],
    ld: usize,
    first: usize,
) {
    let width = (rows.1 - rows.0) * g.out_w;
    let mut k = 0;
    for ci in 0..g.c_in {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for tap in (0..g.kh).flat_map(|i| (0..g.kw).map(move |j| (i, j))) {
            let dst = &mut col[k * ld + first..][..width];
            k += 1;
            if g.out_w == g.w {
                shifted_plane(plane, g, rows, tap, dst);
            } else {
                padded_rows(plane, g, rows, tap, dst);
            }
        }
    }
}

/// One kernel tap's values for output rows `r0..r1` when the output is as wide as the input
/// (the usual "same" padding): the plane shifted by (i - ph) rows and (j - pw) columns. The
/// rows inside the image are one copy of the flat plane, after which only the columns shifted
/// across the border, which wrapped into the neighbouring row, are zeroed; on narrow deep
/// layers this replaces three tiny copies per row with one per tap.
fn shifted_plane<T: Float>(
    plane: &[T],
    g: &Geometry,
    (r0, r1): (usize, usize),
    (i, j): (usize, usize),
    dst: &mut [T],
) {
    let (ph, pw) = g.pad;
    let w = g.w;
    // Output rows whose input row orow + i - ph lies inside the image.
    let lo = ph.saturating_sub(i).clamp(r0, r1);
    let hi = (g.h + ph).saturating_sub(i).clamp(lo, r1);
    let (above, rest) = dst.split_at_mut((lo - r0) * w);
    let (inside, below) = rest.split_at_mut((hi - lo) * w);
    above.fill(T::zero());
    below.fill(T::zero());
    if inside.is_empty() {
        return;
    }
    // inside[p] = plane[base + p + shift] where that index lies in the plane.
    let base = ((lo + i - ph) * w) as isize;
    let shift = j as isize - pw as isize;
    let n = inside.len() as isize;
    let start = (-(base + shift)).clamp(0, n);
    let end = (plane.len() as isize - base - shift).clamp(start, n);
    if start < end {
        let src = (base + start + shift) as usize;
        inside[start as usize..end as usize]
            .copy_from_slice(&plane[src..][..(end - start) as usize]);
    }
    // Columns whose input column x + shift lies outside the image (strided stores, not a
    // tiny fill per row).
    let wrapped = if shift < 0 {
        0..(-shift as usize).min(w)
    } else {
        w.saturating_sub(shift as usize)..w
    };
    for c in wrapped {
        inside
            .iter_mut()
            .skip(c)
            .step_by(w)
            .for_each(|v| *v = T::zero());
    }
}

/// One kernel tap's values for output rows `r0..r1`, row by row: any padding.
fn padded_rows<T: Float>(
    plane: &[T],
    g: &Geometry,
    (r0, r1): (usize, usize),
    (i, j): (usize, usize),
    dst: &mut [T],
) {
    let (ph, pw) = g.pad;
    // Output columns whose input column j + oc - pw lies inside the image.
    let lo = pw.saturating_sub(j).min(g.out_w);
    let hi = (g.w + pw).saturating_sub(j).min(g.out_w).max(lo);
    for (orow, d) in (r0..r1).zip(dst.chunks_exact_mut(g.out_w)) {
        let irow = (orow + i).wrapping_sub(ph);
        if irow >= g.h {
            d.fill(T::zero());
            continue;
        }
        let src = &plane[irow * g.w..(irow + 1) * g.w];
        d[..lo].fill(T::zero());
        d[lo..hi].copy_from_slice(&src[lo + j - pw..hi + j - pw]);
        d[hi..].fill(T::zero());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column matrix by its definition: col[k][first + t*out_w + x] is input (ci, orow + i
    /// - ph, x + j - pw), or zero outside the image.
    fn naive(
        x: &[f64],
        g: &Geometry,
        (r0, r1): (usize, usize),
        ld: usize,
        first: usize,
    ) -> Vec<f64> {
        let mut col = vec![f64::NAN; g.k() * ld];
        for ci in 0..g.c_in {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let k = (ci * g.kh + i) * g.kw + j;
                    for (t, orow) in (r0..r1).enumerate() {
                        for oc in 0..g.out_w {
                            let (y, xx) = (
                                (orow + i) as isize - g.pad.0 as isize,
                                (oc + j) as isize - g.pad.1 as isize,
                            );
                            let inside =
                                (0..g.h as isize).contains(&y) && (0..g.w as isize).contains(&xx);
                            col[k * ld + first + t * g.out_w + oc] = if inside {
                                x[(ci * g.h + y as usize) * g.w + xx as usize]
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
        }
        col
    }

    #[test]
    fn matches_the_definition_for_same_and_other_paddings_and_row_ranges() {
        // (c_in, h, w, kh, kw, pad): same padding at several widths (1 and 2 columns narrower
        // than the kernel's reach included), same width but fewer rows, a valid convolution,
        // and over-padding.
        let cases = [
            (2, 5, 4, 3, 3, (1, 1)),
            (1, 2, 2, 3, 3, (1, 1)),
            (3, 1, 1, 3, 3, (1, 1)),
            (2, 3, 2, 5, 5, (2, 2)),
            (1, 4, 1, 5, 5, (2, 2)),
            (2, 4, 6, 1, 1, (0, 0)),
            (2, 5, 4, 3, 3, (0, 1)),
            (1, 6, 5, 3, 3, (0, 0)),
            (2, 4, 3, 3, 3, (2, 2)),
            (1, 3, 7, 3, 5, (1, 2)),
        ];
        for (c_in, h, w, kh, kw, pad) in cases {
            let g = Geometry::new([1, c_in, h, w], [2, c_in, kh, kw], pad);
            let x: Vec<f64> = (0..c_in * h * w).map(|v| v as f64 + 1.0).collect();
            for rows in [
                (0, g.out_h),
                (0, 1),
                (g.out_h / 2, g.out_h),
                (1.min(g.out_h), g.out_h),
            ] {
                let (ld, first) = ((rows.1 - rows.0) * g.out_w + 3, 2);
                let mut col = vec![f64::NAN; g.k() * ld];
                im2col(&x, &g, rows, &mut col, ld, first);
                let want = naive(&x, &g, rows, ld, first);
                let same = col
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
                assert!(
                    same,
                    "{c_in}x{h}x{w}, kernel {kh}x{kw}, pad {pad:?}, rows {rows:?}: {col:?} != {want:?}"
                );
            }
        }
    }
}
