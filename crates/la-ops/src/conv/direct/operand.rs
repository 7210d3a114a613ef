//! What the direct kernels multiply: f32 values, or bfloat16 values whose products are summed
//! in f32 (AVX512-BF16's dot product multiplies two pairs of bf16 values per f32 lane, so
//! pairs of input channels share one element).

use super::tile::Tile;

/// An element of the padded input rows: one f32, one bf16, or a pair of bf16 values of two
/// successive input channels.
pub(super) trait Packed: Copy + Default + Send + Sync + 'static {
    /// Values one element holds: successive input channels of the padded rows, or (as the
    /// filter gradient's transposed output gradient) successive positions.
    const CHANNELS: usize;

    /// The element of `value(c)` for the element's channels c < `count` (the rest zero).
    fn pack_with(count: usize, value: impl Fn(usize) -> f32) -> Self;

    /// `dst[i]` = the element of the planes' values at i, for the channels `planes` holds.
    fn pack_row(dst: &mut [Self], planes: &[&[f32]]) {
        for (i, d) in dst.iter_mut().enumerate() {
            *d = Self::pack_with(planes.len(), |c| planes[c][i]);
        }
    }
}

/// An element the forward micro-kernel multiplies, with the tap blocks it is summed in.
pub(super) trait Operand: Packed {
    /// Tap elements per block: a tile's input vectors for one block (KC x 128 bytes) stay
    /// in L1, and a block of weights for 512 output channels fits 256 KiB in bf16.
    const KC: usize;

    /// The micro-kernel of this element: see `avx512::kernel` for the contract.
    ///
    /// # Safety
    /// As `avx512::kernel`, and the CPU must have this element's instructions.
    unsafe fn kernel(
        a: *const Self,
        b: *const Self,
        inputs: &[usize],
        weight: impl Fn(usize) -> usize,
        tile: &Tile,
        c: &mut [f32],
        accumulate: bool,
    );
}

impl Packed for f32 {
    const CHANNELS: usize = 1;

    fn pack_with(count: usize, value: impl Fn(usize) -> f32) -> Self {
        if count > 0 { value(0) } else { 0.0 }
    }

    fn pack_row(dst: &mut [Self], planes: &[&[f32]]) {
        dst.copy_from_slice(&planes[0][..dst.len()]);
    }
}

impl Operand for f32 {
    const KC: usize = 256;

    unsafe fn kernel(
        a: *const Self,
        b: *const Self,
        inputs: &[usize],
        weight: impl Fn(usize) -> usize,
        tile: &Tile,
        c: &mut [f32],
        accumulate: bool,
    ) {
        // SAFETY: the caller's contract is the kernel's.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            super::avx512::kernel(a, b, inputs, weight, tile, c, accumulate)
        };
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (a, b, inputs, weight, tile, c, accumulate);
            unreachable!("no direct kernel on this architecture")
        }
    }
}

/// One bfloat16 value (its bits).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(transparent)]
pub(super) struct Bf16(pub u16);

impl Packed for Bf16 {
    const CHANNELS: usize = 1;

    fn pack_with(count: usize, value: impl Fn(usize) -> f32) -> Self {
        Bf16(if count > 0 { bf16_bits(value(0)) } else { 0 })
    }
}

/// Two bfloat16 values, of input channels 2c (low half) and 2c + 1 (high half).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(transparent)]
pub(super) struct Bf16Pair(pub u32);

impl Packed for Bf16Pair {
    const CHANNELS: usize = 2;

    fn pack_with(count: usize, value: impl Fn(usize) -> f32) -> Self {
        let half = |c: usize| {
            if c < count {
                bf16_bits(value(c)) as u32
            } else {
                0
            }
        };
        Bf16Pair(half(0) | half(1) << 16)
    }
}

impl Operand for Bf16Pair {
    const KC: usize = 128;

    unsafe fn kernel(
        a: *const Self,
        b: *const Self,
        inputs: &[usize],
        weight: impl Fn(usize) -> usize,
        tile: &Tile,
        c: &mut [f32],
        accumulate: bool,
    ) {
        // SAFETY: the caller's contract is the kernel's.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            super::avx512::kernel_bf16(a.cast(), b.cast(), inputs, weight, tile, c, accumulate)
        };
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (a, b, inputs, weight, tile, c, accumulate);
            unreachable!("no direct kernel on this architecture")
        }
    }
}

/// The bits of `v` rounded to the nearest bfloat16 (ties to even), as AVX512-BF16's
/// conversions round; NaN stays NaN.
pub(super) fn bf16_bits(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return (bits >> 16) as u16 | 0x40;
    }
    let rounding = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

/// `v` rounded to the nearest bfloat16, as an f32 (for references in tests).
#[cfg(test)]
pub(super) fn round_bf16(v: f32) -> f32 {
    f32::from_bits((bf16_bits(v) as u32) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_with_ties_to_even() {
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
        assert_eq!(round_bf16(1.0 + 2f32.powi(-8)), 1.0);
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
        assert_eq!(round_bf16(1.0 + 3.0 * 2f32.powi(-8)), 1.0 + 2f32.powi(-6));
        // Just above halfway rounds up.
        assert_eq!(
            round_bf16(1.0 + 2f32.powi(-8) + 2f32.powi(-20)),
            1.0 + 2f32.powi(-7)
        );
        assert_eq!(round_bf16(-3.0), -3.0);
        assert_eq!(round_bf16(f32::MAX), f32::INFINITY);
        assert!(round_bf16(f32::NAN).is_nan());
        assert_eq!(bf16_bits(1.0), 0x3f80);
    }

    #[test]
    fn pairs_hold_even_channels_low() {
        let p = Bf16Pair::pack_with(2, |c| [1.0, -2.0][c]);
        assert_eq!(p, Bf16Pair(0x3f80 | 0xc000 << 16));
        assert_eq!(Bf16Pair::pack_with(1, |_| 1.0), Bf16Pair(0x3f80));
        let mut row = [Bf16Pair::default(); 2];
        Bf16Pair::pack_row(&mut row, &[&[1.0, 2.0], &[3.0, 4.0]]);
        assert_eq!(row[1], Bf16Pair(0x4000 | 0x4080 << 16));
    }
}
