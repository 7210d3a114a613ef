//! The filter gradient without im2col: dW^T (K x c_out) = X (K x P) @ dY^T (P x c_out), where
//! row k of X is tap k's shifted view of the zero-padded input rows. A tile is 12 taps x 32
//! output channels (24 taps x 16 for at most 16 channels) held in registers over all
//! positions of a task: the taps are broadcast
//! straight from the padded rows, the gradient is read from a transposed copy
//! (positions x channels, made once per task).

use std::any::Any;

use rayon::prelude::*;

use super::operand::{Bf16, Bf16Pair, Packed};
use super::tile::Span;
use super::{LANES, MIN_TAPS, PaddedRows, fill, pad_rows, runs_to_lanes, tap_offsets};
use crate::conv::Geometry;
use crate::conv::task::Task;

/// The elements a filter kernel multiplies: the padded input rows' and the transposed
/// gradient's (whose elements hold Grad::CHANNELS successive positions of one channel).
pub(super) trait FilterOperands {
    /// An element of the padded input rows (one value).
    type Row: Packed;
    /// An element of the transposed gradient.
    type Grad: Packed;
    /// Whether a dW past SMALL_DW_BYTES may be summed in as few tasks as threads, each of at
    /// least LARGE_TASK_POSITIONS (each task sweeps its thread's dW once): in bf16, where
    /// the kernel runs twice as fast as im2col + GEMM in f32, that won at 256 channels @ 16
    /// (12 -> 6.8 ms, batch 16) and 512 @ 28 (37 -> 28 ms, batch 4), and lost with tasks of
    /// 392 positions (512 @ 14: 9.7 -> 10.9 ms); in f32 it lost (512 @ 28: 38 -> 45 ms).
    /// Measured on a 2-core Zen 5.
    const FEW_LARGE_TASKS: bool;

    /// The kernel: see `avx512::filter_kernel`.
    ///
    /// # Safety
    /// As `avx512::filter_kernel`, and the CPU must have these elements' instructions.
    unsafe fn kernel<const FR: usize, const NV: usize>(
        taps: &[usize; FR],
        rows: &[Self::Row],
        dyt: &[Self::Grad],
        span: Span,
        dwt: (&mut [f32], usize),
    );
}

/// f32 products.
pub(super) struct F32;

/// bf16 products summed in f32: the gradient's elements pair two successive positions.
pub(super) struct Bf16Products;

impl FilterOperands for F32 {
    type Row = f32;
    type Grad = f32;
    const FEW_LARGE_TASKS: bool = false;

    unsafe fn kernel<const FR: usize, const NV: usize>(
        taps: &[usize; FR],
        rows: &[f32],
        dyt: &[f32],
        span: Span,
        dwt: (&mut [f32], usize),
    ) {
        // SAFETY: the caller's contract is the kernel's.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            super::avx512::filter_kernel::<FR, NV>(taps, rows, dyt, span, dwt)
        };
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (taps, rows, dyt, span, dwt);
            unreachable!("no direct kernel on this architecture")
        }
    }
}

impl FilterOperands for Bf16Products {
    type Row = Bf16;
    type Grad = Bf16Pair;
    const FEW_LARGE_TASKS: bool = true;

    unsafe fn kernel<const FR: usize, const NV: usize>(
        taps: &[usize; FR],
        rows: &[Bf16],
        dyt: &[Bf16Pair],
        span: Span,
        dwt: (&mut [f32], usize),
    ) {
        // SAFETY: the caller's contract is the kernel's; Bf16 and Bf16Pair are transparent
        // wrappers of u16 and u32.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            let rows = std::slice::from_raw_parts(rows.as_ptr().cast::<u16>(), rows.len());
            let dyt = std::slice::from_raw_parts(dyt.as_ptr().cast::<u32>(), dyt.len());
            super::avx512::filter_kernel_bf16::<FR, NV>(taps, rows, dyt, span, dwt)
        };
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (taps, rows, dyt, span, dwt);
            unreachable!("no direct kernel on this architecture")
        }
    }
}

/// Accumulator registers of a tile: taps x vectors of channels.
const ACCUMULATORS: usize = 24;

/// Vectors of 16 output channels per tile: one for at most 16 channels, else two.
fn vectors(g: &Geometry) -> usize {
    if g.c_out <= LANES { 1 } else { 2 }
}

/// Output channels per tile.
fn channels(g: &Geometry) -> usize {
    vectors(g) * LANES
}

/// Fewest positions per task of a small dW: with fewer, adding each tile into dW costs as
/// much as its products.
const MIN_TASK_POSITIONS: usize = 128;

/// Most bytes of a dW that tasks under TASK_POSITIONS may add into: one core's L2 (Zen 4 and
/// 5). Past it (512 -> 512 channels, 9 MB) tasks of 128 positions ran at half the speed of
/// im2col + GEMM (measured, batch 16 at 8 x 8, 2-core Zen 5).
const SMALL_DW_BYTES: usize = 1 << 20;

/// Fewest positions of the tasks [`FilterOperands::FEW_LARGE_TASKS`] allows.
const LARGE_TASK_POSITIONS: usize = 512;

/// Positions per task: a tile's slice of the transposed gradient (positions x 128 bytes)
/// stays in L2 while every tap block sweeps it.
const TASK_POSITIONS: usize = 1024;

/// Whether the direct kernel serves this filter gradient (the caller checks the CPU): taps
/// enough to outweigh writing dW, rows whose positions pair up for the kernel's elements, and
/// tiles at least half full: im2col + GEMM with as few as 8 or 16 output channels ran at 5
/// GFLOP/s (a GEMM 8 or 16 rows high; measured on 224-pixel layers, 2-core Zen 4), so even a
/// half-empty vector of channels is far ahead.
pub(super) fn serves<O: FilterOperands>(g: &Geometry) -> bool {
    g.out_w > 0
        && g.out_w.is_multiple_of(O::Grad::CHANNELS)
        && g.k() >= MIN_TAPS
        && fill(g.c_out, channels(g)) * fill(g.k(), ACCUMULATORS / vectors(g)) >= MIN_FILTER_FILL
}

/// Fewest useful fraction of the filter kernel's tile lanes; see [`serves`].
const MIN_FILTER_FILL: f64 = 0.5;

/// dW (c_out, K) summed over the `n` images of `x` and `grad`, each thread summing its share
/// of the tasks into its own dW; None when there are too few tasks to share or positions per
/// task (large filters over few positions), where im2col + GEMM was as fast (measured, 2-core
/// Zen 4), unless the tasks are as few as the threads but large ([`FilterOperands::FEW_LARGE_TASKS`]).
pub(super) fn run<O: FilterOperands>(
    x: &[f32],
    grad: &[f32],
    n: usize,
    g: &Geometry,
) -> Option<Vec<f32>> {
    let threads = rayon::current_num_threads().max(1);
    let mut rows = (TASK_POSITIONS / g.out_w).max(1);
    if g.c_out * g.k() * size_of::<f32>() <= SMALL_DW_BYTES {
        // Each task adds its tiles into dW: with dW in L2 that is cheap enough for smaller
        // tasks, so that small planes give every thread four.
        rows = rows
            .min(n * g.out_h / (4 * threads))
            .max(MIN_TASK_POSITIONS.div_ceil(g.out_w));
    } else if O::FEW_LARGE_TASKS {
        rows = rows.min((n * g.out_h).div_ceil(threads));
    }
    let tasks = Task::split(g, n, rows);
    let few_large = O::FEW_LARGE_TASKS
        && tasks.len().is_multiple_of(threads)
        && tasks.iter().all(|t| t.columns(g) >= LARGE_TASK_POSITIONS);
    if tasks.len() < 4 * threads && !few_large {
        return None;
    }
    // Each thread sums dW transposed, (K, ld) as the tiles hold it, so that adding a tile is
    // a vector per tap; transposed into (c_out, K) once at the end.
    let ld = g.c_out.next_multiple_of(channels(g));
    let partials: Vec<Vec<f32>> = tasks
        .par_chunks(tasks.len().div_ceil(threads))
        .map(|chunk| {
            let mut dwt = vec![0.0; g.k() * ld];
            let (mut rows, mut offsets, mut dyt) = (PaddedRows::default(), Vec::new(), Vec::new());
            for &t in chunk {
                let rows_in = pad_rows::<O::Row>(x, g, t, &mut rows);
                tap_offsets(g, rows_in, &mut offsets);
                transpose_grad(grad, g, t, &mut dyt);
                task::<O>(g, t, (&rows.values, &offsets, &dyt), &mut dwt);
            }
            dwt
        })
        .collect();
    let dwt = partials.into_iter().reduce(|mut a, b| {
        a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        a
    })?;
    Some(untranspose(&dwt, ld, g.c_out, g.k()))
}

/// Output channels per block of [`untranspose`]: one cache line of each row of dW^T.
const UNTRANSPOSE_CHANNELS: usize = 16;

/// dW (c_out, k) from dW^T (k rows of `ld` >= c_out), blocks of output channels in parallel:
/// each block reads one cache line of every row of dW^T (a 512 x 4608 dW read a whole row
/// per channel took 5 ms on one thread).
fn untranspose(dwt: &[f32], ld: usize, c_out: usize, k: usize) -> Vec<f32> {
    let mut dw = vec![0.0; c_out * k];
    dw.par_chunks_mut(UNTRANSPOSE_CHANNELS * k.max(1))
        .enumerate()
        .for_each(|(b, block)| {
            let co0 = b * UNTRANSPOSE_CHANNELS;
            for (kk, sums) in dwt.chunks_exact(ld).enumerate() {
                for (j, &s) in sums[co0..][..block.len() / k].iter().enumerate() {
                    block[j * k + kk] = s;
                }
            }
        });
    dw
}

/// The gradient of task `t`'s output rows as (position groups, c_out rounded up to a tile's
/// channels) elements, each holding G::CHANNELS successive positions of one channel (the
/// rows' widths are multiples of it), images one after another, channels past c_out zero.
fn transpose_grad<G: Packed>(grad: &[f32], g: &Geometry, t: Task, dyt: &mut Vec<G>) {
    let nr = channels(g);
    let (plane, ld) = (g.out_h * g.out_w, g.c_out.next_multiple_of(nr));
    let groups = (t.r1 - t.r0) * g.out_w / G::CHANNELS;
    dyt.clear();
    dyt.resize(t.count * groups * ld, G::default());
    if let Some(values) = (dyt as &mut dyn Any).downcast_mut::<Vec<f32>>() {
        return transpose_grad_f32(grad, g, t, values);
    }
    for j in 0..t.count {
        let dst = &mut dyt[j * groups * ld..][..groups * ld];
        // A tile's channels at a time, so that each position's writes fill whole cache lines.
        for co0 in (0..g.c_out).step_by(nr) {
            let channels = nr.min(g.c_out - co0);
            let first = ((t.img + j) * g.c_out + co0) * plane + t.r0 * g.out_w;
            for (q, row) in dst.chunks_exact_mut(ld).enumerate() {
                let p = first + q * G::CHANNELS;
                for (c, d) in row[co0..][..channels].iter_mut().enumerate() {
                    *d = G::pack_with(G::CHANNELS, |i| grad[p + c * plane + i]);
                }
            }
        }
    }
}

/// [`transpose_grad`] for f32 elements into the zeroed `dyt`: 16 channels at a time through
/// register transposes (the element-by-element copy took a sixth of the small planes'
/// filter gradients).
fn transpose_grad_f32(grad: &[f32], g: &Geometry, t: Task, dyt: &mut [f32]) {
    let (plane, ld) = (g.out_h * g.out_w, g.c_out.next_multiple_of(channels(g)));
    let positions = (t.r1 - t.r0) * g.out_w;
    let dest: Vec<usize> = (0..positions).map(|q| q * ld).collect();
    for j in 0..t.count {
        for co0 in (0..g.c_out).step_by(LANES) {
            let first = ((t.img + j) * g.c_out + co0) * plane + t.r0 * g.out_w;
            let count = LANES.min(g.c_out - co0);
            let dst = &mut dyt[j * positions * ld + co0..];
            runs_to_lanes(&grad[first..], plane, count, &dest, dst);
        }
    }
}

/// Adds task `t`'s terms to `dwt` (dW transposed: K rows of c_out rounded up to a tile's
/// channels): every tile over all its positions. `data` holds the task's padded rows, tap
/// offsets and transposed gradient.
fn task<O: FilterOperands>(
    g: &Geometry,
    t: Task,
    data: (&[O::Row], &[usize], &[O::Grad]),
    dwt: &mut [f32],
) {
    let wp = g.w + 2 * g.pad.1;
    let image = g.c_in * (t.r1 - t.r0 + g.kh - 1) * wp;
    let bases: Vec<usize> = (0..t.count)
        .flat_map(|j| (0..t.r1 - t.r0).map(move |r| j * image + r * wp))
        .collect();
    let span = Span {
        bases: &bases,
        width: g.out_w,
        ld: g.c_out.next_multiple_of(channels(g)),
    };
    match vectors(g) {
        1 => tiles::<O, { ACCUMULATORS }, 1>(g, data, span, dwt),
        _ => tiles::<O, { ACCUMULATORS / 2 }, 2>(g, data, span, dwt),
    }
}

/// Runs the kernel on every tile of FR taps x NV vectors of channels, adding each into `dwt`.
fn tiles<O: FilterOperands, const FR: usize, const NV: usize>(
    g: &Geometry,
    (rows, offsets, dyt): (&[O::Row], &[usize], &[O::Grad]),
    span: Span,
    dwt: &mut [f32],
) {
    let (k, nr) = (g.k(), NV * LANES);
    for co0 in (0..g.c_out).step_by(nr) {
        for k0 in (0..k).step_by(FR) {
            // Taps past K repeat the first one; their sums are dropped.
            let taps: [usize; FR] =
                std::array::from_fn(|i| offsets[if k0 + i < k { k0 + i } else { k0 }]);
            let dst = (&mut dwt[k0 * span.ld + co0..], FR.min(k - k0));
            // SAFETY: the caller checked the CPU.
            unsafe { O::kernel::<FR, NV>(&taps, rows, &dyt[co0..], span, dst) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::direct::operand::round_bf16;
    use crate::conv::direct::{has_kernel, naive_filter_grad as naive, test_values as values};

    #[test]
    fn few_positions_are_left_to_im2col() {
        // Four rows of one image: four tasks of 16 positions for two threads.
        let g = Geometry::new([1, 8, 4, 16], [32, 8, 3, 3], (1, 1));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert!(
            pool.install(|| run::<F32>(&[0.0; 512], &[0.0; 2048], 1, &g))
                .is_none()
        );
    }

    #[test]
    fn direct_filter_gradient_matches_naive_loops() {
        if !has_kernel() {
            return;
        }
        check_filter_cases::<F32>(&CASES, |v| v);
    }

    #[test]
    fn bf16_filter_gradient_matches_naive_loops_on_rounded_operands() {
        if !crate::has_bf16_products() {
            return;
        }
        check_filter_cases::<Bf16Products>(&CASES, round_bf16);
        // A dW past SMALL_DW_BYTES in one task per thread, which f32 leaves to im2col.
        let large = (16, 256, 8, 8, 128, 3, 1);
        check_filter_cases::<Bf16Products>(&[large], round_bf16);
        let g = Geometry::new([16, 256, 8, 8], [128, 256, 3, 3], (1, 1));
        let (x, dy) = (vec![0.0; 16 * 256 * 64], vec![0.0; 16 * 128 * 64]);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert!(pool.install(|| run::<F32>(&x, &dy, 16, &g)).is_none());
        // Rows of odd width do not pair their positions.
        let odd = Geometry::new([16, 8, 16, 15], [32, 8, 3, 3], (1, 1));
        assert!(serves::<F32>(&odd) && !serves::<Bf16Products>(&odd));
    }

    /// (n, c_in, h, w, c_out, k, pad), each with at least 8 tasks: images grouped into tasks,
    /// channels past a tile, tasks cut inside an image (wide rows), 1x1 taps, 5x5 taps past a
    /// whole tile, 8 and 16 output channels (one vector), planes of 2 x 2 and 4 x 4 in tasks
    /// of 32 images.
    const CASES: [(usize, usize, usize, usize, usize, usize, usize); 8] = [
        (40, 8, 16, 16, 32, 3, 1),
        (1, 8, 24, 300, 56, 3, 1),
        (120, 72, 8, 8, 32, 1, 0),
        (32, 3, 16, 16, 32, 5, 2),
        (24, 8, 12, 30, 8, 3, 1),
        (16, 8, 16, 40, 16, 3, 1),
        (256, 16, 2, 2, 32, 3, 1),
        (128, 8, 4, 4, 16, 3, 1),
    ];

    #[test]
    fn untranspose_swaps_back_rows_and_columns() {
        // Channels past one block and a partial block; rows of dW^T padded past c_out.
        let (c_out, k, ld) = (37, 11, 48);
        let dwt = values(k * ld, 5);
        let dw = untranspose(&dwt, ld, c_out, k);
        assert_eq!(dw.len(), c_out * k);
        for co in 0..c_out {
            for kk in 0..k {
                assert_eq!(dw[co * k + kk], dwt[kk * ld + co], "channel {co}, tap {kk}");
            }
        }
    }

    /// Runs the kernel of O on each case (two threads) and compares dW with [`naive`] of the
    /// operands as `round` rounds them (the kernel's).
    fn check_filter_cases<O: FilterOperands>(
        cases: &[(usize, usize, usize, usize, usize, usize, usize)],
        round: fn(f32) -> f32,
    ) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for (i, &(n, c_in, h, w, c_out, k, p)) in cases.iter().enumerate() {
            let g = Geometry::new([n, c_in, h, w], [c_out, c_in, k, k], (p, p));
            assert!(serves::<O>(&g), "case {i} must take the direct path");
            // Halved to [-0.5, 0.5): sums of thousands of products stay within the tolerance.
            let half = |v: Vec<f32>| v.into_iter().map(|v| v * 0.5).collect::<Vec<_>>();
            let x = half(values(n * c_in * h * w, 1 + i as u32));
            let dy = half(values(n * c_out * g.out_h * g.out_w, 5 + i as u32));
            let got = pool
                .install(|| run::<O>(&x, &dy, n, &g))
                .expect("enough tasks");
            let rounded = |v: &[f32]| v.iter().map(|&v| round(v)).collect::<Vec<_>>();
            let want = naive(&rounded(&x), &rounded(&dy), n, &g);
            for (j, (&got, want)) in got.iter().zip(want).enumerate() {
                assert!(
                    (got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "case {i} element {j}: {got} vs {want}"
                );
            }
        }
    }
}
