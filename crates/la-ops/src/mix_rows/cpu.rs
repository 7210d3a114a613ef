//! CPU kernel of the row mixing: each listed row updated and normalised in one pass.

use candle_core::{CpuStorage, Layout, Result};

use crate::cpu::{Float, slice};

/// Row `rows[r]` of the contiguous (N, D) `bank` becomes `normalise((1 - m) * row + m * v_r)`.
pub(super) fn mix(
    op: &'static str,
    (bank, lb): (&mut CpuStorage, &Layout),
    (v, lv): (&CpuStorage, &Layout),
    rows: &[u32],
    m: f64,
) -> Result<()> {
    match bank {
        CpuStorage::F32(b) => mix_as(op, b, lb, slice(op, v, lv)?, rows, m),
        CpuStorage::F64(b) => mix_as(op, b, lb, slice(op, v, lv)?, rows, m),
        _ => candle_core::bail!("{op}: the bank must be f32 or f64"),
    }
}

fn mix_as<T: Float>(
    op: &'static str,
    bank: &mut [T],
    lb: &Layout,
    v: &[T],
    rows: &[u32],
    m: f64,
) -> Result<()> {
    let Some((start, _)) = lb.contiguous_offsets() else {
        candle_core::bail!("{op}: internal error, the bank is strided")
    };
    let d = lb.dims()[1];
    for (&i, v) in rows.iter().zip(v.chunks_exact(d)) {
        let row = &mut bank[start + i as usize * d..start + (i as usize + 1) * d];
        let mut sq = 0.0;
        for (b, x) in row.iter_mut().zip(v) {
            let y = (1.0 - m) * b.f64() + m * x.f64();
            *b = T::of(y);
            sq += y * y;
        }
        let scale = 1.0 / sq.sqrt().max(1e-12);
        for b in row.iter_mut() {
            *b = T::of(b.f64() * scale);
        }
    }
    Ok(())
}
