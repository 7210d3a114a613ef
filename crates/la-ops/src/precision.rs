//! How the CPU convolutions multiply f32 values: a process-wide setting, as PyTorch's
//! `torch.set_float32_matmul_precision` and candle's `set_gemm_reduced_precision_f32`.

use std::sync::atomic::{AtomicBool, Ordering};

/// How the convolutions of f32 tensors on the CPU multiply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConvPrecision {
    /// f32 products and sums.
    #[default]
    F32,
    /// Inputs, weights and output gradients rounded to bfloat16 (8 bits of mantissa, f32's
    /// range), their products summed in f32, where the CPU has AVX512-BF16 and the direct
    /// kernels serve the layer (f32 elsewhere): about twice the products per cycle.
    Bf16,
}

static BF16: AtomicBool = AtomicBool::new(false);

/// Sets how the convolutions built from now on multiply (their backward passes follow the
/// forward's setting), in every thread.
pub fn set_conv_precision(precision: ConvPrecision) {
    BF16.store(precision == ConvPrecision::Bf16, Ordering::Relaxed);
}

/// How the convolutions built now multiply ([`set_conv_precision`]; f32 by default).
pub fn conv_precision() -> ConvPrecision {
    if BF16.load(Ordering::Relaxed) {
        ConvPrecision::Bf16
    } else {
        ConvPrecision::F32
    }
}

/// Whether this CPU multiplies bf16 pairs (AVX512-BF16), which [`ConvPrecision::Bf16`] needs.
pub fn has_bf16_products() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}
