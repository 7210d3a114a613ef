//! The 3 x 3, padding-1 convolution by Winograd's F(2 x 2, 3 x 3) for f32 on AVX-512: each 2 x 2
//! block of outputs (a tile) comes from a 4 x 4 block of inputs, transformed so that its 36
//! products per input and output channel become 16. The 16 products of one position of the
//! transformed tile are a matrix product (output channels x input channels, by input channels x
//! tiles), run on the left-packing GEMM kernel with the transformed weights packed once.
//! Transforms (Lavin and Gray, 2016): V = B^T d B, U = G g G^T, Y = A^T (U . V) A. The filter
//! gradient runs them backwards (`filter_grad.rs`).

mod filter_grad;
mod image_lanes;

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::{Geometry, WeightForm};
use crate::ConvPrecision;
use crate::cpu::avx512::{lane_mask, transpose16};
use crate::cpu::gemm::Strided;
use crate::cpu::gemm::few_rows::{PackedLeft, Strips};
use crate::cpu::{Float, Shared, as_f32, is_f32};
pub(super) use filter_grad::filter_grad;

/// Positions of a transformed tile: 4 x 4.
const POSITIONS: usize = 16;
/// Most tiles per task, a multiple of the GEMM kernel's 12 columns (rows of tiles are cut to
/// it).
const TILES_PER_TASK: usize = 96;
/// Bytes of transformed inputs per task at most: fewer tiles per task for more input channels
/// (48 at 512 channels, three 8 x 8 images; 24 tiles, not a multiple of 8 x 8 images' 16,
/// left a third of the products' columns padding and ran 2x slower).
const INPUT_BYTES: usize = 1536 * 1024;

/// Tiles per task for `c_in` input channels: within INPUT_BYTES, a multiple of 12, at least 12,
/// at most TILES_PER_TASK, or twice that with the images in the lanes (a group of 4 x 4 planes
/// alone holds 64 tiles: tasks of one group left the products' last tile of 12 columns a third
/// full and ran 5-15% slower than tasks of three).
fn tiles_per_task(c_in: usize, lanes: Lanes) -> usize {
    let fit = INPUT_BYTES / (POSITIONS * c_in * size_of::<f32>());
    let most = match lanes {
        Lanes::Rows => TILES_PER_TASK,
        Lanes::Images => 2 * TILES_PER_TASK,
    };
    (fit / 12 * 12).clamp(12, most)
}
/// Output channels transformed back at a time: the products of a chunk (16 x 64 x 96 values)
/// stay in L2.
const CHUNK: usize = 64;
/// Channels served: from 64 (fewer leave the transforms' cost uncovered) to 512.
const CHANNELS: std::ops::RangeInclusive<usize> = 64..=512;
/// Fewest rows and columns of a plane whose tile rows fill the transforms' vectors.
const MIN_SIDE: usize = 8;
/// Fewest rows and columns of a plane served with the images in the vectors: on 2 x 2 planes
/// the direct kernels skip the padding's taps and do no more products than Winograd.
const MIN_SIDE_IMAGES: usize = 4;
/// Fewest channels, as c_in c_out / (c_in + c_out), on planes under MIN_SIDE: there the direct
/// kernels skip the padding's taps (a third of them at 4 x 4), so Winograd saves fewer products
/// (64 -> 64 @ 4 x 4, batch 256, ran 5% faster, within noise; 128 -> 128 @ 4 x 4 25-30%).
const MIN_CHANNELS_SMALL_PLANES: usize = 64;

/// How a task's tiles lie in the transforms' vectors.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lanes {
    /// 16 successive tiles of a tile row.
    Rows,
    /// The same tile of 16 images ([`image_lanes`]).
    Images,
}

impl Lanes {
    /// Images per vector: 1, or [`image_lanes::IMAGES`].
    fn images(self) -> usize {
        match self {
            Lanes::Rows => 1,
            Lanes::Images => image_lanes::IMAGES,
        }
    }
}

/// Whether the convolution is one Winograd computes: f32 3 x 3 with padding 1 on even planes,
/// channels in CHANNELS, output channels in whole panels of the GEMM kernel.
fn is_winograd_shape(g: &Geometry) -> bool {
    (g.kh, g.kw, g.pad) == (3, 3, (1, 1))
        && g.precision == ConvPrecision::F32
        && CHANNELS.contains(&g.c_in)
        && CHANNELS.contains(&g.c_out)
        && g.c_out.is_multiple_of(PackedLeft::PANEL_ROWS)
        && g.h.is_multiple_of(2)
        && g.w.is_multiple_of(2)
}

/// Whether the channels pay for transforms that fill `lanes` of a vector's 16: their cost per
/// tile grows as fewer lanes are used, while the products saved grow with the channels as
/// c_in * c_out / (c_in + c_out) (with a row's tiles in the lanes, 64 -> 64 @ 8 x 8 ran no
/// faster than the direct kernel, 128 -> 128 @ 8 x 8 and 64 -> 64 @ 16 x 16 did).
fn channels_pay(g: &Geometry, lanes: usize) -> bool {
    let channels = g.c_in * g.c_out / (g.c_in + g.c_out).max(1);
    channels * lanes >= 16 * 16
}

/// Whether the convolution is computed here with a row's tiles in the lanes, whatever the
/// batch: planes of at least MIN_SIDE.
fn serves_rows(g: &Geometry) -> bool {
    let lanes = (g.w / 2).min(16);
    is_winograd_shape(g) && g.h >= MIN_SIDE && g.w >= MIN_SIDE && channels_pay(g, lanes)
}

/// How the convolution of `n` images is computed here, if it is: with a row's tiles in the
/// lanes where they fill them (32 columns and more) or the images do not fill them better,
/// else with the images in the lanes (planes of MIN_SIDE and more, or of MIN_SIDE_IMAGES with
/// MIN_CHANNELS_SMALL_PLANES).
fn layout(g: &Geometry, n: usize) -> Option<Lanes> {
    let row_lanes = (g.w / 2).min(16);
    let images_per_vector = n / n.div_ceil(image_lanes::IMAGES).max(1);
    if images_per_vector <= row_lanes {
        return serves_rows(g).then_some(Lanes::Rows);
    }
    let side = g.h.min(g.w);
    let channels = g.c_in * g.c_out / (g.c_in + g.c_out).max(1);
    let fits = side >= MIN_SIDE || side >= MIN_SIDE_IMAGES && channels >= MIN_CHANNELS_SMALL_PLANES;
    (is_winograd_shape(g) && fits && channels_pay(g, images_per_vector)).then_some(Lanes::Images)
}

/// `out = conv(x, weight) + bias`, the weight given in `form`, when [`layout`] takes it and the
/// CPU has AVX-512F, writing every element of `out` (which may be uninitialised); false, with
/// `out` untouched, otherwise.
///
/// # Safety
/// `out` must be valid for writes of n * c_out * h * w elements that nothing else accesses
/// during the call.
pub(super) unsafe fn forward<T: Float>(
    x: &[T],
    n: usize,
    g: &Geometry,
    (weight, form): (&[T], WeightForm),
    bias: Option<&[T]>,
    out: *mut T,
) -> bool {
    let Some(lanes) = layout(g, n) else {
        return false;
    };
    if !is_f32::<T>() || !is_x86_feature_detected!("avx512f") {
        return false;
    }
    let (x, weight, bias) = (as_f32(x), as_f32(weight), bias.map(as_f32));
    // SAFETY: the CPU has AVX-512F (checked above).
    let u = unsafe { transformed_weights((weight, form), g) };
    let out = Shared(out.cast::<f32>());
    tasks(n, g, lanes)
        .par_iter()
        .for_each_init(Scratch::default, |scratch, &task| {
            // SAFETY: the CPU has AVX-512F; this task alone writes its tile rows of its images.
            unsafe { convolve_tiles((x, n), g, (&u, bias), task, scratch, out) };
        });
    true
}

/// One task: tile rows `ty` of images `imgs` (of groups of 16 images with [`Lanes::Images`]),
/// `tw` tiles to a row.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Task {
    imgs: (usize, usize),
    ty: (usize, usize),
    tw: usize,
    lanes: Lanes,
}

impl Task {
    /// Tiles of one image (one group of images) in the task.
    fn tiles_per_image(self) -> usize {
        (self.ty.1 - self.ty.0) * self.tw * self.lanes.images()
    }

    /// Tiles of the task, image by image.
    fn tiles(self) -> usize {
        (self.imgs.1 - self.imgs.0) * self.tiles_per_image()
    }
}

/// The forward pass's tasks of `n` images: about [`tiles_per_task`] tiles each, at least two
/// per thread where the tile rows or the images allow.
fn tasks(n: usize, g: &Geometry, lanes: Lanes) -> Vec<Task> {
    let count = n.div_ceil(lanes.images());
    let wanted = 2 * rayon::current_num_threads();
    split((count, lanes), g, tiles_per_task(g.c_in, lanes), wanted)
}

/// `count` images (groups of images) in tasks of about `per_task` tiles: blocks of tile rows of
/// one, or several whole when one has fewer tiles; fewer tiles to a task where that makes
/// `wanted` tasks (16 images of 4 x 4 planes are otherwise one task of two tile rows for the
/// forward pass, leaving a thread idle).
fn split(
    (count, lanes): (usize, Lanes),
    g: &Geometry,
    per_task: usize,
    wanted: usize,
) -> Vec<Task> {
    let (th, tw) = (g.h / 2, g.w / 2);
    let mut rows = (per_task / (tw * lanes.images())).clamp(1, th);
    while rows > 1 && count * th.div_ceil(rows) < wanted {
        rows = rows.div_ceil(2);
    }
    if rows < th || count == 1 {
        let blocks = (0..th).step_by(rows).map(|ty0| (ty0, (ty0 + rows).min(th)));
        let blocks: Vec<_> = blocks.collect();
        return (0..count)
            .flat_map(|img| {
                blocks.iter().map(move |&ty| Task {
                    imgs: (img, img + 1),
                    ty,
                    tw,
                    lanes,
                })
            })
            .collect();
    }
    let most = count.div_ceil(wanted.max(1));
    let imgs = (per_task / (th * tw * lanes.images())).min(most).max(1);
    (0..count)
        .step_by(imgs)
        .map(|img| Task {
            imgs: (img, (img + imgs).min(count)),
            ty: (0, th),
            tw,
            lanes,
        })
        .collect()
}

/// A thread's buffers, kept from task to task.
#[derive(Default)]
struct Scratch {
    /// Transformed inputs: [position][c_in][tiles].
    v: Vec<f32>,
    /// Products of a chunk of output channels: [position][CHUNK][tiles].
    m: Vec<f32>,
    /// The GEMM kernel's copy of a tile's columns.
    strips: Strips,
    /// Planes with the images in the lanes ([`image_lanes`]).
    pixels: Vec<f32>,
}

/// U = G g G^T of every (output, input) channel pair, one packed c_out x c_in matrix per
/// position, written straight into the packed panels: 16 output channels at a time, their
/// filters transposed into a vector per tap (from the weight in either form: the rotated
/// transpose is read in place); panels in parallel.
///
/// # Safety
/// The CPU must have AVX-512F.
unsafe fn transformed_weights((w, form): (&[f32], WeightForm), g: &Geometry) -> Vec<PackedLeft> {
    let mut u: Vec<PackedLeft> = (0..POSITIONS)
        .map(|_| PackedLeft::zeroed((g.c_out, g.c_in)))
        .collect();
    let panels = g.c_out.div_ceil(PackedLeft::PANEL_ROWS);
    let mut by_panel: Vec<Vec<&mut [f32]>> = (0..panels).map(|_| Vec::new()).collect();
    for position in &mut u {
        for (p, values) in position.panels_mut().enumerate() {
            by_panel[p].push(values);
        }
    }
    by_panel
        .into_par_iter()
        .enumerate()
        .for_each(|(p, mut out)| {
            // SAFETY: the CPU has AVX-512F (the caller's guarantee).
            unsafe { transform_filters((w, form), g, p * PackedLeft::PANEL_ROWS, &mut out) };
        });
    u
}

/// U of the PANEL_ROWS output channels from `first` (those that exist) for every input
/// channel, into each position's panel `out[position]`: an input channel's filters of both
/// halves of the panel one after the other, so that the rotated transpose's (which lie side
/// by side) are read in one pass.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn transform_filters(
    (w, form): (&[f32], WeightForm),
    g: &Geometry,
    first: usize,
    out: &mut [&mut [f32]],
) {
    let rows = PackedLeft::PANEL_ROWS;
    // Tap t of filter (o, i) at o * per_out + i * per_in + tap(t): the rotated transpose's
    // filter (i, o) holds the taps in reverse.
    let (per_out, per_in, tap): (usize, usize, fn(usize) -> usize) = match form {
        WeightForm::Direct => (g.c_in * 9, 9, |t| t),
        WeightForm::Adjoint => (9, g.c_out * 9, |t| 8 - t),
    };
    // The halves of the panel with channels: their first channel, lane and mask.
    let halves: Vec<(usize, usize, u16)> = (0..rows / 16)
        .map(|h| (first + h * 16, h * 16))
        .map(|(o, lane)| (o, lane, lane_mask(g.c_out.saturating_sub(o))))
        .filter(|&(_, _, mask)| mask != 0)
        .collect();
    let half = _mm512_set1_ps(0.5);
    let weight_rows = |[a, b, c]: [__m512; 3]| {
        let (sum, diff) = (_mm512_add_ps(a, c), b);
        [
            a,
            _mm512_mul_ps(half, _mm512_add_ps(sum, diff)),
            _mm512_mul_ps(half, _mm512_sub_ps(sum, diff)),
            c,
        ]
    };
    for c in 0..g.c_in {
        prefetch_filters((w, form), g, first, c);
        for &(o, lane0, mask) in &halves {
            let base = w.as_ptr().wrapping_add(o * per_out + c * per_in);
            // Filter (o + l, c)'s 9 taps in lane l's row, transposed into one vector per tap.
            let filters = std::array::from_fn(|l| match mask >> l & 1 {
                // SAFETY: the 9 taps of filter (o + l, c), an existing channel.
                1 => unsafe { _mm512_maskz_loadu_ps(0x1ff, base.add(l * per_out)) },
                _ => _mm512_setzero_ps(),
            });
            let by_tap = transpose16(filters);
            let taps: [__m512; 9] = std::array::from_fn(|k| by_tap[tap(k)]);
            // G g, column by column, then (G g) G^T, row by row.
            let mut gg = [[_mm512_setzero_ps(); 3]; 4];
            for k in 0..3 {
                let col = weight_rows([taps[k], taps[3 + k], taps[6 + k]]);
                for r in 0..4 {
                    gg[r][k] = col[r];
                }
            }
            for (r, row) in gg.iter().enumerate() {
                for (s, v) in weight_rows(*row).iter().enumerate() {
                    let at = c * rows + lane0;
                    // SAFETY: step c of the panel, lanes lane0..lane0 + 16 of its PANEL_ROWS.
                    unsafe { _mm512_storeu_ps(out[r * 4 + s][at..at + 16].as_mut_ptr(), *v) };
                }
            }
        }
    }
}

/// Input channels ahead of the one being transformed whose filters are fetched into the
/// cache, per form of the weight: the rows of a panel's filters lie a page apart or more,
/// which the hardware prefetchers do not follow (512 x 512 filters in the rotated transpose
/// took half of a 512 @ 4 x 4 convolution's time, a fifth after prefetching, an eighth with
/// the filters transposed rather than gathered into vectors). In the weight
/// itself a row's next line serves 16 / 9 channels, in the rotated transpose one channel
/// reads a run of 18 lines.
const PREFETCH_AHEAD: (usize, usize) = (16, 2);

/// Fetches the filters of the panel from `first` that [`transform_filters`] reads PREFETCH_AHEAD
/// input channels after channel `c`: in the weight itself the line each output channel's
/// filter starts there (where it has not been fetched for an earlier channel), in the rotated
/// transpose the run of the panel's filters.
#[inline]
#[target_feature(enable = "avx512f")]
fn prefetch_filters((w, form): (&[f32], WeightForm), g: &Geometry, first: usize, c: usize) {
    let (rows, line) = (PackedLeft::PANEL_ROWS.min(g.c_out - first), 16);
    let fetch = |at: usize| _mm_prefetch::<_MM_HINT_T0>(w.as_ptr().wrapping_add(at).cast());
    match form {
        WeightForm::Direct => {
            let ahead = c + PREFETCH_AHEAD.0;
            if ahead < g.c_in && (ahead * 9) % line < 9 {
                let per_out = g.c_in * 9;
                (first..first + rows).for_each(|o| fetch(o * per_out + ahead * 9 + 8));
            }
        }
        WeightForm::Adjoint => {
            let ahead = c + PREFETCH_AHEAD.1;
            if ahead < g.c_in {
                let run = (ahead * g.c_out + first) * 9;
                (0..rows * 9).step_by(line).for_each(|i| fetch(run + i));
            }
        }
    }
}

/// Transforms a task's inputs, multiplies them by the transformed weights a chunk of output
/// channels at a time, and transforms the products back into the output.
///
/// # Safety
/// The CPU must have AVX-512F; this task alone writes its tile rows of `out`.
#[target_feature(enable = "avx512f")]
unsafe fn convolve_tiles(
    (x, n): (&[f32], usize),
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
    let v = (scratch.v.as_mut_ptr(), v_stride);
    // SAFETY: v holds POSITIONS blocks of v_stride >= c_in * tiles values.
    match task.lanes {
        Lanes::Rows => unsafe { transform_task_inputs(x, g, task, v) },
        Lanes::Images => unsafe {
            image_lanes::transform_inputs(x, (n, g), task, v, &mut scratch.pixels)
        },
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
            unsafe {
                u.product(
                    panels.clone(),
                    (v, tiles),
                    (m, tiles),
                    false,
                    &mut scratch.strips,
                )
            };
        }
        for co in c0..c0 + chunk {
            let b = bias.map_or(0.0, |b| b[co]);
            let m = ((&scratch.m[..], m_stride), (co - c0) * tiles);
            // SAFETY: this task alone writes its rows of channel co of its images.
            match task.lanes {
                Lanes::Rows => unsafe { transform_task_products(m, g, task, (co, b), out) },
                Lanes::Images => unsafe {
                    image_lanes::transform_products(
                        m,
                        (n, g),
                        task,
                        (co, b),
                        out,
                        &mut scratch.pixels,
                    )
                },
            }
        }
    }
}

/// [`transform_inputs`] of every channel of the task's images into `v` (positions `stride`
/// apart).
///
/// # Safety
/// The CPU must have AVX-512F; `v` must hold POSITIONS blocks of `stride` >= c_in * tiles values.
#[target_feature(enable = "avx512f")]
unsafe fn transform_task_inputs(
    x: &[f32],
    g: &Geometry,
    task: Task,
    (v, stride): (*mut f32, usize),
) {
    let tiles = task.tiles();
    // The task's input rows of a channel: 2 * ty0 - 1 ..= 2 * ty1, inside the plane.
    let rows = (2 * task.ty.0).saturating_sub(1)..(2 * task.ty.1 + 1).min(g.h);
    let plane_len = g.h * g.w;
    for (i, img) in (task.imgs.0..task.imgs.1).enumerate() {
        for ci in 0..g.c_in {
            let plane = &x[(img * g.c_in + ci) * plane_len..][..plane_len];
            if ci + 1 < g.c_in {
                // The next channel's rows lie a plane away, too far for the stream prefetchers.
                let next = plane.as_ptr().wrapping_add(plane_len + rows.start * g.w);
                for line in (0..rows.len() * g.w).step_by(16) {
                    _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(line).cast::<i8>());
                }
            }
            let first_tile = i * task.tiles_per_image();
            // SAFETY: as this function's.
            unsafe { transform_inputs(plane, g, (task, first_tile), (ci * tiles, stride), v) };
        }
    }
}

/// [`transform_products`] of output channel `co` (bias `b`) for each of the task's images,
/// from its products at `offset` of each position's block of `m`.
///
/// # Safety
/// The CPU must have AVX-512F; this task alone writes its rows of channel co of its images.
#[target_feature(enable = "avx512f")]
unsafe fn transform_task_products(
    ((m, stride), offset): ((&[f32], usize), usize),
    g: &Geometry,
    task: Task,
    (co, b): (usize, f32),
    out: Shared<f32>,
) {
    for (i, img) in (task.imgs.0..task.imgs.1).enumerate() {
        let plane = out.ptr().wrapping_add((img * g.c_out + co) * g.h * g.w);
        // The next channel's output rows, for writing.
        let next = plane.wrapping_add(g.h * g.w + 2 * task.ty.0 * g.w);
        for line in (0..2 * (task.ty.1 - task.ty.0) * g.w).step_by(16) {
            _mm_prefetch::<_MM_HINT_ET0>(next.wrapping_add(line).cast::<i8>());
        }
        let products = offset + i * task.tiles_per_image();
        // SAFETY: this task's rows of plane co of image img.
        unsafe { transform_products((m, stride), products, task, g.w, b, plane) };
    }
}

/// Values between the starts of two positions' blocks of `len`: one cache line more than a
/// multiple of 64, so that the 16 positions of a tile do not all fall in one set of L1 (blocks
/// a multiple of 4 KiB apart did: 24 KiB at 64 channels x 96 tiles).
fn position_stride(len: usize) -> usize {
    len.next_multiple_of(16) + 16
}

/// V = B^T d B of the task's tiles of one image (from `first_tile` on) for one input channel,
/// into `v`: tile t of position xi at `xi * stride + channel + t`. Each vector of inputs is
/// read straight from the plane, every other column by a permute, with the padding's lanes
/// masked off.
///
/// # Safety
/// The CPU must have AVX-512F; `v` must be writable at those tiles of each position, which no
/// other thread accesses during the call.
#[target_feature(enable = "avx512f")]
unsafe fn transform_inputs(
    plane: &[f32],
    g: &Geometry,
    (task, first_tile): (Task, usize),
    (channel, stride): (usize, usize),
    v: *mut f32,
) {
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
            let tile = first_tile + (ty - task.ty.0) * task.tw + tx0;
            for (a, row) in t.iter().enumerate() {
                for (b, value) in input_rows(*row).iter().enumerate() {
                    let at = (a * 4 + b) * stride + channel + tile;
                    // SAFETY: tiles tile.. + lanes of position (a, b) of the channel.
                    unsafe { _mm512_mask_storeu_ps(v.add(at), lane_mask(lanes), *value) };
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

/// A times two gradient values: (p, p + q, p - q, -q).
#[inline]
#[target_feature(enable = "avx512f")]
fn gradient_rows([p, q]: [__m512; 2]) -> [__m512; 4] {
    [
        p,
        _mm512_add_ps(p, q),
        _mm512_sub_ps(p, q),
        _mm512_sub_ps(_mm512_setzero_ps(), q),
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
            (6, 128, 8, 12, 128, 3, 1),
            (3, 512, 8, 10, 96, 3, 1),
        ];
        check_both_forms(&cases, Lanes::Rows);
    }

    /// [`check_forward_cases`] on the path of `lanes`, the weight given as itself and as the
    /// rotated transpose of another ([`WeightForm::Adjoint`], read in place).
    fn check_both_forms(cases: &[(usize, usize, usize, usize, usize, usize, usize)], lanes: Lanes) {
        for form in [WeightForm::Direct, WeightForm::Adjoint] {
            check_forward_cases(
                cases,
                |v| v,
                |g, n| layout(g, n) == Some(lanes),
                |x, n, g, w, b, out| {
                    let rotated;
                    let w = match form {
                        WeightForm::Direct => w,
                        // Filter (i, o) of the rotated transpose is filter (o, i) reversed.
                        WeightForm::Adjoint => {
                            rotated = (0..w.len())
                                .map(|at| (at / 9 / g.c_out, at / 9 % g.c_out, at % 9))
                                .map(|(i, o, t)| w[(o * g.c_in + i) * 9 + 8 - t])
                                .collect::<Vec<f32>>();
                            &rotated
                        }
                    };
                    // SAFETY: `out` holds the whole output.
                    assert!(unsafe { forward(x, n, g, (w, form), Some(b), out.ptr()) });
                },
            );
        }
    }

    #[test]
    fn images_in_the_lanes_match_naive_loops() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        // (n, c_in, h, w, c_out, k, pad): 4 x 4 planes in groups of 16 images with a partial
        // last one (20), several groups to a task, planes of 36 pixels (a partial vector to
        // transpose), 8 x 8 planes of 512 channels (tasks of tile rows of one group), 16 x 16.
        let cases = [
            (20, 128, 4, 4, 128, 3, 1),
            (64, 128, 4, 4, 160, 3, 1),
            (16, 128, 6, 6, 128, 3, 1),
            (16, 512, 8, 8, 64, 3, 1),
            (33, 128, 8, 10, 64, 3, 1),
            (16, 96, 16, 16, 128, 3, 1),
        ];
        check_both_forms(&cases, Lanes::Images);
    }

    #[test]
    fn gradients_and_transposed_convolutions_match_the_generic_convolution()
    -> candle_core::Result<()> {
        use candle_core::{Device, Tensor, Var};
        type Conv<'a> = &'a dyn Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>;
        if !is_x86_feature_detected!("avx512f") {
            return Ok(());
        }
        for &(n, ci, co, side) in &[
            (2usize, 64usize, 64usize, 16usize),
            (3, 128, 128, 8),
            (1, 64, 128, 32),
            (16, 512, 512, 8),
        ] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1., (n, ci, side, side), &Device::Cpu)?)?;
            let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (co, ci, 3, 3), &Device::Cpu)?)?;
            let wt = Var::from_tensor(&Tensor::randn(0f32, 0.1, (ci, co, 3, 3), &Device::Cpu)?)?;
            let dy = Tensor::randn(0f32, 1., (n, co, side, side), &Device::Cpu)?;
            let g = Geometry::new([n, ci, side, side], [co, ci, 3, 3], (1, 1));
            let gt = Geometry::new([n, co, side, side], [ci, co, 3, 3], (1, 1));
            assert!(
                layout(&g, n).is_some() && layout(&gt, n).is_some(),
                "{n} {ci} {co} {side}"
            );
            let grads = |w: &Var, conv: Conv| -> candle_core::Result<[Tensor; 3]> {
                let y = conv(x.as_tensor(), w.as_tensor())?;
                let gs = (y.mul(&dy)?).sum_all()?.backward()?;
                let grad = |v: &Var| gs.get(v.as_tensor()).expect("takes part").clone();
                Ok([y, grad(&x), grad(w)])
            };
            // The transposed convolution by its definition: the convolution with the
            // rotated transpose (candle's ops, differentiable), padding k - 1 - p.
            let rotated = |w: &Tensor| w.permute((1, 0, 2, 3))?.contiguous()?.flip(&[2, 3]);
            let pairs = [
                (
                    grads(&w, &|x, w| crate::conv2d(x, w, None, 1))?,
                    grads(&w, &|x, w| x.conv2d(w, 1, 1, 1, 1))?,
                ),
                (
                    grads(&wt, &|x, w| crate::conv_transpose2d(x, w, None, 1))?,
                    grads(&wt, &|x, w| x.conv2d(&rotated(w)?, 1, 1, 1, 1))?,
                ),
            ];
            for (ours, stock) in &pairs {
                for ((name, a), b) in ["y", "dx", "dw"].into_iter().zip(ours).zip(stock) {
                    let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
                    let scale = b.abs()?.max_all()?.to_scalar::<f32>()?;
                    assert!(diff <= 1e-4 * scale, "{name}: {diff} of {scale}");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn tasks_cover_every_tile_once() {
        for (n, side, lanes) in [
            (16, 64, Lanes::Rows),
            (16, 8, Lanes::Rows),
            (7, 8, Lanes::Rows),
            (1, 8, Lanes::Rows),
            (3, 22, Lanes::Rows),
            (256, 4, Lanes::Images),
            (40, 8, Lanes::Images),
            (16, 16, Lanes::Images),
        ] {
            let g = Geometry::new([n, 64, side, side], [64, 64, 3, 3], (1, 1));
            let (th, tw, count) = (side / 2, side / 2, n.div_ceil(lanes.images()));
            let mut seen = vec![0; count * th];
            for t in tasks(n, &g, lanes) {
                assert_eq!((t.tw, t.lanes), (tw, lanes));
                let most = tiles_per_task(64, lanes).max(tw * lanes.images());
                assert!(t.tiles() <= most, "{t:?}");
                for img in t.imgs.0..t.imgs.1 {
                    (t.ty.0..t.ty.1).for_each(|ty| seen[img * th + ty] += 1);
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{n} x {side}");
        }
    }

    #[test]
    fn tasks_hold_fewer_tiles_for_more_input_channels() {
        assert_eq!(tiles_per_task(64, Lanes::Rows), 96);
        assert_eq!(tiles_per_task(256, Lanes::Rows), 96);
        assert_eq!(tiles_per_task(512, Lanes::Rows), 48);
        assert_eq!(tiles_per_task(64, Lanes::Images), 192);
        assert_eq!(tiles_per_task(512, Lanes::Images), 48);
        let g = Geometry::new([16, 512, 8, 8], [512, 512, 3, 3], (1, 1));
        let on_two = rayon::ThreadPoolBuilder::new().num_threads(2).build();
        let tasks = on_two
            .expect("a pool")
            .install(|| tasks(16, &g, Lanes::Rows));
        assert_eq!(tasks.len(), 6, "three images a task");
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
    fn serves_padded_3x3_with_rows_on_planes_of_8_and_more() {
        let g =
            |c_in, side, c_out| Geometry::new([1, c_in, side, side], [c_out, c_in, 3, 3], (1, 1));
        let serves = serves_rows;
        assert!(serves(&g(64, 16, 64)) && serves(&g(256, 64, 256)) && serves(&g(512, 8, 512)));
        assert!(serves(&g(128, 8, 128)) && !serves(&g(64, 8, 64)) && !serves(&g(64, 8, 128)));
        assert!(!serves(&g(32, 64, 64)) && !serves(&g(64, 64, 48)) && !serves(&g(1024, 8, 64)));
        assert!(!serves(&g(64, 6, 64)) && !serves(&g(64, 17, 64)));
    }

    #[test]
    fn puts_images_in_the_lanes_where_they_fill_more_of_them() {
        let at = |n, c, side| layout(&Geometry::new([n, c, side, side], [c, c, 3, 3], (1, 1)), n);
        // Rows of 16 tiles and more fill the lanes; so do 16 images.
        assert_eq!(at(16, 64, 64), Some(Lanes::Rows));
        assert_eq!(at(256, 64, 32), Some(Lanes::Rows));
        assert_eq!(at(16, 256, 16), Some(Lanes::Images));
        assert_eq!(at(16, 512, 8), Some(Lanes::Images));
        assert_eq!(at(1, 512, 8), Some(Lanes::Rows));
        assert_eq!(at(256, 128, 4), Some(Lanes::Images));
        assert_eq!(at(256, 64, 8), Some(Lanes::Images));
        // Too few images for the lanes, too few channels for 4 x 4 planes or for any, planes
        // of 2 x 2.
        assert_eq!(at(2, 128, 4), None);
        assert_eq!(at(256, 64, 4), None);
        assert_eq!(at(256, 64, 2), None);
        assert_eq!(at(256, 32, 8), None);
    }
}
