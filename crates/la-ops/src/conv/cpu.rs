//! CPU kernels of the stride-1 convolution: forward and filter gradient by im2col + GEMM over
//! tiles of output rows, parallel over (image, tile) pairs.

use rayon::prelude::*;

use super::Geometry;
use super::gemm::{Mat, matmul};
use super::im2col::im2col;
use crate::cpu::Float;

/// Bytes of column matrix per tile: big enough for an efficient GEMM, small enough to stay in
/// the outer caches.
const TILE_BYTES: usize = 4 << 20;

/// A raw pointer the tasks of one kernel share; each task writes a disjoint region.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The pointer; a method, so that closures capture the whole `Send` wrapper.
    fn ptr(&self) -> *mut T {
        self.0
    }
}

/// The (image, first output row, end output row) work items of a convolution over `n` images.
fn tiles(g: &Geometry, n: usize, elem: usize) -> Vec<(usize, usize, usize)> {
    let rows = (TILE_BYTES / (g.k() * g.out_w * elem).max(1)).clamp(1, g.out_h.max(1));
    (0..n)
        .flat_map(|img| {
            (0..g.out_h)
                .step_by(rows)
                .map(move |r0| (img, r0, (r0 + rows).min(g.out_h)))
        })
        .collect()
}

/// The input patches of one tile as a K x P matrix: the input itself for a 1x1 convolution
/// without padding, else an im2col copy in `buf`.
fn patches<'a, T: Float>(
    x: &'a [T],
    g: &Geometry,
    rows: (usize, usize),
    buf: &'a mut Vec<T>,
) -> (&'a [T], Mat) {
    let p = (rows.1 - rows.0) * g.out_w;
    if g.is_pointwise() {
        return (x, Mat::at(rows.0 * g.out_w, g.c_in, p, g.h * g.w));
    }
    buf.resize(g.k() * p, T::zero());
    im2col(x, g, rows, buf);
    (buf, Mat::dense(g.k(), p))
}

/// Whether the GEMMs themselves must be parallel because there are too few tiles.
fn gemm_parallel(tasks: usize) -> bool {
    tasks < 2 * rayon::current_num_threads()
}

/// y = conv(x, weight) + bias for `n` images; `weight` is (c_out, K) row-major.
pub(crate) fn forward<T: Float>(
    x: &[T],
    n: usize,
    g: &Geometry,
    weight: &[T],
    bias: Option<&[T]>,
) -> Vec<T> {
    let out_plane = g.out_h * g.out_w;
    let mut out = vec![T::zero(); n * g.c_out * out_plane];
    let tasks = tiles(g, n, size_of::<T>());
    let parallel = gemm_parallel(tasks.len());
    let dst = Shared(out.as_mut_ptr());
    tasks
        .par_iter()
        .for_each_init(Vec::new, |buf, &(img, r0, r1)| {
            let x = &x[img * g.c_in * g.h * g.w..(img + 1) * g.c_in * g.h * g.w];
            let (cols, cols_mat) = patches(x, g, (r0, r1), buf);
            let offset = img * g.c_out * out_plane + r0 * g.out_w;
            let tile = Mat::at(offset, g.c_out, cols_mat.cols, out_plane);
            if let Some(b) = bias {
                for (co, &bc) in b.iter().enumerate() {
                    let start = offset + co * out_plane;
                    // SAFETY: this task alone owns rows r0..r1 of image img in every channel.
                    unsafe { std::slice::from_raw_parts_mut(dst.ptr().add(start), cols_mat.cols) }
                        .fill(bc);
                }
            }
            // SAFETY: as above; `tile` lies inside `out`.
            unsafe {
                matmul(
                    dst.ptr(),
                    tile,
                    (weight, Mat::dense(g.c_out, g.k())),
                    (cols, cols_mat),
                    bias.is_some(),
                    parallel,
                )
            };
        });
    out
}

/// dW = sum over images of grad (c_out x P) @ patches(x)^T (P x K), as (c_out, K).
pub(crate) fn filter_grad<T: Float>(x: &[T], grad: &[T], n: usize, g: &Geometry) -> Vec<T> {
    let out_plane = g.out_h * g.out_w;
    let tasks = tiles(g, n, size_of::<T>());
    let threads = rayon::current_num_threads().min(tasks.len()).max(1);
    let parallel = gemm_parallel(tasks.len());
    let per_thread = tasks.len().div_ceil(threads);
    let partials: Vec<Vec<T>> = tasks
        .par_chunks(per_thread.max(1))
        .map(|chunk| {
            let mut acc = vec![T::zero(); g.c_out * g.k()];
            let mut buf = Vec::new();
            for (t, &(img, r0, r1)) in chunk.iter().enumerate() {
                let x = &x[img * g.c_in * g.h * g.w..(img + 1) * g.c_in * g.h * g.w];
                let (cols, cols_mat) = patches(x, g, (r0, r1), &mut buf);
                let grad_tile = Mat::at(
                    img * g.c_out * out_plane + r0 * g.out_w,
                    g.c_out,
                    cols_mat.cols,
                    out_plane,
                );
                // SAFETY: `acc` is this task's own (c_out, K) buffer.
                unsafe {
                    matmul(
                        acc.as_mut_ptr(),
                        Mat::dense(g.c_out, g.k()),
                        (grad, grad_tile),
                        (cols, cols_mat.t()),
                        t > 0,
                        parallel,
                    )
                };
            }
            acc
        })
        .collect();
    sum_buffers(partials)
}

fn sum_buffers<T: Float>(mut partials: Vec<Vec<T>>) -> Vec<T> {
    let mut total = partials.pop().unwrap_or_default();
    for p in partials {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    total
}

/// w (a, b, kh, kw) -> (b, a, kh, kw) rotated by 180 degrees: the weight of the adjoint
/// convolution.
pub(crate) fn flip_transpose<T: Float>(w: &[T], dims: [usize; 4]) -> Vec<T> {
    let [a, b, kh, kw] = dims;
    let k = kh * kw;
    let mut out = vec![T::zero(); w.len()];
    for ai in 0..a {
        for bi in 0..b {
            let src = &w[(ai * b + bi) * k..(ai * b + bi + 1) * k];
            let dst = &mut out[(bi * a + ai) * k..(bi * a + ai + 1) * k];
            dst.iter_mut()
                .zip(src.iter().rev())
                .for_each(|(d, &s)| *d = s);
        }
    }
    out
}

/// Per-channel sums of an (n, c, plane) tensor: the bias gradient.
pub(crate) fn channel_sum<T: Float>(grad: &[T], n: usize, c: usize, plane: usize) -> Vec<T> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            (0..n)
                .map(|img| {
                    let s = &grad[(img * c + ch) * plane..(img * c + ch + 1) * plane];
                    s.iter().fold(T::zero(), |a, &v| a + v)
                })
                .fold(T::zero(), |a, v| a + v)
        })
        .collect()
}
