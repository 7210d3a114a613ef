//! CPU kernels of the stride-1 convolution: forward and filter gradient by im2col + GEMM.
//!
//! Work is split into tasks run in parallel: tiles of output rows of one image when images
//! are large, or groups of whole images when they are small, so that every GEMM has enough
//! columns to run near the machine's peak.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::im2col::im2col;
use super::task::Task;
use super::{Geometry, WeightForm};
use crate::cpu::Shared;
use crate::cpu::gemm::{Kernel, Mat, matmul};
use crate::cpu::{Float, LANES, lane_dot, par_filled};

/// Bytes of column matrix per task: big enough for an efficient GEMM, small enough to stay
/// in the outer caches.
const TILE_BYTES: usize = 4 << 20;

/// Fewest GEMM columns (output positions) worth a task of their own; smaller images are
/// grouped.
const MIN_COLUMNS: usize = 256;

/// The tasks of a convolution over `n` images: groups of whole images when planes are small,
/// else tiles of output rows whose column matrix is about TILE_BYTES.
fn tasks(g: &Geometry, n: usize, elem: usize) -> Vec<Task> {
    let plane = g.out_h * g.out_w;
    if plane > 0 && plane < MIN_COLUMNS && n > 1 {
        return Task::split(g, n, MIN_COLUMNS.div_ceil(plane) * g.out_h);
    }
    let rows = TILE_BYTES / (g.k() * g.out_w * elem).max(1);
    Task::split(g, n, rows.min(g.out_h))
}

/// [`super::winograd::forward`] where it exists (x86-64), else false.
///
/// # Safety
/// As [`super::winograd::forward`].
unsafe fn winograd_forward<T: Float>(
    x: &[T],
    n: usize,
    g: &Geometry,
    weight: (&[T], WeightForm),
    bias: Option<&[T]>,
    out: *mut T,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract.
    return unsafe { super::winograd::forward(x, n, g, weight, bias, out) };
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, n, g, weight, bias, out);
        false
    }
}

/// [`super::winograd::filter_grad`] where it exists (x86-64), else None.
fn winograd_filter_grad<T: Float>(x: &[T], grad: &[T], n: usize, g: &Geometry) -> Option<Vec<T>> {
    #[cfg(target_arch = "x86_64")]
    return super::winograd::filter_grad(x, grad, n, g);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, grad, n, g);
        None
    }
}

/// The input patches of a task as a K x columns matrix: the input itself for one image of a
/// 1x1 convolution without padding, else an im2col copy in `buf`.
fn patches<'a, T: Float>(x: &'a [T], g: &Geometry, t: Task, buf: &'a mut Vec<T>) -> (&'a [T], Mat) {
    let image = g.c_in * g.h * g.w;
    let cols = t.columns(g);
    if g.is_pointwise() && t.count == 1 {
        return (
            x,
            Mat::at(t.img * image + t.r0 * g.out_w, g.c_in, cols, g.h * g.w),
        );
    }
    buf.resize(g.k() * cols, T::zero());
    let per = t.columns_per_image(g);
    for j in 0..t.count {
        let img = &x[(t.img + j) * image..(t.img + j + 1) * image];
        im2col(img, g, (t.r0, t.r1), buf, cols, j * per);
    }
    (buf, Mat::dense(g.k(), cols))
}

/// Whether the GEMMs themselves must be parallel because there are too few tasks.
fn gemm_parallel(tasks: usize) -> bool {
    tasks < 2 * rayon::current_num_threads()
}

/// y = conv(x, weight) + bias for `n` images; `weight` holds the weight in `form`: (c_out, K)
/// row-major, or the (c_in, c_out, kh, kw) weight it is the rotated transpose of.
pub(crate) fn forward<T: Float>(
    x: &[T],
    n: usize,
    g: &Geometry,
    (weight, form): (&[T], WeightForm),
    bias: Option<&[T]>,
) -> Vec<T> {
    let len = n * g.c_out * g.out_h * g.out_w;
    // Not zeroed for the direct kernels, which write every element (zeroing 16 MB took 5% of
    // a 64-channel layer at 64 x 64).
    let mut out = Vec::with_capacity(len);
    // SAFETY: `out` has room for `len` elements and is this function's own.
    if unsafe { winograd_forward(x, n, g, (weight, form), bias, out.as_mut_ptr()) } {
        // SAFETY: the Winograd kernel wrote all `len` elements.
        unsafe { out.set_len(len) };
        return out;
    }
    // The other kernels read the applied weight as a matrix.
    match form {
        WeightForm::Direct => forward_applied(x, n, g, weight, bias, out),
        WeightForm::Adjoint => {
            let rotated = flip_transpose(weight, [g.c_in, g.c_out, g.kh, g.kw]);
            forward_applied(x, n, g, &rotated, bias, out)
        }
    }
}

/// [`forward`] by the direct kernels or im2col + GEMM, into `out` (empty, with room for the
/// output); `weight` is (c_out, K) row-major.
fn forward_applied<T: Float>(
    x: &[T],
    n: usize,
    g: &Geometry,
    weight: &[T],
    bias: Option<&[T]>,
    mut out: Vec<T>,
) -> Vec<T> {
    let out_plane = g.out_h * g.out_w;
    let len = n * g.c_out * out_plane;
    // SAFETY: `out` has room for `len` elements and is this function's own.
    if unsafe { super::direct::forward(x, n, g, weight, bias, out.as_mut_ptr()) } {
        // SAFETY: the direct kernel wrote all `len` elements.
        unsafe { out.set_len(len) };
        return out;
    }
    out.resize(len, T::zero());
    let tasks = tasks(g, n, size_of::<T>());
    let parallel = gemm_parallel(tasks.len());
    let dst = Shared(out.as_mut_ptr());
    tasks.par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(buf, tmp), &t| {
            let (cols, cols_mat) = patches(x, g, t, buf);
            let w = (weight, Mat::dense(g.c_out, g.k()));
            if t.count == 1 {
                let offset = t.img * g.c_out * out_plane + t.r0 * g.out_w;
                let tile = Mat::at(offset, g.c_out, cols_mat.cols, out_plane);
                for co in 0..g.c_out {
                    let b = bias.map_or(T::zero(), |b| b[co]);
                    // SAFETY: this task alone owns rows r0..r1 of image img in every channel.
                    unsafe {
                        std::slice::from_raw_parts_mut(
                            dst.ptr().add(offset + co * out_plane),
                            cols_mat.cols,
                        )
                    }
                    .fill(b);
                }
                let kernel = Kernel::choose::<T>(tile, cols_mat, parallel);
                // SAFETY: as above; `tile` lies inside `out`.
                unsafe { matmul(dst.ptr(), tile, w, (cols, cols_mat), true, kernel) };
                return;
            }
            // Several whole images: one GEMM into `tmp`, then each image's block into place.
            tmp.resize(g.c_out * cols_mat.cols, T::zero());
            let block = Mat::dense(g.c_out, cols_mat.cols);
            let kernel = Kernel::choose::<T>(block, cols_mat, parallel);
            // SAFETY: `tmp` is this task's own buffer of exactly this size.
            unsafe { matmul(tmp.as_mut_ptr(), block, w, (cols, cols_mat), false, kernel) };
            for j in 0..t.count {
                for co in 0..g.c_out {
                    let b = bias.map_or(T::zero(), |b| b[co]);
                    let src = &tmp[co * cols_mat.cols + j * out_plane..][..out_plane];
                    let at = (t.img + j) * g.c_out * out_plane + co * out_plane;
                    // SAFETY: this task alone owns images img..img + count.
                    let d = unsafe { std::slice::from_raw_parts_mut(dst.ptr().add(at), out_plane) };
                    d.iter_mut().zip(src).for_each(|(d, &s)| *d = s + b);
                }
            }
        },
    );
    out
}

/// The output gradient of a task as a c_out x columns matrix: a view into `grad` for one
/// image, else the images' blocks gathered side by side into `buf`.
fn grad_block<'a, T: Float>(
    grad: &'a [T],
    g: &Geometry,
    t: Task,
    buf: &'a mut Vec<T>,
) -> (&'a [T], Mat) {
    let out_plane = g.out_h * g.out_w;
    let cols = t.columns(g);
    if t.count == 1 {
        return (
            grad,
            Mat::at(
                t.img * g.c_out * out_plane + t.r0 * g.out_w,
                g.c_out,
                cols,
                out_plane,
            ),
        );
    }
    buf.resize(g.c_out * cols, T::zero());
    for co in 0..g.c_out {
        for j in 0..t.count {
            let src = &grad[(t.img + j) * g.c_out * out_plane + co * out_plane..][..out_plane];
            buf[co * cols + j * out_plane..][..out_plane].copy_from_slice(src);
        }
    }
    (buf, Mat::dense(g.c_out, cols))
}

/// Largest number of output channels whose filter gradient is summed as dot products of whole
/// planes: below it the im2col copy (K x P) costs far more memory traffic than the arithmetic.
const PLANE_DOTS_MAX_C_OUT: usize = 4;

/// dW = sum over images of grad (c_out x P) @ patches(x)^T (P x K), as (c_out, K): as plane
/// dot products for a few output channels, by Winograd's transforms or the direct kernels
/// where they serve, else by im2col + GEMM.
pub(crate) fn filter_grad<T: Float>(x: &[T], grad: &[T], n: usize, g: &Geometry) -> Vec<T> {
    if g.c_out <= PLANE_DOTS_MAX_C_OUT {
        return filter_grad_plane_dots(x, grad, n, g);
    }
    let fast = winograd_filter_grad(x, grad, n, g);
    if let Some(dw) = fast.or_else(|| super::direct::filter_grad(x, grad, n, g)) {
        return dw;
    }
    let tasks = tasks(g, n, size_of::<T>());
    let threads = rayon::current_num_threads().min(tasks.len()).max(1);
    let parallel = gemm_parallel(tasks.len());
    let per_thread = tasks.len().div_ceil(threads);
    let partials: Vec<Vec<T>> = tasks
        .par_chunks(per_thread.max(1))
        .map(|chunk| {
            let mut acc = vec![T::zero(); g.c_out * g.k()];
            let (mut buf, mut gbuf) = (Vec::new(), Vec::new());
            for (i, &t) in chunk.iter().enumerate() {
                let (cols, cols_mat) = patches(x, g, t, &mut buf);
                let dy = grad_block(grad, g, t, &mut gbuf);
                let dw = Mat::dense(g.c_out, g.k());
                let kernel = Kernel::choose::<T>(dw, cols_mat.t(), parallel);
                // SAFETY: `acc` is this task's own (c_out, K) buffer.
                unsafe {
                    matmul(
                        acc.as_mut_ptr(),
                        dw,
                        dy,
                        (cols, cols_mat.t()),
                        i > 0,
                        kernel,
                    )
                };
            }
            acc
        })
        .collect();
    sum_buffers(partials)
}

/// The filter gradient straight from the planes, one task per input channel: each image's
/// plane is padded once, then every (output channel, kernel position) accumulates the dot
/// products of gradient rows with shifted input rows in lane-wise partial sums.
fn filter_grad_plane_dots<T: Float>(x: &[T], grad: &[T], n: usize, g: &Geometry) -> Vec<T> {
    let taps = g.kh * g.kw;
    let per_channel: Vec<Vec<T>> = (0..g.c_in)
        .into_par_iter()
        .map(|ci| {
            let mut lanes = vec![[T::zero(); LANES]; g.c_out * taps];
            let mut padded = Vec::new();
            for img in 0..n {
                let plane = &x[(img * g.c_in + ci) * g.h * g.w..][..g.h * g.w];
                let pw = pad_plane(plane, g, &mut padded);
                let out_plane = g.out_h * g.out_w;
                let dys: Vec<&[T]> = (0..g.c_out)
                    .map(|co| &grad[(img * g.c_out + co) * out_plane..][..out_plane])
                    .collect();
                let geometry = (pw, g.out_w, g.out_h);
                if (g.kh, g.kw) != (3, 3)
                    || !super::direct::plane_dots_3x3(&dys, &padded, geometry, &mut lanes)
                {
                    add_plane_dots(&dys, &padded, pw, g, &mut lanes);
                }
            }
            lanes
                .iter()
                .map(|l| l.iter().fold(T::zero(), |a, &v| a + v))
                .collect()
        })
        .collect();
    let mut dw = vec![T::zero(); g.c_out * g.k()];
    for (ci, values) in per_channel.iter().enumerate() {
        for co in 0..g.c_out {
            dw[(co * g.c_in + ci) * taps..][..taps].copy_from_slice(&values[co * taps..][..taps]);
        }
    }
    dw
}

/// Adds one padded input plane's filter-gradient terms against the gradient planes `dys` (one
/// per output channel) into `lanes` (c_out x taps sums of 16 lanes): for every tap, the dot
/// products of gradient rows with the shifted padded rows, lane by lane.
pub(crate) fn add_plane_dots<T: Float>(
    dys: &[&[T]],
    padded: &[T],
    pw: usize,
    g: &Geometry,
    lanes: &mut [[T; LANES]],
) {
    let taps = g.kh * g.kw;
    for (dy, acc) in dys.iter().zip(lanes.chunks_exact_mut(taps)) {
        for (oy, dy_row) in dy.chunks_exact(g.out_w).enumerate() {
            for ky in 0..g.kh {
                let row = &padded[(oy + ky) * pw..][..pw];
                for kx in 0..g.kw {
                    lane_dot(&mut acc[ky * g.kw + kx], dy_row, &row[kx..]);
                }
            }
        }
    }
}

/// Copies `plane` (h, w) into `buf` with the convolution's zero padding; returns the padded
/// row length.
fn pad_plane<T: Float>(plane: &[T], g: &Geometry, buf: &mut Vec<T>) -> usize {
    let (ph, pw) = g.pad;
    let width = g.w + 2 * pw;
    buf.clear();
    buf.resize((g.h + 2 * ph) * width, T::zero());
    for (y, src) in plane.chunks_exact(g.w).enumerate() {
        buf[(y + ph) * width + pw..][..g.w].copy_from_slice(src);
    }
    width
}

fn sum_buffers<T: Float>(mut partials: Vec<Vec<T>>) -> Vec<T> {
    let mut total = partials.pop().unwrap_or_default();
    for p in partials {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    total
}

/// Output rows (of one `b` each) [`flip_transpose`] writes per chunk: each input row `a` then
/// lends them one contiguous run (FLIP_ROWS * kh * kw values), where a row at a time read kh
/// * kw values a whole input row apart (18 KB at 512 x 512 x 3 x 3).
const FLIP_ROWS: usize = 16;

/// w (a, b, kh, kw) -> (b, a, kh, kw) rotated by 180 degrees: the weight of the adjoint
/// convolution. Each chunk of FLIP_ROWS output rows is written by one task, input row by
/// input row.
pub(crate) fn flip_transpose<T: Float>(w: &[T], dims: [usize; 4]) -> Vec<T> {
    let [a, b, kh, kw] = dims;
    let k = kh * kw;
    let fill = |chunk: usize, rows: &mut [MaybeUninit<T>]| {
        let b0 = chunk * FLIP_ROWS;
        let count = rows.len() / (a * k);
        for ai in 0..a {
            let run = &w[(ai * b + b0) * k..][..count * k];
            for (r, taps) in run.chunks_exact(k).enumerate() {
                let dst = &mut rows[(r * a + ai) * k..][..k];
                dst.iter_mut()
                    .zip(taps.iter().rev())
                    .for_each(|(d, &s)| _ = d.write(s));
            }
        }
    };
    // SAFETY: each chunk holds `count` whole output rows, every tap of which `fill` writes.
    unsafe { par_filled(w.len(), FLIP_ROWS * a * k, fill) }
}

/// Channels summed side by side: independent chains of additions keep the adder pipeline
/// full, where one channel's chain waits on each addition's latency.
const SUM_CHAINS: usize = 8;

/// Per-channel sums of an (n, c, plane) tensor: the bias gradient. Each channel is summed in
/// one fixed order (every image's plane from its first value, then the images in order), so
/// the sums do not depend on the threads, which share out the images.
pub(crate) fn channel_sum<T: Float>(grad: &[T], n: usize, c: usize, plane: usize) -> Vec<T> {
    let mut per_image = vec![T::zero(); n * c];
    per_image
        .par_chunks_mut(c.max(1))
        .enumerate()
        .for_each(|(img, sums)| {
            let planes = &grad[img * c * plane..][..c * plane];
            let of = |ch: usize| &planes[ch * plane..][..plane];
            for (group, sums) in sums.chunks_mut(SUM_CHAINS).enumerate() {
                let c0 = group * SUM_CHAINS;
                if sums.len() == SUM_CHAINS {
                    let planes: [&[T]; SUM_CHAINS] = std::array::from_fn(|ch| of(c0 + ch));
                    add_plane_sums(sums, planes, plane);
                } else {
                    for (ch, sum) in sums.iter_mut().enumerate() {
                        add_plane_sums(std::slice::from_mut(sum), [of(c0 + ch)], plane);
                    }
                }
            }
        });
    let mut out = vec![T::zero(); c];
    for sums in per_image.chunks_exact(c.max(1)) {
        out.iter_mut().zip(sums).for_each(|(o, &s)| *o += s);
    }
    out
}

/// `sums[i] += (sum of planes[i], first value first)` for G planes of `len` values at once.
fn add_plane_sums<T: Float, const G: usize>(sums: &mut [T], planes: [&[T]; G], len: usize) {
    let planes = planes.map(|p| &p[..len]);
    let mut acc = [T::zero(); G];
    for i in 0..len {
        for (a, p) in acc.iter_mut().zip(&planes) {
            *a += p[i];
        }
    }
    for (s, a) in sums.iter_mut().zip(acc) {
        *s += a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919) % 1009) as f32 * 1.37e-3 - 0.7)
            .collect()
    }

    #[test]
    fn channel_sums_are_the_one_channel_folds_bit_for_bit() {
        for &(n, c, plane) in &[
            (1, 1, 1),
            (2, 3, 5),
            (3, 8, 49),
            (2, 13, 64),
            (4, 64, 9),
            (1, 17, 0),
        ] {
            let grad = values(n * c * plane);
            let want: Vec<f32> = (0..c)
                .map(|ch| {
                    (0..n)
                        .map(|img| {
                            let s = &grad[(img * c + ch) * plane..(img * c + ch + 1) * plane];
                            s.iter().fold(0.0, |a, &v| a + v)
                        })
                        .fold(0.0, |a, v| a + v)
                })
                .collect();
            assert_eq!(channel_sum(&grad, n, c, plane), want, "{n} x {c} x {plane}");
        }
    }

    #[test]
    fn flip_transpose_follows_its_definition() {
        let (a, b, kh, kw) = (3, 5, 2, 3);
        let w = values(a * b * kh * kw);
        let out = flip_transpose(&w, [a, b, kh, kw]);
        for (ai, bi, y, x) in (0..a).flat_map(|ai| {
            (0..b)
                .flat_map(move |bi| (0..kh).flat_map(move |y| (0..kw).map(move |x| (ai, bi, y, x))))
        }) {
            let flipped = ((bi * a + ai) * kh + (kh - 1 - y)) * kw + (kw - 1 - x);
            assert_eq!(out[flipped], w[((ai * b + bi) * kh + y) * kw + x]);
        }
    }

    #[test]
    fn plane_dot_kernel_gives_the_portable_sums_bit_for_bit() {
        // (output channels, height, width, padding): one to four channels (four take two
        // groups), rows with and without a partial vector, a row narrower than one vector.
        for (i, &(c_out, h, w, pad)) in [(3, 9, 37, 1), (1, 4, 16, 1), (2, 6, 5, 0), (4, 7, 64, 2)]
            .iter()
            .enumerate()
        {
            let g = Geometry::new([1, 1, h, w], [c_out, 1, 3, 3], (pad, pad));
            let pw = w + 2 * pad;
            let padded: Vec<f32> = values((g.out_h + 2) * pw + i).split_off(i);
            let grads: Vec<Vec<f32>> = (0..c_out)
                .map(|co| values(g.out_h * g.out_w + 7 * co).split_off(7 * co))
                .collect();
            let dys: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
            // Two planes into the same sums, as two images do.
            let start: Vec<[f32; LANES]> = (0..c_out * 9)
                .map(|t| std::array::from_fn(|l| (t * LANES + l) as f32 * 0.25))
                .collect();
            let (mut kernel, mut portable) = (start.clone(), start);
            for _ in 0..2 {
                let served = super::super::direct::plane_dots_3x3(
                    &dys,
                    &padded,
                    (pw, g.out_w, g.out_h),
                    &mut kernel,
                );
                if !served {
                    return; // no AVX-512 here: nothing to compare
                }
                add_plane_dots(&dys, &padded, pw, &g, &mut portable);
            }
            assert!(kernel == portable, "case {i}");
        }
    }
}
