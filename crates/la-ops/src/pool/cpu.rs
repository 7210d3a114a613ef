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
    let (h, w) = g.in_hw;
    let (oh, ow) = g.out_hw;
    let count = out_shape.elem_count();
    let mut values = vec![T::zero(); count];
    let mut indices = vec![0u32; count];
    if count > 0 {
        values
            .par_chunks_mut(oh * ow)
            .zip(indices.par_chunks_mut(oh * ow))
            .zip(x.par_chunks(h * w))
            .for_each(|((v, i), plane)| pool_plane(plane, v, i, g));
    }
    Ok((T::to_cpu_storage_owned(values), indices))
}

fn pool_plane<T: Float>(plane: &[T], values: &mut [T], indices: &mut [u32], g: PoolGeometry) {
    let (_, w) = g.in_hw;
    let (_, ow) = g.out_hw;
    for (o, (value, index)) in values.iter_mut().zip(indices.iter_mut()).enumerate() {
        let top = (o / ow) * g.stride;
        let left = (o % ow) * g.stride;
        let mut best = T::neg_infinity();
        let mut best_at = top * w + left;
        for r in top..top + g.kernel {
            for (c, &v) in plane[r * w + left..r * w + left + g.kernel]
                .iter()
                .enumerate()
            {
                if v > best || v.is_nan() {
                    best = v;
                    best_at = r * w + left + c;
                }
            }
        }
        *value = best;
        *index = best_at as u32;
    }
}
