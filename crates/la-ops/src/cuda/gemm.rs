//! Strided batched GEMM through cuBLAS on candle's handle and stream, for row-major matrices.
//!
//! f32 products follow candle's global switch
//! `candle_core::cuda_backend::set_gemm_reduced_precision_f32`: off (the default), they are
//! exact f32; on, cuBLAS may use TF32 tensor cores (as PyTorch does for convolutions by default).

use candle_core::cuda_backend::cudarc::cublas::{result, sys};
use candle_core::cuda_backend::cudarc::driver::{CudaView, CudaViewMut, DevicePtr, DevicePtrMut};
use candle_core::cuda_backend::{CudaDevice, WrapErr, gemm_reduced_precision_f32};
use candle_core::{DType, Result};

use super::GpuFloat;

/// `C_b = A_b @ B_b (+ C_b when accumulating)` for `batch` row-major products of
/// (m x k) @ (k x n); each operand is `rows x cols` with leading dimension `ld` (elements
/// between rows, or between columns when `trans`), batch stride `stride` (0 to share one
/// matrix) and offset inside its view.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    /// A is stored transposed: (k x m) row-major.
    pub a_trans: bool,
    pub lda: usize,
    pub stride_a: usize,
    /// B is stored transposed: (n x k) row-major.
    pub b_trans: bool,
    pub ldb: usize,
    pub stride_b: usize,
    pub ldc: usize,
    pub stride_c: usize,
    pub accumulate: bool,
}

/// Runs `g` on the device of the views.
pub(crate) fn gemm<T: GpuFloat>(
    dev: &CudaDevice,
    g: &Gemm,
    a: &CudaView<'_, T>,
    b: &CudaView<'_, T>,
    c: &mut CudaViewMut<'_, T>,
) -> Result<()> {
    if g.m == 0 || g.n == 0 || g.batch == 0 {
        return Ok(());
    }
    let (data_type, compute) = match T::DTYPE {
        DType::F64 => (
            sys::cudaDataType_t::CUDA_R_64F,
            sys::cublasComputeType_t::CUBLAS_COMPUTE_64F,
        ),
        _ if gemm_reduced_precision_f32() => (
            sys::cudaDataType_t::CUDA_R_32F,
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
        ),
        _ => (
            sys::cudaDataType_t::CUDA_R_32F,
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
        ),
    };
    let one = T::from_f64(1.0);
    let beta = T::from_f64(if g.accumulate { 1.0 } else { 0.0 });
    let op = |t: bool| {
        if t {
            sys::cublasOperation_t::CUBLAS_OP_T
        } else {
            sys::cublasOperation_t::CUBLAS_OP_N
        }
    };
    let int = |v: usize| -> Result<i32> {
        i32::try_from(v).map_err(|_| candle_core::Error::Msg(format!("gemm size {v} exceeds i32")))
    };
    let stream = dev.cuda_stream();
    let blas = dev.cublas_handle();
    let (pa, _ga) = a.device_ptr(&stream);
    let (pb, _gb) = b.device_ptr(&stream);
    let (pc, _gc) = c.device_ptr_mut(&stream);
    // Row-major C = A B is column-major C^T = B^T A^T: cuBLAS computes (n x m) = (n x k)(k x m)
    // with B as its first operand.
    // SAFETY: the callers size the views for the strides and counts in `g`; the pointers stay
    // valid while the guards live, and the handle is bound to candle's stream.
    unsafe {
        result::gemm_strided_batched_ex(
            *blas.handle(),
            op(g.b_trans),
            op(g.a_trans),
            int(g.n)?,
            int(g.m)?,
            int(g.k)?,
            (&one) as *const T as *const _,
            pb as *const _,
            data_type,
            int(g.ldb)?,
            g.stride_b as i64,
            pa as *const _,
            data_type,
            int(g.lda)?,
            g.stride_a as i64,
            (&beta) as *const T as *const _,
            pc as *mut _,
            data_type,
            int(g.ldc)?,
            g.stride_c as i64,
            int(g.batch)?,
            compute,
            sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
    }
    .w()?;
    Ok(())
}
