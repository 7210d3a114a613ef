//! Plumbing shared by the CPU kernels: the float types they are generic over and access to
//! candle's CPU storage.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, Layout, Result, Storage, WithDType};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod gemm;

/// A raw pointer the tasks of one kernel share (convolution tiles, blocks of a matrix
/// product); each task writes a disjoint region.
#[derive(Clone, Copy)]
pub(crate) struct Shared<T>(pub *mut T);
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The pointer; a method, so that closures capture the whole `Send` wrapper.
    pub fn ptr(&self) -> *mut T {
        self.0
    }
}

/// The element types of the CPU kernels: f32 for training, f64 for gradient checks.
pub(crate) trait Float:
    WithDType + num_traits::Float + std::ops::AddAssign + Send + Sync + 'static
{
    /// The value as f64 (exact for both types).
    fn f64(self) -> f64 {
        WithDType::to_f64(self)
    }

    /// The nearest value to `v`.
    fn of(v: f64) -> Self {
        WithDType::from_f64(v)
    }
}

impl Float for f32 {}
impl Float for f64 {}

/// Output elements per parallel task at the least: small planes are handled several to a
/// task, so that deep layers (8 x 8 planes and less) do not pay a task per plane.
const TASK_ELEMENTS: usize = 1 << 14;

/// Planes of `plane` output elements that make one parallel task.
pub(crate) fn planes_per_task(plane: usize) -> usize {
    (TASK_ELEMENTS / plane.max(1)).max(1)
}

/// Whether T is f32, the only type the AVX-512 kernels are written for.
pub(crate) fn is_f32<T: Float>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
}

/// `s` as f32 values; panics unless T is f32 (the callers check [`is_f32`] first).
pub(crate) fn as_f32<T: Float>(s: &[T]) -> &[f32] {
    assert!(is_f32::<T>(), "the AVX-512 kernels are f32 only");
    // SAFETY: T is f32 (asserted), so this is the same slice.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) }
}

/// `s` as f32 values, writable; panics unless T is f32.
#[cfg(target_arch = "x86_64")]
pub(crate) fn as_f32_mut<T: Float>(s: &mut [T]) -> &mut [f32] {
    assert!(is_f32::<T>(), "the AVX-512 kernels are f32 only");
    // SAFETY: T is f32 (asserted), so this is the same slice.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) }
}

/// Lanes of the partial sums of [`lane_dot`] (16 f32 fill one AVX-512 register).
pub(crate) const LANES: usize = 16;

/// lanes[i % LANES] += a[i] * b[i] for i < a.len(): independent lanes, so the loop
/// vectorises without reordering a floating-point sum.
pub(crate) fn lane_dot<T: Float>(lanes: &mut [T; LANES], a: &[T], b: &[T]) {
    let b = &b[..a.len()];
    let mut chunks = a.chunks_exact(LANES).zip(b.chunks_exact(LANES));
    for (ca, cb) in &mut chunks {
        for l in 0..LANES {
            lanes[l] += ca[l] * cb[l];
        }
    }
    let tail = a.len() / LANES * LANES;
    for (l, (&va, &vb)) in a[tail..].iter().zip(&b[tail..]).enumerate() {
        lanes[l] += va * vb;
    }
}

/// The dot product of `a` and `b` (as long as `a`), summed in lanes so that it vectorises.
pub(crate) fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut lanes = [T::zero(); LANES];
    lane_dot(&mut lanes, a, b);
    lanes.iter().fold(T::zero(), |s, &v| s + v)
}

/// A vector of `len` elements written in parallel, chunk by chunk (`chunk` elements each, the
/// last one shorter), by `fill(chunk index, chunk)`, without zeroing the memory first: a
/// kernel's output that it overwrites entirely. Small chunks (planes of a deep layer) go
/// several to a parallel task ([`planes_per_task`]), at least four tasks per thread.
///
/// # Safety
/// `fill` must write every element of every chunk it is given.
pub(crate) unsafe fn par_filled<T: Send>(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync,
) -> Vec<T> {
    let chunk = chunk.max(1);
    let chunks = len.div_ceil(chunk);
    let per_thread = chunks.div_ceil(4 * rayon::current_num_threads());
    let group = planes_per_task(chunk).min(per_thread).max(1);
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk * group)
        .enumerate()
        .for_each(|(t, task)| {
            for (i, c) in task.chunks_mut(chunk).enumerate() {
                fill(t * group + i, c);
            }
        });
    // SAFETY: the first `len` elements are initialised: `fill` wrote every chunk.
    unsafe { out.set_len(len) };
    out
}

/// The elements of a contiguous tensor as a slice. The public functions make their inputs
/// contiguous before applying an op, so a strided layout here is a bug in la-ops.
pub(crate) fn slice<'a, T: WithDType>(
    op: &'static str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<&'a [T]> {
    let data = storage.as_slice::<T>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: internal error, the kernel received a strided input"),
    }
}

/// Runs `$f::<T>` for the float dtype of `$storage`, or fails naming the op.
macro_rules! dispatch_float {
    ($op:expr, $storage:expr, $($f:ident)::+ ( $($arg:expr),* )) => {
        match $storage {
            candle_core::CpuStorage::F32(_) => $($f)::+::<f32>($($arg),*),
            candle_core::CpuStorage::F64(_) => $($f)::+::<f64>($($arg),*),
            s => Err($crate::OpError::DType {
                op: $op,
                input: "input",
                got: candle_core::backend::BackendStorage::dtype(s),
                expected: "f32 or f64",
            }
            .into()),
        }
    };
}
pub(crate) use dispatch_float;

/// The elements of a contiguous tensor's CPU storage (as `Tensor::storage_and_layout` gives
/// it: the backward passes' view of their saved tensors).
pub(crate) fn storage_slice<'a, T: WithDType>(
    op: &'static str,
    storage: &'a Storage,
    layout: &Layout,
) -> Result<&'a [T]> {
    match storage {
        Storage::Cpu(s) => slice(op, s, layout),
        _ => candle_core::bail!("{op}: internal error, expected a CPU tensor"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_filled_gives_each_chunk_its_index_once() {
        // Chunks of 4 (many to a task, a short last one), of 1, and one chunk longer than len.
        for (len, chunk) in [(100_003, 4), (70_000, 16), (37, 1), (10, 64), (0, 8)] {
            // SAFETY: every element of every chunk is written.
            let got: Vec<usize> = unsafe {
                par_filled(len, chunk, |i, c| {
                    let n = c.len();
                    c.iter_mut().enumerate().for_each(|(j, v)| {
                        v.write(i * chunk + j + n * len);
                    });
                })
            };
            let want: Vec<usize> = (0..len)
                .map(|e| e + chunk.min(len - e / chunk * chunk) * len)
                .collect();
            assert_eq!(got, want, "len {len}, chunk {chunk}");
        }
    }
}
