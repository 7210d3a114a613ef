//! Winograd's transforms with the images in the vector lanes, for planes too narrow for a row's
//! tiles to fill a vector (under 32 columns): each vector holds one tile of 16 images. A group
//! of 16 images' planes of a channel is transposed into pixels of 16 lanes (16 x 16 register
//! transposes), transformed tile by tile, and the outputs transposed back; the filter gradient
//! transforms the output gradient's planes the same way.

use std::arch::x86_64::*;

use super::{Task, gradient_rows, input_rows, output_rows};
use crate::conv::Geometry;
use crate::cpu::Shared;
use crate::cpu::avx512::{lane_mask, transpose16};

/// Images per vector, and per group of a task.
pub(super) const IMAGES: usize = 16;

/// The first image of group `group` and how many of the `n` images it holds.
fn group_images(group: usize, n: usize) -> (usize, usize) {
    let first = group * IMAGES;
    (first, IMAGES.min(n - first))
}

/// V = B^T d B of every channel of the task's groups, into `v`: channel ci's tiles at `ci *
/// tiles` of each position's block (`stride` apart), the task's groups one after the other,
/// each tile (ty, tx) a vector of its 16 images, lanes past the batch zero.
///
/// # Safety
/// The CPU must have AVX-512F; `v` must hold POSITIONS blocks of `stride` >= c_in * tiles values
/// that no other thread accesses during the call.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_inputs(
    x: &[f32],
    (n, g): (usize, &Geometry),
    task: Task,
    (v, stride): (*mut f32, usize),
    pixels: &mut Vec<f32>,
) {
    let tiles = task.tiles();
    for (i, group) in (task.imgs.0..task.imgs.1).enumerate() {
        for ci in 0..g.c_in {
            let at = v.wrapping_add(ci * tiles + i * task.tiles_per_image());
            // SAFETY: as this function's.
            unsafe { transform_group_inputs(x, (n, g), (task, group), ci, (at, stride), pixels) };
        }
    }
}

/// V of input channel `ci` of group `group`'s images over the task's tile rows, tile (ty, tx)
/// of the rows at `v + ((ty - ty0) * tw + tx) * 16` of each position's block (`stride` apart).
///
/// # Safety
/// The CPU must have AVX-512F; `v` must be writable at those tiles, which no other thread
/// accesses during the call.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_group_inputs(
    x: &[f32],
    (n, g): (usize, &Geometry),
    (task, group): (Task, usize),
    ci: usize,
    (v, stride): (*mut f32, usize),
    pixels: &mut Vec<f32>,
) {
    let plane = g.h * g.w;
    pixels.resize(plane * IMAGES, 0.0);
    // The pixels the task's tiles read: rows 2 * ty0 - 1 ..= 2 * ty1, inside the plane.
    let rows = (2 * task.ty.0).saturating_sub(1)..(2 * task.ty.1 + 1).min(g.h);
    let (first, count) = group_images(group, n);
    let planes = x[(first * g.c_in + ci) * plane..].as_ptr();
    let read = rows.start * g.w..rows.end * g.w;
    // SAFETY: `count` planes of channel ci, g.c_in * plane apart.
    unsafe { to_pixels((planes, g.c_in * plane), count, read, pixels) };
    for ty in task.ty.0..task.ty.1 {
        for tx in 0..task.tw {
            let d = window(pixels, g, (ty, tx));
            let tile = ((ty - task.ty.0) * task.tw + tx) * IMAGES;
            // SAFETY: tiles tile..tile + 16 of each position (the caller's guarantee).
            unsafe { store_input_tile(d, v.add(tile), stride) };
        }
    }
}

/// Z = A dy A^T of output channel `co` of group `group`'s images over the task's tile rows,
/// from the output gradient `grad` (n, c_out, h, w), laid out as [`transform_group_inputs`]'s V.
///
/// # Safety
/// As [`transform_group_inputs`], for `z`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_group_gradients(
    grad: &[f32],
    (n, g): (usize, &Geometry),
    (task, group): (Task, usize),
    co: usize,
    (z, stride): (*mut f32, usize),
    pixels: &mut Vec<f32>,
) {
    let plane = g.h * g.w;
    pixels.resize(plane * IMAGES, 0.0);
    let (first, count) = group_images(group, n);
    let planes = grad[(first * g.c_out + co) * plane..].as_ptr();
    let read = 2 * task.ty.0 * g.w..2 * task.ty.1 * g.w;
    // SAFETY: `count` planes of channel co, g.c_out * plane apart.
    unsafe { to_pixels((planes, g.c_out * plane), count, read, pixels) };
    let pixel = |y: usize, x: usize| {
        let at = (y * g.w + x) * IMAGES;
        // SAFETY: pixel (y, x) lies in the plane.
        unsafe { _mm512_loadu_ps(pixels[at..at + IMAGES].as_ptr()) }
    };
    for ty in task.ty.0..task.ty.1 {
        for tx in 0..task.tw {
            // A dy, column by column, then (A dy) A^T, row by row.
            let columns: [[__m512; 4]; 2] = std::array::from_fn(|j| {
                gradient_rows([pixel(2 * ty, 2 * tx + j), pixel(2 * ty + 1, 2 * tx + j)])
            });
            let t: [[__m512; 2]; 4] = std::array::from_fn(|a| [columns[0][a], columns[1][a]]);
            let tile = ((ty - task.ty.0) * task.tw + tx) * IMAGES;
            for (a, row) in t.iter().enumerate() {
                for (b, value) in gradient_rows(*row).into_iter().enumerate() {
                    // SAFETY: tiles tile..tile + 16 of position (a, b) (the caller's guarantee).
                    unsafe { _mm512_storeu_ps(z.add((a * 4 + b) * stride + tile), value) };
                }
            }
        }
    }
}

/// The 4 x 4 inputs of tile (ty, tx) from `pixels` (h x w of 16 lanes), zero outside the plane.
#[inline]
#[target_feature(enable = "avx512f")]
fn window(pixels: &[f32], g: &Geometry, (ty, tx): (usize, usize)) -> [[__m512; 4]; 4] {
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let (y, x) = ((2 * ty + i).wrapping_sub(1), (2 * tx + j).wrapping_sub(1));
            if y < g.h && x < g.w {
                let at = (y * g.w + x) * IMAGES;
                // SAFETY: pixel (y, x) lies in the plane.
                unsafe { _mm512_loadu_ps(pixels[at..at + IMAGES].as_ptr()) }
            } else {
                _mm512_setzero_ps()
            }
        })
    })
}

/// B^T d B of one vector of tiles, position (a, b) stored at `v + (4a + b) * stride`.
///
/// # Safety
/// The CPU must have AVX-512F; `v` must be writable at 16 values of each position.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store_input_tile(d: [[__m512; 4]; 4], v: *mut f32, stride: usize) {
    let mut t = [[_mm512_setzero_ps(); 4]; 4];
    for j in 0..4 {
        for (a, value) in input_rows([d[0][j], d[1][j], d[2][j], d[3][j]])
            .into_iter()
            .enumerate()
        {
            t[a][j] = value;
        }
    }
    for (a, row) in t.iter().enumerate() {
        for (b, value) in input_rows(*row).iter().enumerate() {
            // SAFETY: 16 values of position (a, b).
            unsafe { _mm512_storeu_ps(v.add((a * 4 + b) * stride), *value) };
        }
    }
}

/// Y = A^T M A + bias of output channel `co` for every tile of the task, from its products at
/// `offset` of each position's block of `m`, written into the task's rows of the channel's
/// planes of each image.
///
/// # Safety
/// The CPU must have AVX-512F; this task alone writes those rows of `out` (n, c_out, h, w).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_products(
    ((m, stride), offset): ((&[f32], usize), usize),
    (n, g): (usize, &Geometry),
    task: Task,
    (co, bias): (usize, f32),
    out: Shared<f32>,
    pixels: &mut Vec<f32>,
) {
    let plane = g.h * g.w;
    pixels.resize(plane * IMAGES, 0.0);
    let bias = _mm512_set1_ps(bias);
    for (i, group) in (task.imgs.0..task.imgs.1).enumerate() {
        let first_tile = offset + i * task.tiles_per_image();
        for ty in task.ty.0..task.ty.1 {
            for tx in 0..task.tw {
                let tile = first_tile + ((ty - task.ty.0) * task.tw + tx) * IMAGES;
                let p: [__m512; 16] = std::array::from_fn(|xi| {
                    // SAFETY: 16 products of position xi.
                    unsafe { _mm512_loadu_ps(m[xi * stride + tile..][..IMAGES].as_ptr()) }
                });
                let mut s = [[_mm512_setzero_ps(); 4]; 2];
                for b in 0..4 {
                    let [r0, r1] = output_rows([p[b], p[4 + b], p[8 + b], p[12 + b]]);
                    (s[0][b], s[1][b]) = (r0, r1);
                }
                for (a, row) in s.iter().enumerate() {
                    for (b, y) in output_rows(*row).into_iter().enumerate() {
                        let at = ((2 * ty + a) * g.w + 2 * tx + b) * IMAGES;
                        // SAFETY: pixel (2 ty + a, 2 tx + b) of the plane.
                        unsafe {
                            _mm512_storeu_ps(
                                pixels[at..][..IMAGES].as_mut_ptr(),
                                _mm512_add_ps(y, bias),
                            )
                        };
                    }
                }
            }
        }
        let (first, count) = group_images(group, n);
        let planes = out.ptr().wrapping_add((first * g.c_out + co) * plane);
        let rows = 2 * task.ty.0 * g.w..2 * task.ty.1 * g.w;
        // SAFETY: the task's rows of channel co of the group's images.
        unsafe { from_pixels(pixels, rows, (planes, g.c_out * plane), count) };
    }
}

/// Pixels `range` of `count` planes (`planes`, `plane_stride` apart) into `pixels`, pixel p's
/// 16 lanes at `p * 16` (lanes past `count` zero).
///
/// # Safety
/// The CPU must have AVX-512F; the range of each of the `count` planes must be readable.
#[target_feature(enable = "avx512f")]
unsafe fn to_pixels(
    (planes, plane_stride): (*const f32, usize),
    count: usize,
    range: std::ops::Range<usize>,
    pixels: &mut [f32],
) {
    for p0 in range.clone().step_by(IMAGES) {
        let mask = lane_mask(range.end - p0);
        let rows: [__m512; 16] = std::array::from_fn(|l| {
            if l < count {
                // SAFETY: the range's values of plane l.
                unsafe { _mm512_maskz_loadu_ps(mask, planes.add(l * plane_stride + p0)) }
            } else {
                _mm512_setzero_ps()
            }
        });
        for (p, value) in transpose16(rows).iter().enumerate().take(range.end - p0) {
            let at = (p0 + p) * IMAGES;
            // SAFETY: pixel p0 + p lies in `pixels`.
            unsafe { _mm512_storeu_ps(pixels[at..][..IMAGES].as_mut_ptr(), *value) };
        }
    }
}

/// Pixels `range` of `pixels` (16 lanes each) written into `count` planes (`planes`,
/// `plane_stride` apart), lane l into plane l.
///
/// # Safety
/// The CPU must have AVX-512F; the range of each of the `count` planes must be writable.
#[target_feature(enable = "avx512f")]
unsafe fn from_pixels(
    pixels: &[f32],
    range: std::ops::Range<usize>,
    (planes, plane_stride): (*mut f32, usize),
    count: usize,
) {
    for p0 in range.clone().step_by(IMAGES) {
        let len = IMAGES.min(range.end - p0);
        let columns: [__m512; 16] = std::array::from_fn(|p| {
            if p < len {
                // SAFETY: pixel p0 + p lies in `pixels`.
                unsafe { _mm512_loadu_ps(pixels[(p0 + p) * IMAGES..][..IMAGES].as_ptr()) }
            } else {
                _mm512_setzero_ps()
            }
        });
        for (l, row) in transpose16(columns).iter().enumerate().take(count) {
            // SAFETY: the range's values of plane l.
            unsafe {
                _mm512_mask_storeu_ps(planes.add(l * plane_stride + p0), lane_mask(len), *row)
            };
        }
    }
}
