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
    let (r0, r1) = rows;
    let (ph, pw) = g.pad;
    let mut k = 0;
    for ci in 0..g.c_in {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let dst = &mut col[k * ld + first..k * ld + first + (r1 - r0) * g.out_w];
                k += 1;
                // Output columns whose input column j + oc - pw lies inside the image.
                let lo = pw.saturating_sub(j).min(g.out_w);
                let hi = (g.w + pw).saturating_sub(j).min(g.out_w).max(lo);
                for (t, orow) in (r0..r1).enumerate() {
                    let d = &mut dst[t * g.out_w..(t + 1) * g.out_w];
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
        }
    }
}
