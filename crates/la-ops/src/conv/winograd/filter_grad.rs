//! The filter gradient of Winograd's convolutions, by F(2 x 2, 3 x 3) run backwards: with V =
//! B^T d B of each input tile and Z = A dy A^T of its output gradient (the gradient of the
//! forward pass's products M), the gradient of the transformed weights is dU = sum over tiles
//! of Z . V, 16 matrix products (output x input channels, summed over tiles), and dW = G^T dU G:
//! 16 products of 4 x 4 per tile and channel pair instead of 36. The tiles lie in the vectors
//! as in the forward pass: a row's, or 16 images' ([`image_lanes`]).

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::{
    Lanes, POSITIONS, Task, gradient_rows, image_lanes, layout, position_stride, serves_rows,
    split, transform_inputs,
};
use crate::conv::Geometry;
use crate::cpu::avx512::{lane_mask, transpose16};
use crate::cpu::gemm::{Kernel, Mat, matmul};
use crate::cpu::{Float, Shared, as_f32, is_f32};

/// Bytes of transformed inputs and gradients per block of tiles: they stay in the caches
/// between their transforms and their products (blocks of 2 and 8 MiB ran as fast on a Zen 5,
/// whose 32 MiB L3 two cores share).
const BLOCK_BYTES: usize = 4 << 20;

/// Tiles per block: BLOCK_BYTES of V and Z, at least one vector of tiles.
fn tiles_per_block(g: &Geometry) -> usize {
    let per_tile = POSITIONS * (g.c_in + g.c_out) * size_of::<f32>();
    (BLOCK_BYTES / per_tile).max(16)
}

/// Fewest channels, as c_in c_out / (c_in + c_out), whose filter gradient is computed here: the
/// transforms cost per tile grows with c_in + c_out, the products saved with c_in c_out (64 ->
/// 64 channels at 64 x 64 ran no faster than the direct kernel, 128 -> 128 at 32 x 32 did).
const MIN_CHANNELS: usize = 64;

/// Most bytes of dU per tile of the batch: dU (16 values per channel pair) is written, read and
/// transformed once, which the products saved on the tiles must pay for (512 -> 512 @ 4 x 4 at
/// batch 16, 256 KiB a tile, ran slower than the direct kernel; 256 -> 256 @ 4 x 4, 64 KiB, 35%
/// faster).
const MAX_DU_BYTES_PER_TILE: usize = 64 << 10;

/// How the filter gradient of this convolution of `n` images is computed here, if it is: with
/// at least MIN_CHANNELS and tiles enough for dU, with a row's tiles in the lanes where the
/// forward pass can ([`serves_rows`]; with the images in the lanes 256 -> 256 @ 16 x 16 ran
/// slower), else with the images in the lanes where it does ([`layout`]).
fn serves(g: &Geometry, n: usize) -> Option<Lanes> {
    let channels = g.c_in * g.c_out / (g.c_in + g.c_out).max(1);
    let tiles = n * (g.h / 2) * (g.w / 2);
    let du = POSITIONS * g.c_in * g.c_out * size_of::<f32>();
    if channels < MIN_CHANNELS || du > MAX_DU_BYTES_PER_TILE * tiles {
        return None;
    }
    if serves_rows(g) {
        return Some(Lanes::Rows);
    }
    layout(g, n)
}

/// dW (c_out, c_in, 3, 3) of `n` images when [`serves`] and the CPU has AVX-512F, else None.
pub(in crate::conv) fn filter_grad<T: Float>(
    x: &[T],
    grad: &[T],
    n: usize,
    g: &Geometry,
) -> Option<Vec<T>> {
    let lanes = serves(g, n)?;
    if !is_f32::<T>() || !is_x86_feature_detected!("avx512f") {
        return None;
    }
    let dw = run(as_f32(x), as_f32(grad), (n, lanes), g, tiles_per_block(g));
    Some(dw.into_iter().map(|v| T::of(v as f64)).collect())
}

/// [`filter_grad`] with `lanes` in blocks of about `per_block` tiles.
fn run(
    x: &[f32],
    grad: &[f32],
    (n, lanes): (usize, Lanes),
    g: &Geometry,
    per_block: usize,
) -> Vec<f32> {
    let pairs = g.c_out * g.c_in;
    // dU: one c_out x c_in matrix per position.
    let mut du = vec![0.0f32; POSITIONS * pairs];
    let (mut v, mut z) = (Vec::new(), Vec::new());
    let count = n.div_ceil(lanes.images());
    for (b, block) in split((count, lanes), g, per_block, 1)
        .into_iter()
        .enumerate()
    {
        let tiles = block.tiles();
        // Channels' rows not a multiple of 4 KiB apart, which the products' 12 columns read
        // at once.
        let ld = position_stride(tiles);
        let strides = (position_stride(g.c_in * ld), position_stride(g.c_out * ld));
        v.resize(POSITIONS * strides.0, 0.0);
        z.resize(POSITIONS * strides.1, 0.0);
        let outputs = (Shared(v.as_mut_ptr()), Shared(z.as_mut_ptr()));
        (0..g.c_in + g.c_out)
            .into_par_iter()
            .for_each_init(Vec::new, |pixels, c| {
                let at = (block, ld, c);
                // SAFETY: the CPU has AVX-512F; each channel's tiles are written by this task
                // alone.
                unsafe { transform_channel((x, grad), (n, g), at, strides, &outputs, pixels) };
            });
        du.par_chunks_mut(pairs).enumerate().for_each(|(xi, du)| {
            let zm = Mat::at(xi * strides.1, g.c_out, tiles, ld);
            let vt = Mat::at(xi * strides.0, g.c_in, tiles, ld).t();
            let dst = Mat::dense(g.c_out, g.c_in);
            let kernel = Kernel::choose::<f32>(dst, vt, false);
            // SAFETY: `du` is this position's own c_out x c_in matrix.
            unsafe { matmul(du.as_mut_ptr(), dst, (&z, zm), (&v, vt), b > 0, kernel) };
        });
    }
    let mut dw = vec![0.0f32; pairs * 9];
    dw.par_chunks_mut(g.c_in * 9)
        .enumerate()
        .for_each(|(co, dw)| {
            // SAFETY: the CPU has AVX-512F.
            unsafe { transform_filter_grads(&du, g, co, dw) };
        });
    dw
}

/// V of input channel `c` (c < c_in) or Z of output channel `c - c_in` for every image (group
/// of images) of the block, into `v` or `z` (position strides `strides`); `pixels` is the
/// transposes' buffer with the images in the lanes.
///
/// # Safety
/// The CPU must have AVX-512F; the channel's tiles of `v` or `z` must be this call's alone.
#[target_feature(enable = "avx512f")]
unsafe fn transform_channel(
    (x, grad): (&[f32], &[f32]),
    (n, g): (usize, &Geometry),
    (block, ld, c): (Task, usize, usize),
    strides: (usize, usize),
    (v, z): &(Shared<f32>, Shared<f32>),
    pixels: &mut Vec<f32>,
) {
    let plane_len = g.h * g.w;
    for (i, img) in (block.imgs.0..block.imgs.1).enumerate() {
        let first_tile = i * block.tiles_per_image();
        let at = (block, first_tile);
        // SAFETY: as this function's.
        unsafe {
            match (block.lanes, c < g.c_in) {
                (Lanes::Rows, true) => {
                    let plane = &x[(img * g.c_in + c) * plane_len..][..plane_len];
                    transform_inputs(plane, g, at, (c * ld, strides.0), v.ptr());
                }
                (Lanes::Rows, false) => {
                    let co = c - g.c_in;
                    let plane = &grad[(img * g.c_out + co) * plane_len..][..plane_len];
                    transform_gradients(plane, g.w, at, (co * ld, strides.1), z.ptr());
                }
                (Lanes::Images, true) => {
                    let v = (v.ptr().add(c * ld + first_tile), strides.0);
                    image_lanes::transform_group_inputs(x, (n, g), (block, img), c, v, pixels);
                }
                (Lanes::Images, false) => {
                    let co = c - g.c_in;
                    let z = (z.ptr().add(co * ld + first_tile), strides.1);
                    image_lanes::transform_group_gradients(
                        grad,
                        (n, g),
                        (block, img),
                        co,
                        z,
                        pixels,
                    );
                }
            }
        }
    }
}

/// Z = A dy A^T of the block's tiles of one image (from `first_tile` on) for one output
/// channel, from its gradient `plane` (rows `w` wide) into `z`: tile t of position xi at `xi *
/// stride + channel + t`.
///
/// # Safety
/// The CPU must have AVX-512F; `z` must be writable at those tiles of each position, which no
/// other thread accesses during the call.
#[target_feature(enable = "avx512f")]
unsafe fn transform_gradients(
    plane: &[f32],
    w: usize,
    (block, first_tile): (Task, usize),
    (channel, stride): (usize, usize),
    z: *mut f32,
) {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for ty in block.ty.0..block.ty.1 {
        for tx0 in (0..block.tw).step_by(16) {
            let lanes = 16.min(block.tw - tx0);
            let masks = (
                lane_mask(2 * lanes),
                lane_mask((2 * lanes).saturating_sub(16)),
            );
            // dy[i][j]: row i, column j of each of 16 tiles' 2 x 2 gradients.
            let dy: [[__m512; 2]; 2] = std::array::from_fn(|i| {
                let at = plane[(2 * ty + i) * w + 2 * tx0..].as_ptr();
                // SAFETY: columns 2 * tx0.. of row 2 * ty + i, 2 * lanes of them.
                let (lo, hi) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(masks.0, at),
                        _mm512_maskz_loadu_ps(masks.1, at.add(16)),
                    )
                };
                [
                    _mm512_permutex2var_ps(lo, even, hi),
                    _mm512_permutex2var_ps(lo, odd, hi),
                ]
            });
            // A dy, column by column, then (A dy) A^T, row by row.
            let mut t = [[_mm512_setzero_ps(); 2]; 4];
            for j in 0..2 {
                for (a, value) in gradient_rows([dy[0][j], dy[1][j]]).into_iter().enumerate() {
                    t[a][j] = value;
                }
            }
            let tile = first_tile + (ty - block.ty.0) * block.tw + tx0;
            for (a, row) in t.iter().enumerate() {
                for (b, value) in gradient_rows(*row).iter().enumerate() {
                    let at = (a * 4 + b) * stride + channel + tile;
                    // SAFETY: tiles tile.. + lanes of position (a, b) of the channel.
                    unsafe { _mm512_mask_storeu_ps(z.add(at), lane_mask(lanes), *value) };
                }
            }
        }
    }
}

/// G^T times four values: (u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3).
#[inline]
#[target_feature(enable = "avx512f")]
fn filter_rows([u0, u1, u2, u3]: [__m512; 4]) -> [__m512; 3] {
    let half = _mm512_set1_ps(0.5);
    let mean = _mm512_mul_ps(half, _mm512_add_ps(u1, u2));
    [
        _mm512_add_ps(u0, mean),
        _mm512_mul_ps(half, _mm512_sub_ps(u1, u2)),
        _mm512_add_ps(mean, u3),
    ]
}

/// dW = G^T dU G of output channel `co` for every input channel, 16 at a time, into its
/// filters `dw` (c_in x 9).
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn transform_filter_grads(du: &[f32], g: &Geometry, co: usize, dw: &mut [f32]) {
    let pairs = g.c_out * g.c_in;
    for ci0 in (0..g.c_in).step_by(16) {
        let mask = lane_mask(g.c_in - ci0);
        let u: [[__m512; 4]; 4] = std::array::from_fn(|a| {
            std::array::from_fn(|b| {
                let at = (a * 4 + b) * pairs + co * g.c_in + ci0;
                // SAFETY: the existing channels ci0.. of row co at position (a, b).
                unsafe { _mm512_maskz_loadu_ps(mask, du[at..].as_ptr()) }
            })
        });
        // G^T dU, column by column, then (G^T dU) G, row by row.
        let mut t = [[_mm512_setzero_ps(); 4]; 3];
        for b in 0..4 {
            for (k, value) in filter_rows([u[0][b], u[1][b], u[2][b], u[3][b]])
                .into_iter()
                .enumerate()
            {
                t[k][b] = value;
            }
        }
        // One vector per tap, transposed into one row of 9 taps per input channel.
        let mut by_tap = [_mm512_setzero_ps(); 16];
        for (k, row) in t.iter().enumerate() {
            for (l, value) in filter_rows(*row).into_iter().enumerate() {
                by_tap[k * 3 + l] = value;
            }
        }
        let filters = transpose16(by_tap);
        for (i, filter) in filters.iter().enumerate().take(16.min(g.c_in - ci0)) {
            let at = dw[(ci0 + i) * 9..][..9].as_mut_ptr();
            // SAFETY: the 9 taps of input channel ci0 + i in this filter row.
            unsafe { _mm512_mask_storeu_ps(at, 0x1ff, *filter) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::direct::{naive_filter_grad, test_values};

    #[test]
    fn matches_naive_loops() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        // (n, c_in, c_out, h, w, tiles per block, lanes): with a row's tiles in the lanes, one
        // block of two whole images, blocks of tile rows of one image (the last shorter), of
        // whole images (the last with one), rows of 8, 5 and 11 tiles (partial vectors), input
        // channels not a multiple of 16; with the images in the lanes, a partial last group,
        // blocks of one tile row of a group, blocks of two rows of a group of one image, 6 x 6.
        let (rows, images) = (Lanes::Rows, Lanes::Images);
        let cases = [
            (2, 64, 64, 16, 16, 8192, rows),
            (1, 96, 160, 14, 32, 48, rows),
            (3, 72, 96, 18, 16, 40, rows),
            (5, 128, 128, 8, 8, 32, rows),
            (2, 512, 64, 8, 10, 8192, rows),
            (1, 64, 96, 20, 22, 8192, rows),
            (20, 128, 128, 4, 4, 8192, images),
            (16, 512, 64, 8, 8, 64, images),
            (33, 96, 128, 8, 10, 200, images),
            (40, 128, 96, 6, 6, 8192, images),
        ];
        for (i, &(n, c_in, c_out, h, w, per_block, lanes)) in cases.iter().enumerate() {
            let g = Geometry::new([n, c_in, h, w], [c_out, c_in, 3, 3], (1, 1));
            assert!(
                super::super::is_winograd_shape(&g),
                "case {i} must be a Winograd shape"
            );
            let x = test_values(n * c_in * h * w, 1 + i as u32);
            let dy = test_values(n * c_out * h * w, 9 + i as u32);
            let got = run(&x, &dy, (n, lanes), &g, per_block);
            let want = naive_filter_grad(&x, &dy, n, &g);
            assert_eq!(got.len(), want.len());
            for (j, (&got, want)) in got.iter().zip(want).enumerate() {
                assert!(
                    (got as f64 - want).abs() < 2e-4 * (1.0 + want.abs()),
                    "case {i} element {j}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn serves_128_channels_and_more_with_tiles_enough() {
        let at = |n, c_in, c_out, side| {
            serves(
                &Geometry::new([n, c_in, side, side], [c_out, c_in, 3, 3], (1, 1)),
                n,
            )
        };
        assert_eq!(at(16, 128, 128, 32), Some(Lanes::Rows));
        assert_eq!(at(16, 96, 192, 32), Some(Lanes::Rows));
        assert_eq!(at(16, 512, 512, 8), Some(Lanes::Rows));
        assert_eq!(at(16, 256, 256, 16), Some(Lanes::Rows));
        assert_eq!(at(16, 256, 256, 4), Some(Lanes::Images));
        assert_eq!(at(256, 128, 128, 4), Some(Lanes::Images));
        // Too few tiles for dU's 16 MiB; too few channels.
        assert_eq!(at(16, 512, 512, 4), None);
        assert_eq!(at(8, 512, 512, 8), None);
        assert_eq!(at(16, 64, 64, 32), None);
        assert_eq!(at(16, 64, 128, 32), None);
        assert_eq!(at(16, 32, 512, 32), None);
    }

    #[test]
    fn blocks_hold_four_mib_of_transformed_values() {
        let g = |c, side| Geometry::new([64, c, side, side], [c, c, 3, 3], (1, 1));
        assert_eq!(tiles_per_block(&g(512, 8)), 64);
        assert_eq!(tiles_per_block(&g(128, 32)), 256);
        // 8 x 8 images (16 tiles) four to a block; 32 x 32 ones (256 tiles) one to a block.
        let blocks = split((64, Lanes::Rows), &g(512, 8), 64, 1);
        assert_eq!(blocks.len(), 16);
        assert!(
            blocks
                .iter()
                .all(|b| b.imgs.1 - b.imgs.0 == 4 && b.tiles() == 64)
        );
        assert_eq!(split((64, Lanes::Rows), &g(128, 32), 256, 1).len(), 64);
        // One image is one block: the blocks run one after the other, their products each in
        // parallel, so none is cut for the threads.
        assert_eq!(split((1, Lanes::Rows), &g(128, 32), 256, 1).len(), 1);
    }
}
