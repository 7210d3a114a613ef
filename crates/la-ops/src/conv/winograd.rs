//! The 3 x 3, padding-1 convolution by Winograd's F(2 x 2, 3 x 3) for f32 on AVX-512: each 2 x 2
//! block of outputs (a tile) comes from a 4 x 4 block of inputs, transformed so that its 36
//! products per input and output channel become 16. The 16 products of one position of the
//! transformed tile are a matrix product (output channels x input channels, by input channels x
//! tiles), run on the left-packing GEMM kernel with the transformed weights packed once.
//! Transforms (Lavin and Gray, 2016): V = B^T d B, U = G g G^T, Y = A^T (U . V) A.

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::Geometry;
use crate::ConvPrecision;
use crate::cpu::gemm::Strided;
use crate::cpu::gemm::few_rows::PackedLeft;
use crate::cpu::{Float, Shared, as_f32, is_f32};

/// Positions of a transformed tile: 4 x 4.
const POSITIONS: usize = 16;
/// Tiles per task, a multiple of the GEMM kernel's 12 columns (rows of tiles are cut to it).
const TILES_PER_TASK: usize = 96;
/// Output channels transformed back at a time: the products of a chunk (16 x 64 x 96 values)
/// stay in L2.
const CHUNK: usize = 64;
/// Channels served: from 64 (fewer leave the transforms' cost uncovered) to 256 (more let a
/// task's transformed inputs outgrow L2).
const CHANNELS: std::ops::RangeInclusive<usize> = 64..=256;
/// Fewest rows and columns of a plane served: smaller planes have too few tiles per image.
const MIN_SIDE: usize = 16;

/// Whether this convolution is computed here: f32 3 x 3 with padding 1 on even planes of at
/// least MIN_SIDE, channels in CHANNELS, output channels in whole panels of the GEMM kernel.
pub(super) fn serves(g: &Geometry) -> bool {
    (g.kh, g.kw, g.pad) == (3, 3, (1, 1))
        && g.precision == ConvPrecision::F32
        && CHANNELS.contains(&g.c_in)
        && CHANNELS.contains(&g.c_out)
        && g.c_out.is_multiple_of(PackedLeft::PANEL_ROWS)
        && g.h >= MIN_SIDE
        && g.w >= MIN_SIDE
        && g.h.is_multiple_of(2)
        && g.w.is_multiple_of(2)
}

/// `out = conv(x, weight) + bias` when [`serves`] and the CPU has AVX-512F, writing every
/// element of `out` (which may be uninitialised); false, with `out` untouched, otherwise.
///
/// # Safety
/// `out` must be valid for writes of n * c_out * h * w elements that nothing else accesses
/// during the call.
pub(super) unsafe fn forward<T: Float>(
    x: &[T],
    n: usize,
    g: &Geometry,
    weight: &[T],
    bias: Option<&[T]>,
    out: *mut T,
) -> bool {
    if !is_f32::<T>() || !serves(g) || !is_x86_feature_detected!("avx512f") {
        return false;
    }
    let (x, weight, bias) = (as_f32(x), as_f32(weight), bias.map(as_f32));
    // SAFETY: the CPU has AVX-512F (checked above).
    let u = unsafe { transformed_weights(weight, g) };
    let (th, tw) = (g.h / 2, g.w / 2);
    let rows = (TILES_PER_TASK / tw).clamp(1, th);
    let tasks: Vec<(usize, usize)> = (0..n)
        .flat_map(|img| (0..th).step_by(rows).map(move |ty0| (img, ty0)))
        .collect();
    let out = Shared(out.cast::<f32>());
    tasks
        .par_iter()
        .for_each_init(Scratch::default, |scratch, &(img, ty0)| {
            let task = Task {
                img,
                ty: (ty0, (ty0 + rows).min(th)),
                tw,
            };
            // SAFETY: the CPU has AVX-512F; this task alone writes its tile rows of image img.
            unsafe { convolve_tiles(x, g, (&u, bias), task, scratch, out) };
        });
    true
}

/// One task: the tile rows `ty` of image `img`, `tw` tiles to a row.
#[derive(Clone, Copy)]
struct Task {
    img: usize,
    ty: (usize, usize),
    tw: usize,
}

impl Task {
    /// Tiles of the task.
    fn tiles(self) -> usize {
        (self.ty.1 - self.ty.0) * self.tw
    }
}

/// A thread's buffers, kept from task to task.
#[derive(Default)]
struct Scratch {
    /// Transformed inputs: [position][c_in][tiles].
    v: Vec<f32>,
    /// Products of a chunk of output channels: [position][CHUNK][tiles].
    m: Vec<f32>,
    /// The GEMM kernel's copy of a last, narrow tile.
    edge: Vec<f32>,
}

/// U = G g G^T of every (output, input) channel pair, one packed c_out x c_in matrix per
/// position.
///
/// # Safety
/// The CPU must have AVX-512F.
unsafe fn transformed_weights(w: &[f32], g: &Geometry) -> Vec<PackedLeft> {
    let (co, ci) = (g.c_out, g.c_in);
    let mut u = vec![0f32; POSITIONS * co * ci];
    for (pair, taps) in w.chunks_exact(9).enumerate() {
        // G g: rows of the 3 x 3 filter combined into 4; then the same on its columns.
        let gg: [[f32; 3]; 4] = std::array::from_fn(|c| {
            std::array::from_fn(|k| {
                let col = [taps[k], taps[3 + k], taps[6 + k]];
                weight_rows(col)[c]
            })
        });
        for (r, row) in gg.iter().enumerate() {
            for (s, &v) in weight_rows(*row).iter().enumerate() {
                u[(r * 4 + s) * co * ci + pair] = v;
            }
        }
    }
    (0..POSITIONS)
        .map(|xi| {
            let a = Strided {
                ptr: u[xi * co * ci..].as_ptr(),
                rs: ci,
                cs: 1,
            };
            // SAFETY: the CPU has AVX-512F; position xi's c_out x c_in values lie in u.
            unsafe { PackedLeft::new(a, (co, ci)) }
        })
        .collect()
}

/// G times three filter values: (a, (a + b + c) / 2, (a - b + c) / 2, c).
fn weight_rows([a, b, c]: [f32; 3]) -> [f32; 4] {
    [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c]
}

/// Transforms a task's inputs, multiplies them by the transformed weights a chunk of output
/// channels at a time, and transforms the products back into the output.
///
/// # Safety
/// The CPU must have AVX-512F; this task alone writes its tile rows of `out`.
#[target_feature(enable = "avx512f")]
unsafe fn convolve_tiles(
    x: &[f32],
    g: &Geometry,
    (u, bias): (&[PackedLeft], Option<&[f32]>),
    task: Task,
    scratch: &mut Scratch,
    out: Shared<f32>,
) {
    let tiles = task.tiles();
    let (v_stride, m_stride) = (
        position_stride(g.c_in * tiles),
        position_stride(CHUNK * tiles),
    );
    scratch.v.resize(POSITIONS * v_stride, 0.0);
    scratch.m.resize(POSITIONS * m_stride, 0.0);
    // The task's input rows of a channel: 2 * ty0 - 1 ..= 2 * ty1, inside the plane.
    let rows = (2 * task.ty.0).saturating_sub(1)..(2 * task.ty.1 + 1).min(g.h);
    for ci in 0..g.c_in {
        let plane = &x[(task.img * g.c_in + ci) * g.h * g.w..][..g.h * g.w];
        if ci + 1 < g.c_in {
            // The next channel's rows lie a plane away, too far for the stream prefetchers.
            let next = plane.as_ptr().wrapping_add(g.h * g.w + rows.start * g.w);
            for line in (0..rows.len() * g.w).step_by(16) {
                _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(line).cast::<i8>());
            }
        }
        transform_inputs(plane, g, task, (ci, v_stride), &mut scratch.v);
    }
    for c0 in (0..g.c_out).step_by(CHUNK) {
        let chunk = CHUNK.min(g.c_out - c0);
        let panels = c0 / PackedLeft::PANEL_ROWS..(c0 + chunk) / PackedLeft::PANEL_ROWS;
        for (xi, u) in u.iter().enumerate() {
            let v = Strided {
                ptr: scratch.v[xi * v_stride..].as_ptr(),
                rs: tiles,
                cs: 1,
            };
            let m = scratch.m[xi * m_stride..].as_mut_ptr();
            // SAFETY: v is c_in x tiles, m holds chunk x tiles at this position.
            unsafe { u.product(panels.clone(), (v, tiles), (m, tiles), &mut scratch.edge) };
        }
        for co in c0..c0 + chunk {
            let b = bias.map_or(0.0, |b| b[co]);
            let image = out
                .ptr()
                .wrapping_add((task.img * g.c_out + co) * g.h * g.w);
            // The next channel's output rows, for writing.
            let next = image.wrapping_add(g.h * g.w + 2 * task.ty.0 * g.w);
            for line in (0..2 * (task.ty.1 - task.ty.0) * g.w).step_by(16) {
                _mm_prefetch::<_MM_HINT_ET0>(next.wrapping_add(line).cast::<i8>());
            }
            // SAFETY: this task's rows of plane co of image img.
            unsafe {
                transform_products(
                    (&scratch.m, m_stride),
                    (co - c0) * tiles,
                    task,
                    g.w,
                    b,
                    image,
                )
            };
        }
    }
}

/// Values between the starts of two positions' blocks of `len`: one cache line more than a
/// multiple of 64, so that the 16 positions of a tile do not all fall in one set of L1 (blocks
/// a multiple of 4 KiB apart did: 24 KiB at 64 channels x 96 tiles).
fn position_stride(len: usize) -> usize {
    len.next_multiple_of(16) + 16
}

/// V = B^T d B of every tile of the task for input channel `ci`, into `v`: each
/// vector of inputs is read straight from the plane, every other column by a permute, with
/// the padding's lanes masked off.
#[target_feature(enable = "avx512f")]
fn transform_inputs(
    plane: &[f32],
    g: &Geometry,
    task: Task,
    (ci, stride): (usize, usize),
    v: &mut [f32],
) {
    let tiles = task.tiles();
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for ty in task.ty.0..task.ty.1 {
        for tx0 in (0..task.tw).step_by(16) {
            let lanes = 16.min(task.tw - tx0);
            // Columns 2 * tx0 + j - 1.. of a row, 32 of them, masked to those in the plane.
            let first: [isize; 4] = std::array::from_fn(|j| (2 * tx0 + j) as isize - 1);
            let masks = first.map(|f| [columns_mask(f, g.w), columns_mask(f + 16, g.w)]);
            // d[i][j]: row i, column j of each of 16 tiles' 4 x 4 inputs (every other column).
            let mut d = [[_mm512_setzero_ps(); 4]; 4];
            for (i, row) in d.iter_mut().enumerate() {
                let y = (2 * ty + i).wrapping_sub(1);
                if y >= g.h {
                    continue;
                }
                for (j, v) in row.iter_mut().enumerate() {
                    let at = plane[y * g.w..].as_ptr().wrapping_offset(first[j]);
                    // SAFETY: only the lanes of columns 0..w of row y are read.
                    let (lo, hi) = unsafe {
                        (
                            _mm512_maskz_loadu_ps(masks[j][0], at),
                            _mm512_maskz_loadu_ps(masks[j][1], at.wrapping_add(16)),
                        )
                    };
                    *v = _mm512_permutex2var_ps(lo, even, hi);
                }
            }
            // B^T d, column by column, then (B^T d) B, row by row.
            let mut t = [[_mm512_setzero_ps(); 4]; 4];
            for j in 0..4 {
                let r = input_rows([d[0][j], d[1][j], d[2][j], d[3][j]]);
                for a in 0..4 {
                    t[a][j] = r[a];
                }
            }
            let first_tile = (ty - task.ty.0) * task.tw + tx0;
            for (a, row) in t.iter().enumerate() {
                for (b, value) in input_rows(*row).iter().enumerate() {
                    let at = (a * 4 + b) * stride + ci * tiles + first_tile;
                    // SAFETY: tiles first_tile.. + lanes of position (a, b), channel ci.
                    unsafe {
                        _mm512_mask_storeu_ps(v.as_mut_ptr().add(at), lane_mask(lanes), *value)
                    };
                }
            }
        }
    }
}

/// The mask of the lanes of 16 columns from `first` that lie in 0..w.
fn columns_mask(first: isize, w: usize) -> u16 {
    let skip = (-first).clamp(0, 16) as u32;
    let keep = (w as isize - first).clamp(0, 16) as usize;
    lane_mask(keep) & (0xffffu32 << skip) as u16
}

/// B^T times four input values: (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
#[inline]
#[target_feature(enable = "avx512f")]
fn input_rows([d0, d1, d2, d3]: [__m512; 4]) -> [__m512; 4] {
    [
        _mm512_sub_ps(d0, d2),
        _mm512_add_ps(d1, d2),
        _mm512_sub_ps(d2, d1),
        _mm512_sub_ps(d1, d3),
    ]
}

/// A^T times four products: (m0 + m1 + m2, m1 - m2 - m3).
#[inline]
#[target_feature(enable = "avx512f")]
fn output_rows([m0, m1, m2, m3]: [__m512; 4]) -> [__m512; 2] {
    [
        _mm512_add_ps(_mm512_add_ps(m0, m1), m2),
        _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3),
    ]
}

/// Y = A^T M A + bias of every tile of the task for one output channel, whose products start
/// at `offset` of each position's block in `m`, written into its `plane`.
///
/// # Safety
/// The task's rows of `plane` (w wide) must be writable.
#[target_feature(enable = "avx512f")]
unsafe fn transform_products(
    (m, stride): (&[f32], usize),
    offset: usize,
    task: Task,
    w: usize,
    bias: f32,
    plane: *mut f32,
) {
    let bias = _mm512_set1_ps(bias);
    let lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for ty in task.ty.0..task.ty.1 {
        for tx0 in (0..task.tw).step_by(16) {
            let lanes = 16.min(task.tw - tx0);
            let t = (ty - task.ty.0) * task.tw + tx0;
            let mut p = [[_mm512_setzero_ps(); 4]; 4];
            for (xi, v) in p.as_flattened_mut().iter_mut().enumerate() {
                let at = xi * stride + offset + t;
                // SAFETY: tiles t..t + lanes of position xi lie in m.
                *v = unsafe { _mm512_maskz_loadu_ps(lane_mask(lanes), m.as_ptr().add(at)) };
            }
            // A^T M, column by column, then (A^T M) A, row by row.
            let mut s = [[_mm512_setzero_ps(); 4]; 2];
            for b in 0..4 {
                let r = output_rows([p[0][b], p[1][b], p[2][b], p[3][b]]);
                s[0][b] = r[0];
                s[1][b] = r[1];
            }
            for (a, row) in s.iter().enumerate() {
                let [y0, y1] = output_rows(*row);
                let (y0, y1) = (_mm512_add_ps(y0, bias), _mm512_add_ps(y1, bias));
                let row = plane.wrapping_add((2 * ty + a) * w + 2 * tx0);
                let (lo, hi) = (
                    _mm512_permutex2var_ps(y0, lo_idx, y1),
                    _mm512_permutex2var_ps(y0, hi_idx, y1),
                );
                // SAFETY: columns 2 * tx0.. of the row, 2 * lanes of them.
                unsafe {
                    _mm512_mask_storeu_ps(row, lane_mask(2 * lanes), lo);
                    _mm512_mask_storeu_ps(
                        row.add(16),
                        lane_mask((2 * lanes).saturating_sub(16)),
                        hi,
                    );
                }
            }
        }
    }
}

/// The mask of a register's first `n` lanes.
fn lane_mask(n: usize) -> u16 {
    crate::cpu::avx512::lane_mask(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::direct::check_forward_cases;

    #[test]
    fn matches_naive_loops() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        // (n, c_in, h, w, c_out, k, pad): several tasks per image and a last shorter one (tw 8,
        // 11 and 16 tiles a row), partial vectors of tiles, chunks of output channels.
        let cases = [
            (2, 64, 16, 16, 64, 3, 1),
            (1, 96, 22, 32, 160, 3, 1),
            (1, 64, 18, 16, 96, 3, 1),
            (1, 256, 16, 16, 64, 3, 1),
        ];
        check_forward_cases(
            &cases,
            |v| v,
            |g, _| serves(g),
            |x, n, g, w, b, out| {
                // SAFETY: `out` holds the whole output.
                assert!(unsafe { forward(x, n, g, w, Some(b), out.ptr()) });
            },
        );
    }

    #[test]
    fn columns_mask_keeps_the_lanes_inside_the_row() {
        assert_eq!(columns_mask(-1, 32), 0xfffe);
        assert_eq!(columns_mask(0, 32), 0xffff);
        assert_eq!(columns_mask(20, 32), 0x0fff);
        assert_eq!(columns_mask(31, 32), 0x0001);
        assert_eq!(columns_mask(32, 32), 0);
        assert_eq!(columns_mask(-1, 8), 0x01fe);
    }

    #[test]
    fn serves_padded_3x3_on_planes_of_16_and_more() {
        let g =
            |c_in, side, c_out| Geometry::new([1, c_in, side, side], [c_out, c_in, 3, 3], (1, 1));
        assert!(serves(&g(64, 16, 64)) && serves(&g(256, 64, 256)));
        assert!(!serves(&g(32, 64, 64)) && !serves(&g(64, 64, 48)) && !serves(&g(512, 8, 512)));
        assert!(!serves(&g(64, 14, 64)) && !serves(&g(64, 17, 64)));
    }
}
