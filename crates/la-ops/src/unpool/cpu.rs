//! CPU kernels moving values between pooled planes and full planes through flat indices.

use candle_core::{CpuStorage, Layout, Result};
use rayon::prelude::*;

use crate::OpError;
use crate::cpu::{Float, planes_per_task, slice};

/// `out[plane][idx[i]] += src[plane][i]` into zeroed planes of `out_plane` elements.
pub(crate) fn scatter_add<T: Float>(
    op: &'static str,
    src: (&CpuStorage, &Layout),
    idx: (&CpuStorage, &Layout),
    out_plane: usize,
) -> Result<CpuStorage> {
    let (src, idx, in_plane) = planes::<T>(op, src, idx)?;
    let planes = src.len().checked_div(in_plane).unwrap_or(0);
    let mut out = Vec::with_capacity(planes * out_plane);
    if in_plane > 0 && out_plane > 0 {
        let group = planes_per_task(out_plane);
        // Each task zeroes its own planes right before scattering into them: a parallel
        // memset whose lines are still in cache for the scatter.
        out.spare_capacity_mut()[..planes * out_plane]
            .par_chunks_mut(out_plane * group)
            .zip(src.par_chunks(in_plane * group))
            .zip(idx.par_chunks(in_plane * group))
            .enumerate()
            .try_for_each(|(task, ((out, src), idx))| {
                out.iter_mut().for_each(|o| {
                    o.write(T::zero());
                });
                let planes = out
                    .chunks_mut(out_plane)
                    .zip(src.chunks(in_plane).zip(idx.chunks(in_plane)));
                for (p, (out, (src, idx))) in planes.enumerate() {
                    for (i, (&v, &at)) in src.iter().zip(idx).enumerate() {
                        let slot = out.get_mut(at as usize).ok_or_else(|| {
                            let position = (task * group + p) * in_plane + i;
                            out_of_range(op, at, position, out_plane)
                        })?;
                        // SAFETY: every element of this task's planes was written above.
                        unsafe { *slot.assume_init_mut() += v };
                    }
                }
                Ok::<(), candle_core::Error>(())
            })?;
        // SAFETY: the loop above initialised all planes * out_plane elements (on error we
        // returned before this point).
        unsafe { out.set_len(planes * out_plane) };
    } else if in_plane > 0 {
        // Planes of zero elements cannot hold any index.
        return Err(out_of_range(op, idx[0], 0, 0));
    }
    Ok(T::to_cpu_storage_owned(out))
}

/// `out[plane][i] = src[plane][idx[i]]` where `src` planes have `src_plane` elements.
pub(crate) fn gather<T: Float>(
    op: &'static str,
    src: (&CpuStorage, &Layout),
    idx: (&CpuStorage, &Layout),
    src_plane: usize,
) -> Result<CpuStorage> {
    let src = slice::<T>(op, src.0, src.1)?;
    let idx = slice::<u32>(op, idx.0, idx.1)?;
    let planes = src.len().checked_div(src_plane).unwrap_or(0);
    let out_plane = idx.len().checked_div(planes).unwrap_or(0);
    let mut out = vec![T::zero(); idx.len()];
    if out_plane > 0 {
        let group = planes_per_task(src_plane);
        out.par_chunks_mut(out_plane * group)
            .zip(idx.par_chunks(out_plane * group))
            .zip(src.par_chunks(src_plane * group))
            .enumerate()
            .try_for_each(|(task, ((out, idx), src))| {
                let planes = out
                    .chunks_mut(out_plane)
                    .zip(idx.chunks(out_plane).zip(src.chunks(src_plane)));
                for (p, (out, (idx, src))) in planes.enumerate() {
                    for (i, (o, &at)) in out.iter_mut().zip(idx).enumerate() {
                        *o = *src.get(at as usize).ok_or_else(|| {
                            let position = (task * group + p) * out_plane + i;
                            out_of_range(op, at, position, src_plane)
                        })?;
                    }
                }
                Ok::<(), candle_core::Error>(())
            })?;
    }
    Ok(T::to_cpu_storage_owned(out))
}

/// The source values and indices as slices, with the plane size they share.
fn planes<'a, T: Float>(
    op: &'static str,
    src: (&'a CpuStorage, &Layout),
    idx: (&'a CpuStorage, &Layout),
) -> Result<(&'a [T], &'a [u32], usize)> {
    let dims = src.1.dims();
    let plane = dims[2] * dims[3];
    Ok((
        slice::<T>(op, src.0, src.1)?,
        slice::<u32>(op, idx.0, idx.1)?,
        plane,
    ))
}

fn out_of_range(op: &'static str, index: u32, position: usize, plane: usize) -> candle_core::Error {
    OpError::IndexOutOfRange {
        op,
        index: index.into(),
        position,
        plane,
    }
    .into()
}
