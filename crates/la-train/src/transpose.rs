//! A cache-blocked, parallel transpose of a matrix into a contiguous tensor.
//!
//! The product of a small batch with a large bank is fastest in the orientation
//! `bank @ v^T` (N x batch; gemm splits the long side across threads), while the selection
//! of neighbours reads rows of `v @ bank^T`: the transpose in between costs a pass over the
//! (batch, N) matrix, a fraction of candle's strided copy.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::cpu::{dispatch_float, slice};

const OP: &str = "transpose";
/// The side of the square tiles copied at once (a tile of f64 is 8 KiB).
const TILE: usize = 32;
/// Input columns per parallel task.
const STRIP: usize = 256;

/// `x^T` (cols, rows) for a matrix `x` (rows, cols), contiguous; not differentiable.
pub(crate) fn transpose(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
    {
        x.contiguous()?.apply_op1_no_bwd(&Transpose)
    } else {
        x.t()?.contiguous()
    }
}

struct Transpose;

impl CustomOp1 for Transpose {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, cols) = l.shape().dims2()?;
        let out = dispatch_float!(OP, s, blocked(s, l, rows, cols))?;
        Ok((out, Shape::from((cols, rows))))
    }
}

fn blocked<T: WithDType>(
    s: &CpuStorage,
    l: &Layout,
    rows: usize,
    cols: usize,
) -> candle_core::Result<CpuStorage> {
    let x = slice::<T>(OP, s, l)?;
    let mut out = vec![T::from_f64(0.0); x.len()];
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

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    #[test]
    fn matches_candles_transpose_on_ragged_shapes() {
        for (rows, cols) in [(1, 1), (3, 70), (70, 3), (33, 65), (64, 32)] {
            let x = Tensor::arange(0f32, (rows * cols) as f32, &Device::Cpu)
                .unwrap()
                .reshape((rows, cols))
                .unwrap();
            let got = super::transpose(&x).unwrap();
            assert_eq!(got.dims(), [cols, rows]);
            let want = x.t().unwrap().contiguous().unwrap();
            assert_eq!(
                got.to_vec2::<f32>().unwrap(),
                want.to_vec2::<f32>().unwrap()
            );
        }
    }
}
