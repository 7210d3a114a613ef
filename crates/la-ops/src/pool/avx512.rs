//! The 2 x 2, stride-2 max pool of f32 rows on AVX-512: 16 windows a vector, the four
//! candidates split out of each row pair by permutes and compared with masks, so that random
//! maxima cost no mispredicted branches (the scalar loop took 10 ns a window). Whole vectors
//! are loaded unmasked: masked loads that missed the caches made the pool of 64 planes of 64
//! x 64 half again slower (measured, Zen 5).

use std::arch::x86_64::*;

use crate::cpu::avx512::lane_mask;

/// Windows per vector.
const LANES: usize = 16;

/// `values[j]`, `indices[j]` = the maximum of the window `top[2j], top[2j + 1], bottom[2j],
/// bottom[2j + 1]` and its position `base + 2j + (0, 1, w, w + 1)`, with `cpu::keep_max`'s
/// rule in this order (a later candidate wins only if larger or NaN).
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn pool_row_2x2(
    (top, bottom): (&[f32], &[f32]),
    (base, w): (u32, u32),
    values: &mut [f32],
    indices: &mut [u32],
) {
    let n = values.len();
    assert!(indices.len() == n && top.len() >= 2 * n && bottom.len() >= 2 * n);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for j0 in (0..n).step_by(LANES) {
        let m = (n - j0).min(LANES);
        let (lo, hi) = (lane_mask(2 * m), lane_mask((2 * m).saturating_sub(LANES)));
        // SAFETY: the 2m inputs of these windows lie inside both rows (asserted); the masks
        // stop the loads there.
        let load = |row: &[f32]| unsafe {
            let at = row.as_ptr().add(2 * j0);
            let (first, second) = if m == LANES {
                (_mm512_loadu_ps(at), _mm512_loadu_ps(at.add(LANES)))
            } else {
                (
                    _mm512_maskz_loadu_ps(lo, at),
                    _mm512_maskz_loadu_ps(hi, at.wrapping_add(LANES)),
                )
            };
            (
                _mm512_permutex2var_ps(first, even, second),
                _mm512_permutex2var_ps(first, odd, second),
            )
        };
        let ((a, b), (c, d)) = (load(top), load(bottom));
        let (mut best, mut at) = (a, _mm512_setzero_si512());
        for (v, offset) in [(b, 1), (c, w), (d, w + 1)] {
            let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best)
                | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            best = _mm512_mask_mov_ps(best, take, v);
            at = _mm512_mask_mov_epi32(at, take, _mm512_set1_epi32(offset as i32));
        }
        let first = _mm512_set1_epi32((base + 2 * j0 as u32) as i32);
        let positions = _mm512_add_epi32(_mm512_add_epi32(first, even), at);
        let mask = lane_mask(m);
        // SAFETY: outputs j0..j0 + m lie inside both slices (asserted); the mask stops there.
        unsafe {
            _mm512_mask_storeu_ps(values.as_mut_ptr().add(j0), mask, best);
            _mm512_mask_storeu_epi32(indices.as_mut_ptr().add(j0).cast(), mask, positions);
        }
    }
}
