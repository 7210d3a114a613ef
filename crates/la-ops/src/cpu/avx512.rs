//! AVX-512 helpers shared by the kernels: lane masks and the 16 x 16 register transpose.

use std::arch::x86_64::*;

use super::LANES;

/// The mask of a register's first `n` of LANES lanes (all of them when `n >= LANES`).
pub(crate) fn lane_mask(n: usize) -> u16 {
    if n >= LANES { 0xffff } else { (1u16 << n) - 1 }
}

/// The transpose of a 16 x 16 block held as 16 row vectors.
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    // Pairs of rows interleaved by element, then by pairs of elements, then 128-bit quarters
    // exchanged twice.
    let t: [__m512; 16] = std::array::from_fn(|i| {
        let (x, y) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_ps(x, y)
        } else {
            _mm512_unpackhi_ps(x, y)
        }
    });
    let u: [__m512; 16] = std::array::from_fn(|i| {
        let base = i / 4 * 4;
        let (x, y) = (t[base + (i % 4) / 2], t[base + 2 + (i % 4) / 2]);
        if i % 2 == 0 {
            _mm512_shuffle_ps::<0x44>(x, y)
        } else {
            _mm512_shuffle_ps::<0xEE>(x, y)
        }
    });
    let w: [__m512; 16] = std::array::from_fn(|i| {
        let base = i / 8 * 8;
        let (x, y) = (u[base + i % 4], u[base + 4 + i % 4]);
        if i % 8 < 4 {
            _mm512_shuffle_f32x4::<0x88>(x, y)
        } else {
            _mm512_shuffle_f32x4::<0xDD>(x, y)
        }
    });
    std::array::from_fn(|i| {
        let (x, y) = (w[i % 8], w[8 + i % 8]);
        if i < 8 {
            _mm512_shuffle_f32x4::<0x88>(x, y)
        } else {
            _mm512_shuffle_f32x4::<0xDD>(x, y)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose16_swaps_rows_and_columns() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let rows: [__m512; 16] = std::array::from_fn(|r| {
            let v: [f32; 16] = std::array::from_fn(|c| (r * 16 + c) as f32);
            // SAFETY: plain data of the same size.
            unsafe { std::mem::transmute::<[f32; 16], __m512>(v) }
        });
        // SAFETY: the CPU has AVX-512F (checked above).
        let t = unsafe { transpose16(rows) };
        for (c, col) in t.iter().enumerate() {
            // SAFETY: plain data of the same size.
            let v = unsafe { std::mem::transmute::<__m512, [f32; 16]>(*col) };
            for (r, &x) in v.iter().enumerate() {
                assert_eq!(x, (r * 16 + c) as f32, "row {r} column {c}");
            }
        }
    }
}
