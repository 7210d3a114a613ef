//! The single-threaded matrix product of the CPU kernels (the convolutions' row-major blocks,
//! the strided operands of the matrix product), checked: in f32 on CPUs with AVX-512 by our own
//! kernels where they are faster (products of 32-128 rows; transposed right operands of at most
//! 512 rows), else by the `gemm` crate.

use crate::cpu::Float;
#[cfg(target_arch = "x86_64")]
use crate::cpu::is_f32;

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
pub(crate) mod few_rows;

/// A strided f32 matrix: element (r, c) at `ptr + r * rs + c * cs`.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Strided {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}

/// The extent of one call of an own kernel's micro-kernel: rows and columns of the output tile,
/// steps of the inner dimension.
#[cfg(target_arch = "x86_64")]
struct Tile {
    rows: usize,
    cols: usize,
    kc: usize,
}

#[cfg(target_arch = "x86_64")]
impl Strided {
    /// The same matrix from element (r, c) on.
    pub(crate) fn at(self, r: usize, c: usize) -> Self {
        Strided {
            ptr: self.ptr.wrapping_add(r * self.rs + c * self.cs),
            ..self
        }
    }
}

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
    /// la-ops' AVX-512 f32 kernel that packs the right operand, on the calling thread.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    PackedRight,
    /// la-ops' AVX-512 f32 kernel that packs the left operand, on the calling thread.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    PackedLeft,
}

impl Kernel {
    /// The faster kernel for a product into `dst` with right operand `rhs`, on the calling
    /// thread unless `parallel`: one of our own for f32 on a CPU with AVX-512F, a row-major
    /// output and the shapes it serves faster, else `gemm`. A product cut into blocks for
    /// threads chooses once, for the whole, so that its values do not depend on the number of
    /// threads.
    pub fn choose<T: Float>(dst: Mat, rhs: Mat, parallel: bool) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if !parallel && is_f32::<T>() && dst.cs == 1 && is_x86_feature_detected!("avx512f") {
            if few_rows::serves((dst.rows, rhs.rows, dst.cols)) {
                return Kernel::PackedLeft;
            }
            if avx512::serves((dst.rows, rhs.rows, dst.cols), rhs.rs, rhs.cs) {
                return Kernel::PackedRight;
            }
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
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::PackedRight | Kernel::PackedLeft if lm.cols > 0 => {
            let product: OwnProduct = if kernel == Kernel::PackedLeft {
                few_rows::product
            } else {
                avx512::product
            };
            // SAFETY: as this function's.
            unsafe { own(product, dst, dst_mat, lhs, rhs, accumulate) }
        }
        // SAFETY: as this function's.
        Kernel::Gemm { parallel } => unsafe {
            gemm_crate(dst, dst_mat, lhs, rhs, accumulate, parallel)
        },
        // SAFETY: as this function's.
        _ => unsafe { gemm_crate(dst, dst_mat, lhs, rhs, accumulate, false) },
    }
}

/// The signature of la-ops' own kernels: `c (+)= a @ b` for (m, k, n), `c` row-major with the
/// given row stride.
#[cfg(target_arch = "x86_64")]
type OwnProduct = unsafe fn((usize, usize, usize), Strided, Strided, *mut f32, usize, bool);

/// [`matmul`] by one of la-ops' own kernels.
///
/// # Safety
/// As [`matmul`]'s; the operands are bounds-checked and k is at least 1.
#[cfg(target_arch = "x86_64")]
unsafe fn own<T: Float>(
    product: OwnProduct,
    dst: *mut T,
    dst_mat: Mat,
    (l, lm): (&[T], Mat),
    (r, rm): (&[T], Mat),
    accumulate: bool,
) {
    assert!(
        is_f32::<T>() && dst_mat.cs == 1 && is_x86_feature_detected!("avx512f"),
        "la-ops' own matmul kernels are for f32 row-major outputs on AVX-512F"
    );
    let cast = |s: &[T], m: Mat| Strided {
        ptr: s.as_ptr().wrapping_add(m.offset).cast::<f32>(),
        rs: m.rs,
        cs: m.cs,
    };
    // SAFETY: T is f32 and the CPU has AVX-512F (asserted); the operands are bounds-checked,
    // and the caller guarantees `dst`.
    unsafe {
        product(
            (lm.rows, lm.cols, rm.cols),
            cast(l, lm),
            cast(r, rm),
            dst.add(dst_mat.offset).cast::<f32>(),
            dst_mat.rs,
            accumulate,
        )
    };
}

/// [`matmul`] by the `gemm` crate.
///
/// # Safety
/// As [`matmul`]'s; the operands are bounds-checked.
unsafe fn gemm_crate<T: Float>(
    dst: *mut T,
    dst_mat: Mat,
    (l, lm): (&[T], Mat),
    (r, rm): (&[T], Mat),
    accumulate: bool,
    parallel: bool,
) {
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

/// The naive-loop reference the kernels' tests compare with.
#[cfg(all(test, target_arch = "x86_64"))]
mod naive {
    use super::{OwnProduct, Strided};

    /// A matrix of `rows` x `cols` distinct values inside a buffer with room around it, laid
    /// out row-major (row stride `cols + 3`) or column-major (column stride `rows + 5`).
    fn matrix(rows: usize, cols: usize, column_major: bool, seed: u64) -> (Vec<f32>, usize, usize) {
        let (rs, cs) = if column_major {
            (1, rows + 5)
        } else {
            (cols + 3, 1)
        };
        let len = 7 + rows.max(1) * rs.max(cs) + cols * cs + 16;
        let data = (0..len)
            .map(|i| (((i as u64 * 2_654_435_761 + seed * 97) % 2001) as f32 - 1000.0) / 1000.0)
            .collect();
        (data, rs, cs)
    }

    /// Checks `product` on an (m, k, n) product against f64 sums of naive loops, `a` and `b`
    /// column-major or not as `column_major` says, into an output with padding around its
    /// rows that must stay untouched.
    pub(super) fn check_product(
        product: OwnProduct,
        (m, k, n): (usize, usize, usize),
        column_major: (bool, bool),
        accumulate: bool,
    ) {
        let (a, ars, acs) = matrix(m, k, column_major.0, 1);
        let (b, brs, bcs) = matrix(k, n, column_major.1, 2);
        let (a_off, b_off, c_off, ldc) = (7, 7, 3, n + 2);
        let fill = -3.0f32;
        let mut c = vec![fill; c_off + m * ldc];
        let before = c.clone();
        let strided = |v: &[f32], off, rs, cs| Strided {
            ptr: v[off..].as_ptr(),
            rs,
            cs,
        };
        // SAFETY: the callers check for AVX-512F; every operand lies inside its buffer.
        unsafe {
            product(
                (m, k, n),
                strided(&a, a_off, ars, acs),
                strided(&b, b_off, brs, bcs),
                c[c_off..].as_mut_ptr(),
                ldc,
                accumulate,
            )
        };
        let case = format!("{m}x{k}x{n} {column_major:?} accumulate {accumulate}");
        for (idx, (&got, &was)) in c.iter().zip(&before).enumerate() {
            let (i, j) = (idx.wrapping_sub(c_off) / ldc, idx.wrapping_sub(c_off) % ldc);
            if idx < c_off || j >= n {
                assert_eq!(got, was, "{case}: padding at {idx} written");
                continue;
            }
            let sum: f64 = (0..k)
                .map(|p| {
                    f64::from(a[a_off + i * ars + p * acs])
                        * f64::from(b[b_off + p * brs + j * bcs])
                })
                .sum();
            let want = sum + if accumulate { f64::from(fill) } else { 0.0 };
            let tol = 1e-5 * (1.0 + (k as f64).sqrt());
            assert!(
                (f64::from(got) - want).abs() <= tol,
                "{case}: ({i}, {j}) {got} vs {want}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_kernels_take_the_f32_products_they_are_faster_on() {
        #[cfg(target_arch = "x86_64")]
        let own = is_x86_feature_detected!("avx512f");
        #[cfg(not(target_arch = "x86_64"))]
        let own = false;
        let transposed = Mat::dense(48, 300).t(); // 300 x 48, columns contiguous
        let row_major = Mat::dense(300, 48);
        let want = |kernel| {
            if own {
                kernel
            } else {
                Kernel::Gemm { parallel: false }
            }
        };
        let dst = |rows| Mat::dense(rows, 48);
        // 32-128 rows in whole panels of 32 (at least 64 steps and 48 columns): the left
        // operand packed, either right operand.
        for rows in [32, 64, 96, 128] {
            for rhs in [transposed, row_major] {
                let got = Kernel::choose::<f32>(dst(rows), rhs, false);
                assert_eq!(got, want(Kernel::PackedLeft), "{rows} rows");
            }
        }
        // Other row counts up to 512 with a transposed right operand, or too few steps: the
        // right one packed.
        for rows in [16, 48, 160, 512] {
            let got = Kernel::choose::<f32>(dst(rows), transposed, false);
            assert_eq!(got, want(Kernel::PackedRight), "{rows} rows");
        }
        let first_layer = Mat::dense(4096, 27).t();
        assert_eq!(
            Kernel::choose::<f32>(Mat::dense(64, 4096), first_layer, false),
            want(Kernel::PackedRight)
        );
        assert_eq!(
            Kernel::choose::<f32>(dst(513), transposed, false),
            Kernel::Gemm { parallel: false }
        );
        // Several steps of k over an output too large for L2, with `a` too large too: `gemm`.
        let (long, wide) = (Mat::dense(16_384, 784).t(), |rows| Mat::dense(rows, 16_384));
        assert_eq!(
            Kernel::choose::<f32>(wide(160), long, false),
            want(Kernel::PackedRight)
        );
        assert_eq!(
            Kernel::choose::<f32>(wide(256), long, false),
            Kernel::Gemm { parallel: false }
        );
        let short = Mat::dense(16_384, 256).t();
        assert_eq!(
            Kernel::choose::<f32>(wide(256), short, false),
            want(Kernel::PackedRight)
        );
        // Row-major right operands outside 32-128 rows, f64, a strided output, or a product
        // `gemm` threads itself: `gemm`.
        let gemm = Kernel::Gemm { parallel: false };
        assert_eq!(Kernel::choose::<f32>(dst(48), row_major, false), gemm);
        assert_eq!(Kernel::choose::<f64>(dst(64), transposed, false), gemm);
        assert_eq!(Kernel::choose::<f32>(dst(64).t(), transposed, false), gemm);
        assert_eq!(
            Kernel::choose::<f32>(dst(64), transposed, true),
            Kernel::Gemm { parallel: true }
        );
    }
}
