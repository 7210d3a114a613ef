//! CPU kernel of the max-pool forward pass: values and argmax indices in one sweep.

use candle_core::{CpuStorage, Layout, Result, Shape};
use rayon::prelude::*;

use crate::cpu::{Float, planes_per_task, slice};
#[cfg(target_arch = "x86_64")]
use crate::cpu::{as_f32, as_f32_mut, is_f32};

/// Window geometry of a pool over one (H, W) plane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolGeometry {
    pub kernel: usize,
    pub stride: usize,
    pub in_hw: (usize, usize),
    pub out_hw: (usize, usize),
}

/// Max of every window, and its flat position in the input plane.
///
/// PyTorch semantics: the first maximum wins on ties, a NaN counts as a maximum, and a window
/// of -inf keeps the window's first position.
pub(crate) fn forward<T: Float>(
    storage: &CpuStorage,
    layout: &Layout,
    g: PoolGeometry,
    out_shape: Shape,
) -> Result<(CpuStorage, Vec<u32>)> {
    let x = slice::<T>("max_pool2d_with_indices", storage, layout)?;
    let (values, indices) = pool_planes(x, g, out_shape.elem_count());
    Ok((T::to_cpu_storage_owned(values), indices))
}

/// The pooled values and argmax positions of the (H, W) planes of `x`, `count` outputs in all.
pub(crate) fn pool_planes<T: Float>(x: &[T], g: PoolGeometry, count: usize) -> (Vec<T>, Vec<u32>) {
    let (h, w) = g.in_hw;
    let (oh, ow) = g.out_hw;
    let mut values = vec![T::zero(); count];
    let mut indices = vec![0u32; count];
    if count > 0 {
        // Several small planes to a task, yet four tasks a thread: pooling a 2 x 2 plane
        // costs less than handing it out.
        let planes = count / (oh * ow);
        let group = planes_per_task(oh * ow).min(planes.div_ceil(4 * rayon::current_num_threads()));
        values
            .par_chunks_mut(oh * ow * group)
            .zip(indices.par_chunks_mut(oh * ow * group))
            .zip(x.par_chunks(h * w * group))
            .for_each(|((v, i), x)| {
                let outputs = v.chunks_mut(oh * ow).zip(i.chunks_mut(oh * ow));
                for ((v, i), plane) in outputs.zip(x.chunks(h * w)) {
                    pool_plane(plane, v, i, g);
                }
            });
    }
    (values, indices)
}

fn pool_plane<T: Float>(plane: &[T], values: &mut [T], indices: &mut [u32], g: PoolGeometry) {
    let (_, w) = g.in_hw;
    let (_, ow) = g.out_hw;
    let rows = values
        .chunks_exact_mut(ow)
        .zip(indices.chunks_exact_mut(ow));
    for (oh, (values, indices)) in rows.enumerate() {
        let top = oh * g.stride;
        if g.kernel == 2 && g.stride == 2 {
            let rows = (&plane[top * w..][..w], &plane[(top + 1) * w..][..w]);
            pool_row_2x2(rows, (top * w) as u32, w as u32, values, indices);
            continue;
        }
        for (j, (value, index)) in values.iter_mut().zip(indices.iter_mut()).enumerate() {
            let left = j * g.stride;
            let mut best = T::neg_infinity();
            let mut best_at = top * w + left;
            for r in top..top + g.kernel {
                for c in left..left + g.kernel {
                    (best, best_at) = keep_max((best, best_at), plane[r * w + c], r * w + c);
                }
            }
            *value = best;
            *index = best_at as u32;
        }
    }
}

/// PyTorch's comparison, without branches: `v` replaces the best so far if larger or NaN,
/// so the first maximum wins on ties.
#[inline(always)]
fn keep_max<T: Float, I: Copy>((best, at): (T, I), v: T, v_at: I) -> (T, I) {
    let take = v > best || v.is_nan();
    (if take { v } else { best }, if take { v_at } else { at })
}

/// One output row of the common 2x2, stride-2 pool: input rows `top` and `top + 1` of the
/// plane (`rows`), the first at flat offset `base`, `w` wide. f32 rows of two windows or more
/// on AVX-512 take the vector kernel, with the same values and positions (a row of one window,
/// a 2 x 2 plane, ran 20% slower there than in the portable loop).
fn pool_row_2x2<T: Float>(
    rows: (&[T], &[T]),
    base: u32,
    w: u32,
    values: &mut [T],
    indices: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    if values.len() > 1 && is_f32::<T>() && is_x86_feature_detected!("avx512f") {
        let rows = (as_f32(rows.0), as_f32(rows.1));
        // SAFETY: the CPU has AVX-512F (checked above).
        unsafe { super::avx512::pool_row_2x2(rows, (base, w), as_f32_mut(values), indices) };
        return;
    }
    pool_row_2x2_portable(rows, base, w, values, indices);
}

/// [`pool_row_2x2`] in portable code.
fn pool_row_2x2_portable<T: Float>(
    (r0, r1): (&[T], &[T]),
    base: u32,
    w: u32,
    values: &mut [T],
    indices: &mut [u32],
) {
    let pairs = r0.chunks_exact(2).zip(r1.chunks_exact(2));
    for (j, ((value, index), (top, bottom))) in values
        .iter_mut()
        .zip(indices.iter_mut())
        .zip(pairs)
        .enumerate()
    {
        let mut best = (top[0], 0u32);
        best = keep_max(best, top[1], 1);
        best = keep_max(best, bottom[0], w);
        best = keep_max(best, bottom[1], w + 1);
        *value = best.0;
        *index = base + 2 * j as u32 + best.1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row kernel: [`pool_row_2x2`] or [`pool_row_2x2_portable`] for f32.
    type RowPool = fn((&[f32], &[f32]), u32, u32, &mut [f32], &mut [u32]);

    #[test]
    fn vector_rows_match_the_portable_rows() {
        // Widths with no, a partial and several vectors of windows, odd widths (a last column
        // no window reads); values from few levels (ties in most windows), NaN, -inf, -0 and 0.
        for w in [2usize, 3, 8, 31, 32, 33, 64, 70] {
            let row = |seed: usize| -> Vec<f32> {
                (0..w)
                    .map(|i| match (i * 2_654_435_761 + seed * 97) % 13 {
                        0 => f32::NAN,
                        1 => f32::NEG_INFINITY,
                        2 => -0.0,
                        3 => 0.0,
                        k => (k % 3) as f32,
                    })
                    .collect()
            };
            for seed in 0..6 {
                let (top, bottom) = (row(seed), row(seed + 13));
                let ow = w / 2;
                let run = |f: RowPool| {
                    let (mut v, mut i) = (vec![f32::NAN; ow], vec![u32::MAX; ow]);
                    f((&top, &bottom), 40, w as u32, &mut v, &mut i);
                    (v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), i)
                };
                assert_eq!(
                    run(pool_row_2x2::<f32>),
                    run(pool_row_2x2_portable::<f32>),
                    "width {w}, seed {seed}"
                );
            }
        }
    }
}
