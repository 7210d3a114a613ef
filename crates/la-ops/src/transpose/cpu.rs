//! CPU kernel of the transpose: tiles copied in parallel strips.

use candle_core::{CpuStorage, Layout, Result};
use rayon::prelude::*;

use crate::cpu::{Float, slice};

/// The side of the square tiles copied at once (a tile of f64 is 8 KiB).
const TILE: usize = 32;
/// Input columns per parallel task.
const STRIP: usize = 256;

/// The transpose (cols, rows) of the contiguous (rows, cols) input.
pub(crate) fn blocked<T: Float>(
    op: &'static str,
    storage: &CpuStorage,
    layout: &Layout,
    rows: usize,
    cols: usize,
) -> Result<CpuStorage> {
    let x = slice::<T>(op, storage, layout)?;
    let mut out = vec![T::zero(); x.len()];
    if rows == 0 || cols == 0 {
        return Ok(T::to_cpu_storage_owned(out));
    }
    // Each task fills STRIP output rows (= input columns c0..c0 + STRIP), visiting each input
    // row once per strip (a page per row: wide strips keep TLB misses few) in TILE x TILE
    // tiles (L1-resident).
    out.par_chunks_mut(STRIP * rows)
        .enumerate()
        .for_each(|(strip, out)| {
            let c0 = strip * STRIP;
            let width = out.len() / rows;
            for r0 in (0..rows).step_by(TILE) {
                for t0 in (0..width).step_by(TILE) {
                    let t1 = (t0 + TILE).min(width);
                    for r in r0..(r0 + TILE).min(rows) {
                        let src = &x[r * cols + c0 + t0..r * cols + c0 + t1];
                        for (c, &v) in (t0..t1).zip(src) {
                            out[c * rows + r] = v;
                        }
                    }
                }
            }
        });
    Ok(T::to_cpu_storage_owned(out))
}
