//! CPU kernel of the max-pool forward pass: values and argmax indices in one sweep.

use candle_core::{CpuStorage, Layout, Result, Shape};
use rayon::prelude::*;

use crate::cpu::{Float, slice};

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
        values
            .par_chunks_mut(oh * ow)
            .zip(indices.par_chunks_mut(oh * ow))
            .zip(x.par_chunks(h * w))
            .for_each(|((v, i), plane)| pool_plane(plane, v, i, g));
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
            pool_row_2x2(&plane[top * w..], w, top * w, values, indices);
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

/// One output row of the common 2x2, stride-2 pool: rows `top` and `top + 1` of the plane
/// (`rows` starts at the first of them, whose flat offset is `base`). Written with
/// exact-size chunks and 32-bit positions so that the compiler vectorises it.
fn pool_row_2x2<T: Float>(
    rows: &[T],
    w: usize,
    base: usize,
    values: &mut [T],
    indices: &mut [u32],
) {
    let (r0, r1) = (&rows[..w], &rows[w..2 * w]);
    let (base, w) = (base as u32, w as u32);
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
