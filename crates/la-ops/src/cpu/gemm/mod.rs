//! The single-threaded matrix product of the CPU kernels (the convolutions' row-major blocks,
//! the strided operands of the matrix product), checked: in f32 on CPUs with AVX-512 by our own
//! kernel where it is faster (transposed right operands, at most 512 rows), else by the `gemm`
//! crate.

use crate::cpu::Float;
#[cfg(target_arch = "x86_64")]
use crate::cpu::is_f32;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// A matrix inside a slice: `rows x cols` elements, element (r, c) at `offset + r*rs + c*cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Mat {
    /// A dense row-major matrix at the start of its slice.
    pub fn dense(rows: usize, cols: usize) -> Self {
        Self::at(0, rows, cols, cols)
    }

    /// A row-major matrix with row stride `rs`, starting at `offset`.
    pub fn at(offset: usize, rows: usize, cols: usize, rs: usize) -> Self {
        Mat {
            offset,
            rows,
            cols,
            rs,
            cs: 1,
        }
    }

    /// Rows `r0..r1` of the matrix.
    pub fn rows(self, r0: usize, r1: usize) -> Self {
        Mat {
            offset: self.offset + r0 * self.rs,
            rows: r1 - r0,
            ..self
        }
    }

    /// Columns `c0..c1` of the matrix.
    pub fn cols(self, c0: usize, c1: usize) -> Self {
        Mat {
            offset: self.offset + c0 * self.cs,
            cols: c1 - c0,
            ..self
        }
    }

    /// The same elements seen as the transposed matrix.
    pub fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// One past the largest offset the matrix touches.
    fn end(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return self.offset;
        }
        self.offset + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
    }
}

/// Which kernel computes a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// The `gemm` crate, threading the product itself when `parallel`.
    Gemm { parallel: bool },
    /// la-ops' AVX-512 f32 kernel, on the calling thread.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Own,
}

impl Kernel {
    /// The faster kernel for a product into `dst` with right operand `rhs`, on the calling
    /// thread unless `parallel`: our own for f32 on a CPU with AVX-512F, a row-major output and
    /// the shapes it serves faster, else `gemm`. A product cut into blocks for threads chooses
    /// once, for the whole, so that its values do not depend on the number of threads.
    pub fn choose<T: Float>(dst: Mat, rhs: Mat, parallel: bool) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if !parallel
            && is_f32::<T>()
            && dst.cs == 1
            && avx512::serves((dst.rows, rhs.rows, dst.cols), rhs.rs, rhs.cs)
            && is_x86_feature_detected!("avx512f")
        {
            return Kernel::Own;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (dst, rhs);
        Kernel::Gemm { parallel }
    }
}

/// `dst = lhs @ rhs`, or `dst += lhs @ rhs` when `accumulate`, by `kernel` (the callers
/// parallelise over images, tiles and blocks; see [`Kernel::choose`]).
///
/// # Safety
/// `dst` must point to a buffer of at least `dst_mat.end()` elements that no other thread
/// reads or writes inside `dst_mat` during the call.
pub(crate) unsafe fn matmul<T: Float>(
    dst: *mut T,
    dst_mat: Mat,
    lhs: (&[T], Mat),
    rhs: (&[T], Mat),
    accumulate: bool,
    kernel: Kernel,
) {
    let (l, lm) = lhs;
    let (r, rm) = rhs;
    assert!(
        lm.end() <= l.len() && rm.end() <= r.len(),
        "matmul operand out of bounds"
    );
    assert!(lm.rows == dst_mat.rows && rm.cols == dst_mat.cols && lm.cols == rm.rows);
    if lm.rows == 0 || rm.cols == 0 {
        return;
    }
    let parallel = match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Own if lm.cols > 0 => {
            assert!(
                is_f32::<T>() && dst_mat.cs == 1 && is_x86_feature_detected!("avx512f"),
                "the own matmul kernel is for f32 row-major outputs on AVX-512F"
            );
            let cast = |s: &[T], m: Mat| avx512::Strided {
                ptr: s.as_ptr().wrapping_add(m.offset).cast::<f32>(),
                rs: m.rs,
                cs: m.cs,
            };
            // SAFETY: T is f32 and the CPU has AVX-512F (asserted); the operands are
            // bounds-checked above, and the caller guarantees `dst`.
            unsafe {
                avx512::product(
                    (lm.rows, lm.cols, rm.cols),
                    cast(l, lm),
                    cast(r, rm),
                    dst.add(dst_mat.offset).cast::<f32>(),
                    dst_mat.rs,
                    accumulate,
                )
            };
            return;
        }
        Kernel::Gemm { parallel } => parallel,
        _ => false,
    };
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: operands are bounds-checked above; the caller guarantees `dst`.
    unsafe {
        gemm::gemm(
            dst_mat.rows,
            dst_mat.cols,
            lm.cols,
            dst.add(dst_mat.offset),
            dst_mat.cs as isize,
            dst_mat.rs as isize,
            accumulate,
            l.as_ptr().add(lm.offset),
            lm.cs as isize,
            lm.rs as isize,
            r.as_ptr().add(rm.offset),
            rm.cs as isize,
            rm.rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_kernel_takes_the_transposed_f32_operands_it_is_faster_on() {
        #[cfg(target_arch = "x86_64")]
        let own = is_x86_feature_detected!("avx512f");
        #[cfg(not(target_arch = "x86_64"))]
        let own = false;
        let transposed = Mat::dense(40, 300).t(); // 300 x 40, columns contiguous
        let row_major = Mat::dense(300, 40);
        let want = |ours: bool| {
            if ours && own {
                Kernel::Own
            } else {
                Kernel::Gemm { parallel: false }
            }
        };
        let dst = |rows| Mat::dense(rows, 40);
        assert_eq!(
            Kernel::choose::<f32>(dst(512), transposed, false),
            want(true)
        );
        assert_eq!(
            Kernel::choose::<f32>(dst(513), transposed, false),
            want(false)
        );
        // Several steps of k over an output too large for L2, with `a` too large too: `gemm`.
        let (long, wide) = (Mat::dense(16_384, 784).t(), |rows| Mat::dense(rows, 16_384));
        assert_eq!(Kernel::choose::<f32>(wide(128), long, false), want(true));
        assert_eq!(Kernel::choose::<f32>(wide(256), long, false), want(false));
        let short = Mat::dense(16_384, 256).t();
        assert_eq!(Kernel::choose::<f32>(wide(256), short, false), want(true));
        assert_eq!(
            Kernel::choose::<f32>(dst(64), row_major, false),
            want(false)
        );
        assert_eq!(
            Kernel::choose::<f64>(dst(64), transposed, false),
            want(false)
        );
        // A strided output, or a product `gemm` threads itself, stays with `gemm`.
        assert_eq!(
            Kernel::choose::<f32>(dst(64).t(), transposed, false),
            want(false)
        );
        assert_eq!(
            Kernel::choose::<f32>(dst(64), transposed, true),
            Kernel::Gemm { parallel: true }
        );
    }
}
