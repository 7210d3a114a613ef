//! The stride-1 convolution and its filter gradient without im2col, for f32 on x86-64 with
//! AVX-512: the micro-kernels read each kernel tap's values straight from a zero-padded copy
//! of the input rows (an implicit GEMM), so the K x P column matrix is never written or read.
//!
//! `forward` serves the forward pass (and so the input gradient and the transposed
//! convolution), `filter_grad` the filter gradient; im2col + GEMM takes what they do not.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod filter_grad;
mod forward;
mod image_lanes;
mod operand;
mod tile;

use std::any::Any;

use super::Geometry;
use super::task::Task;
use crate::ConvPrecision;
use crate::cpu::{Float, Shared, as_f32, is_f32};
use filter_grad::{Bf16Products, F32, FilterOperands};
use operand::{Bf16Pair, Operand, Packed};

/// Output positions per AVX-512 vector; a tile holds two.
pub(super) const LANES: usize = 16;
/// Fewest useful fraction of a kernel's tile lanes for the direct path; below it (planes
/// under 24 wide, a few channels) im2col + GEMM does less wasted work.
pub(super) const MIN_FILL: f64 = 0.75;
/// Fewest taps worth the direct paths: with fewer, writing the output costs as much as the
/// arithmetic and im2col + GEMM is faster (measured: 3 -> 64 channels, 27 taps).
pub(super) const MIN_TAPS: usize = 64;

/// `out = conv(x, weight) + bias` by the direct kernel when it serves this convolution (f32,
/// AVX-512, tiles mostly full: positions along rows, or else images in the lanes), in bf16
/// products where the geometry asks for them and the CPU has them, writing every element of
/// `out` (which may be uninitialised); false, with `out` untouched, otherwise.
///
/// # Safety
/// `out` must be valid for writes of n * c_out * out_h * out_w elements that nothing else
/// accesses during the call.
pub(crate) unsafe fn forward<T: Float>(
    x: &[T],
    n: usize,
    g: &Geometry,
    weight: &[T],
    bias: Option<&[T]>,
    out: *mut T,
) -> bool {
    if !is_f32::<T>() || !has_kernel() {
        return false;
    }
    // T is f32 (checked above).
    let out = Shared(out.cast::<f32>());
    let operands = (as_f32(x), as_f32(weight), bias.map(as_f32));
    // SAFETY: the caller's contract on `out`.
    unsafe {
        (uses_bf16(g) && forward_as::<Bf16Pair>(operands, n, g, out))
            || forward_as::<f32>(operands, n, g, out)
    }
}

/// Whether the convolution asks for bf16 products and this CPU has them.
fn uses_bf16(g: &Geometry) -> bool {
    g.precision == ConvPrecision::Bf16 && crate::has_bf16_products()
}

/// [`forward`] in elements E, if a direct kernel serves.
///
/// # Safety
/// As [`forward`].
unsafe fn forward_as<E: Operand>(
    (x, weight, bias): (&[f32], &[f32], Option<&[f32]>),
    n: usize,
    g: &Geometry,
    out: Shared<f32>,
) -> bool {
    let run = if forward::serves::<E>(g) {
        forward::run::<E>
    } else if image_lanes::serves::<E>(g, n) {
        image_lanes::run::<E>
    } else {
        return false;
    };
    // SAFETY: the caller's contract on `out`.
    unsafe { run(x, n, g, weight, bias, out) };
    true
}

/// dW (c_out, K) of the convolution summed over the `n` images, by the direct kernel when it
/// serves this convolution (f32, AVX-512, tiles mostly full, positions enough for every
/// thread), in bf16 products where the geometry asks for them and the CPU has them; None
/// otherwise.
pub(crate) fn filter_grad<T: Float>(x: &[T], grad: &[T], n: usize, g: &Geometry) -> Option<Vec<T>> {
    if !is_f32::<T>() || !has_kernel() {
        return None;
    }
    let (x, grad) = (as_f32(x), as_f32(grad));
    let bf16 = uses_bf16(g).then(|| filter_grad_as::<Bf16Products>(x, grad, n, g));
    let dw = bf16
        .flatten()
        .or_else(|| filter_grad_as::<F32>(x, grad, n, g))?;
    Some(dw.into_iter().map(|v| T::of(v as f64)).collect())
}

/// [`filter_grad`] in the elements of O, if the direct kernel serves.
fn filter_grad_as<O: FilterOperands>(
    x: &[f32],
    grad: &[f32],
    n: usize,
    g: &Geometry,
) -> Option<Vec<f32>> {
    filter_grad::serves::<O>(g)
        .then(|| filter_grad::run::<O>(x, grad, n, g))
        .flatten()
}

/// Output channels the plane-dot kernel sums at once: 3 x 9 sums fill 27 of the 32 registers.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const PLANE_DOT_CHANNELS: usize = 3;

/// Adds one padded input plane's 3 x 3 filter-gradient terms against the gradient planes `dy`
/// (one per output channel, (out_h, w) each) into `lanes` (c_out x 9 sums of 16 lanes), by
/// the AVX-512 kernel when it serves (f32, 3 x 3, this CPU), with the same values as
/// `lane_dot`'s loop; false, with `lanes` untouched, otherwise.
pub(crate) fn plane_dots_3x3<T: Float>(
    dy: &[&[T]],
    padded: &[T],
    (pw, w, out_h): (usize, usize, usize),
    lanes: &mut [[T; LANES]],
) -> bool {
    if !is_f32::<T>() || !has_kernel() || w + 2 != pw {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let lanes_f32 = lanes.as_flattened_mut();
        // SAFETY: T is f32 (checked above): the same memory seen as f32 sums of 16 lanes.
        let lanes = unsafe {
            std::slice::from_raw_parts_mut(
                lanes_f32.as_mut_ptr().cast::<[f32; LANES]>(),
                lanes_f32.len() / LANES,
            )
        };
        let (padded, geometry) = (as_f32(padded), (pw, w, out_h));
        for (group, dy) in dy.chunks(PLANE_DOT_CHANNELS).enumerate() {
            let lanes = &mut lanes[group * PLANE_DOT_CHANNELS * 9..];
            // SAFETY: the CPU has AVX-512F (checked above).
            unsafe {
                match *dy {
                    [a] => avx512::plane_dots_3x3([as_f32(a)], padded, geometry, lanes),
                    [a, b] => {
                        avx512::plane_dots_3x3([as_f32(a), as_f32(b)], padded, geometry, lanes)
                    }
                    [a, b, c] => avx512::plane_dots_3x3(
                        [as_f32(a), as_f32(b), as_f32(c)],
                        padded,
                        geometry,
                        lanes,
                    ),
                    _ => unreachable!("groups of at most {PLANE_DOT_CHANNELS}"),
                }
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (dy, padded, out_h, lanes);
        false
    }
}

/// The fraction of `n` items' tiles of `tile` that holds items.
pub(super) fn fill(n: usize, tile: usize) -> f64 {
    n as f64 / (n.div_ceil(tile) * tile).max(1) as f64
}

/// Whether this CPU runs the kernels (AVX-512F).
#[cfg(target_arch = "x86_64")]
pub(super) fn has_kernel() -> bool {
    is_x86_feature_detected!("avx512f")
}

/// Whether this CPU runs the kernels: not on other architectures.
#[cfg(not(target_arch = "x86_64"))]
pub(super) fn has_kernel() -> bool {
    false
}

/// `avx512::runs_to_lanes`: the direct kernels run only where the CPU has AVX-512F.
pub(super) fn runs_to_lanes(
    src: &[f32],
    stride: usize,
    count: usize,
    dest: &[usize],
    dst: &mut [f32],
) {
    // SAFETY: this module's kernels run only where the CPU has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        avx512::runs_to_lanes(src, stride, count, dest, dst)
    };
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (src, stride, count, dest, dst);
        unreachable!("no direct kernel on this architecture")
    }
}

/// `avx512::lanes_to_runs`, whose contract on `dst` is this function's.
///
/// # Safety
/// As `avx512::lanes_to_runs` (the CPU's AVX-512F is this module's own premise).
pub(super) unsafe fn lanes_to_runs(
    src: &[f32],
    at: &[usize],
    count: usize,
    dst: (*mut f32, usize),
    bias: f32,
) {
    // SAFETY: the caller's contract; this module's kernels run only with AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        avx512::lanes_to_runs(src, at, count, dst, bias)
    };
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (src, at, count, dst, bias);
        unreachable!("no direct kernel on this architecture")
    }
}

/// The padded input rows of the tasks one thread runs, kept from task to task: the copies
/// write the same positions for every task of the same rows and images, so the padding (and
/// the lanes past a block's images) is zeroed only when those change (zeroing the whole
/// buffer per task took 3% of a 4 x 4 convolution).
#[derive(Default)]
struct PaddedRows<E> {
    values: Vec<E>,
    /// (first output row, end row, images) of the last copy into `values`.
    layout: Option<(usize, usize, usize)>,
}

impl<E: Default + Clone> PaddedRows<E> {
    /// The buffer of `len` elements for a copy of `layout` (first output row, end row,
    /// images): zeroed unless the last copy had the same layout and length, whose positions
    /// this copy overwrites.
    fn for_layout(&mut self, layout: (usize, usize, usize), len: usize) -> &mut Vec<E> {
        if self.layout != Some(layout) || self.values.len() != len {
            self.values.clear();
            self.values.resize(len, E::default());
            self.layout = Some(layout);
        }
        &mut self.values
    }
}

/// Copies the input rows task `t` reads, zero-padded, into `rows` as (image, channel groups
/// ([`groups`]), rows_in, wp) elements; returns rows_in.
fn pad_rows<E: Packed>(x: &[f32], g: &Geometry, t: Task, rows: &mut PaddedRows<E>) -> usize {
    let (ph, pw) = g.pad;
    let wp = g.w + 2 * pw;
    let rows_in = t.r1 - t.r0 + g.kh - 1;
    let (plane, image) = (g.h * g.w, g.c_in * g.h * g.w);
    let len = t.count * groups::<E>(g).c_in * rows_in * wp;
    let buf = rows.for_layout((t.r0, t.r1, t.count), len);
    if let Some(values) = (buf as &mut dyn Any).downcast_mut::<Vec<f32>>() {
        pad_rows_f32(x, g, t, rows_in, values);
        return rows_in;
    }
    let channels = (0..t.count).flat_map(|j| (0..g.c_in).step_by(E::CHANNELS).map(move |c| (j, c)));
    for ((j, c0), dst) in channels.zip(buf.chunks_exact_mut(rows_in * wp)) {
        let first = (t.img + j) * image + c0 * plane;
        let count = E::CHANNELS.min(g.c_in - c0);
        for i in 0..rows_in {
            let y = (t.r0 + i).wrapping_sub(ph);
            if y < g.h {
                const { assert!(E::CHANNELS <= 2, "elements of one or two channels") };
                let planes: [&[f32]; 2] = std::array::from_fn(|c| {
                    &x[first + c.min(count - 1) * plane + y * g.w..][..g.w]
                });
                E::pack_row(&mut dst[i * wp + pw..][..g.w], &planes[..count]);
            }
        }
    }
    rows_in
}

/// [`pad_rows`] for f32 elements into `buf`, whose padding is zero: each plane's rows inside
/// the image at once.
fn pad_rows_f32(x: &[f32], g: &Geometry, t: Task, rows_in: usize, buf: &mut [f32]) {
    let (ph, pw) = g.pad;
    let wp = g.w + 2 * pw;
    let (plane, image) = (g.h * g.w, g.c_in * g.h * g.w);
    // Input rows y of the task's padded rows r0 - ph .. r0 + rows_in - ph inside the image.
    let y0 = t.r0.saturating_sub(ph).min(g.h);
    let y1 = (t.r0 + rows_in).saturating_sub(ph).min(g.h);
    if y0 == y1 {
        return;
    }
    // The task's images lie end to end, so their planes are `plane` apart: one copy of all.
    let src = &x[t.img * image + y0 * g.w..];
    let dst = &mut buf[(y0 + ph - t.r0) * wp + pw..];
    let shape = (t.count * g.c_in, y1 - y0, g.w);
    // SAFETY: this module's kernels run only where the CPU has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        avx512::copy_rows(src, dst, shape, (plane, g.w), (rows_in * wp, wp))
    };
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (src, dst, shape, plane, rows_in);
        unreachable!("no direct kernel on this architecture")
    }
}

/// The geometry the kernels of element E index: input channels in groups of E::CHANNELS
/// (the last one completed with zeros), one tap element per group and kernel position.
fn groups<E: Packed>(g: &Geometry) -> Geometry {
    Geometry {
        c_in: g.c_in.div_ceil(E::CHANNELS),
        ..*g
    }
}

/// The offset of each tap (ci, ky, kx), in the weight's order, inside the padded rows.
pub(super) fn tap_offsets(g: &Geometry, rows_in: usize, offsets: &mut Vec<usize>) {
    let wp = g.w + 2 * g.pad.1;
    offsets.clear();
    for ci in 0..g.c_in {
        for ky in 0..g.kh {
            offsets.extend((0..g.kw).map(|kx| (ci * rows_in + ky) * wp + kx));
        }
    }
}

/// Pseudo-random values in [-1, 1) for the kernels' tests, a different sequence per seed.
#[cfg(test)]
pub(in crate::conv) fn test_values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let bits = (i as u32).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503);
            (bits >> 8) as f32 / (1 << 23) as f32 - 1.0
        })
        .collect()
}

/// The forward convolution by naive loops in f64, for the kernels' tests: out[img][co][oy][ox].
#[cfg(test)]
pub(super) fn naive_forward(
    x: &[f32],
    n: usize,
    g: &Geometry,
    w: &[f32],
    bias: &[f32],
) -> Vec<f64> {
    let mut out = Vec::new();
    for img in 0..n {
        for (co, &b) in bias.iter().enumerate() {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    let mut s = b as f64;
                    for ci in 0..g.c_in {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let (y, xx) = (
                                    (oy + ky).wrapping_sub(g.pad.0),
                                    (ox + kx).wrapping_sub(g.pad.1),
                                );
                                if y < g.h && xx < g.w {
                                    let wi = ((co * g.c_in + ci) * g.kh + ky) * g.kw + kx;
                                    s += w[wi] as f64
                                        * x[((img * g.c_in + ci) * g.h + y) * g.w + xx] as f64;
                                }
                            }
                        }
                    }
                    out.push(s);
                }
            }
        }
    }
    out
}

/// The filter gradient dW (c_out, K) by naive loops in f64, for the kernels' tests.
#[cfg(test)]
pub(in crate::conv) fn naive_filter_grad(
    x: &[f32],
    dy: &[f32],
    n: usize,
    g: &Geometry,
) -> Vec<f64> {
    let mut dw = vec![0.0; g.c_out * g.k()];
    for img in 0..n {
        for co in 0..g.c_out {
            for (k, d) in dw[co * g.k()..][..g.k()].iter_mut().enumerate() {
                let (ci, ky, kx) = (k / (g.kh * g.kw), k / g.kw % g.kh, k % g.kw);
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        let (y, xx) = (
                            (oy + ky).wrapping_sub(g.pad.0),
                            (ox + kx).wrapping_sub(g.pad.1),
                        );
                        if y < g.h && xx < g.w {
                            let xv = x[((img * g.c_in + ci) * g.h + y) * g.w + xx] as f64;
                            *d += xv
                                * dy[((img * g.c_out + co) * g.out_h + oy) * g.out_w + ox] as f64;
                        }
                    }
                }
            }
        }
    }
    dw
}

/// Runs `check` on the global pool, then on a pool of one thread, where one thread's padded
/// rows ([`PaddedRows`]) serve every task: tasks of the same rows and images reuse their
/// zeros, others (rows cut differently, a last smaller block) clear them.
#[cfg(test)]
fn on_all_and_one_thread(check: impl Fn() + Send + Sync) {
    check();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
    pool.expect("a one-thread pool").install(check);
}

/// Runs `convolve` (x, n, geometry, weight, bias, NaN-filled output) on each case (n, c_in, h,
/// w, c_out, k, pad) and compares every output element with [`naive_forward`] of the inputs
/// and weights as `round` rounds them (the kernel's operands); `serves` must accept each
/// case, so that the path under test is the one taken.
#[cfg(test)]
pub(super) fn check_forward_cases(
    cases: &[(usize, usize, usize, usize, usize, usize, usize)],
    round: fn(f32) -> f32,
    serves: impl Fn(&Geometry, usize) -> bool,
    convolve: impl Fn(&[f32], usize, &Geometry, &[f32], &[f32], Shared<f32>),
) {
    for (i, &(n, c_in, h, w, c_out, k, p)) in cases.iter().enumerate() {
        let g = Geometry::new([n, c_in, h, w], [c_out, c_in, k, k], (p, p));
        assert!(serves(&g, n), "case {i} must take the path under test");
        let x = test_values(n * c_in * h * w, 1 + i as u32);
        let wt = test_values(c_out * g.k(), 7 + i as u32);
        let bias = test_values(c_out, 3);
        // NaN first: an element the kernels leave unwritten fails the comparison.
        let mut out = vec![f32::NAN; n * c_out * g.out_h * g.out_w];
        convolve(&x, n, &g, &wt, &bias, Shared(out.as_mut_ptr()));
        let rounded = |v: &[f32]| v.iter().map(|&v| round(v)).collect::<Vec<_>>();
        let want = naive_forward(&rounded(&x), n, &g, &rounded(&wt), &bias);
        for (j, (&got, &want)) in out.iter().zip(&want).enumerate() {
            assert!(
                (got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                "case {i} element {j}: {got} vs {want}"
            );
        }
    }
}
