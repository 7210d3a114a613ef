//! Times la-ops against stock candle on the VGG16-bn shapes; prints one JSON object per line:
//! `{"op": .., "shape": .., "impl": "la-ops" | "candle", "ms": median, "gflop": work}` (`gflop`
//! for the convolutions and matrix products). First it measures the machine's fp32 FMA peak
//! (`"op": "fma_peak"`, a register-only loop on 1 and 2 threads), then the matrix products of
//! the VGG convolutions and of Local Aggregation (`"op": "gemm"`: `la_ops::matmul`, which
//! la-train's products call, on all threads and on one, and candle's matmul, all on the `gemm`
//! crate's kernels that la-ops' im2col convolutions call once per thread).
//!
//! `cargo run --release -p la-ops --example bench_ops [-- --reps N] [--peak-only]`; `cargo
//! xtask bench ops` runs it beside `scripts/bench_ops.py` (PyTorch) and writes the table into
//! docs/benchmarks.md, and `cargo xtask bench ae` runs it with `--peak-only` (the FMA peak
//! records alone) for the auto-encoder step's fraction of the peak. Where the CPU has
//! AVX512-BF16, the batch-16 VGG layers run again with bf16 products (shapes ending in ", bf16
//! products"), against the bf16 dot-product peak.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var};
use la_ops::{
    BatchNormConfig, BatchNormMode, ConvPrecision, batch_norm2d, conv_transpose2d, conv2d,
    conv2d_weight_grad, max_pool2d_with_indices, max_unpool2d,
};

const BATCH: usize = 16;
/// (batch, channels in, channels out, side) of the timed convolutions: the four VGG stages at
/// 64x64 input, the first and last layers of the auto-encoder, then small planes of the
/// default recipe (VGG11-bn at 1/8 width, two views of 128 images at 32 x 32).
const CONVS: &[(usize, usize, usize, usize)] = &[
    (BATCH, 64, 64, 64),
    (BATCH, 128, 128, 32),
    (BATCH, 256, 256, 16),
    (BATCH, 512, 512, 8),
    (BATCH, 3, 64, 64),
    (BATCH, 64, 3, 64),
    (256, 32, 32, 8),
    (256, 64, 64, 4),
    (256, 64, 64, 2),
];

/// (m, k, n) of the timed matrix products: per-task GEMMs of the convolutions above (output
/// channels x taps x positions), then Local Aggregation's similarities of a batch of 128 with
/// a 14,400 x 512 bank and the gradient into the embeddings. Each also with the right operand
/// a transposed view (as the filter gradients read the patches, and the kNN search its bank).
const GEMMS: &[(usize, usize, usize)] = &[
    (64, 576, 1792),
    (128, 1152, 1024),
    (256, 2304, 256),
    (512, 4608, 256),
    (128, 512, 14400),
    (128, 14400, 512),
];

/// A GEMM's shape as the records name it; ", B transposed" where the right operand is a
/// transposed view of a row-major (n, k) matrix.
fn gemm_shape(m: usize, k: usize, n: usize, transposed: bool) -> String {
    let suffix = if transposed { ", B transposed" } else { "" };
    format!("{m}x{k}x{n}{suffix}")
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { la_ops::tune_cpu_runtime() };
    // On a worker of the kernels' thread pool, as `la` runs.
    la_ops::run_in_worker_pool(run)
}

/// The benchmark, on a worker of the pool.
fn run() -> Result<()> {
    let reps = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    fma_peak::report();
    if std::env::args().any(|a| a == "--peak-only") {
        return Ok(());
    }
    // One thread alone, against one core's peak: what two threads lose to each other.
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(candle_core::Error::wrap)?;
    for (&(m, k, n), transposed) in GEMMS.iter().flat_map(|g| [(g, false), (g, true)]) {
        let a = randn(&[m, k])?;
        let b = if transposed {
            randn(&[n, k])?.t()?
        } else {
            randn(&[k, n])?
        };
        let gflop = 2.0 * (m * k * n) as f64 / 1e9;
        let shape = gemm_shape(m, k, n, transposed);
        for (imp, ms) in [
            ("la-ops", time(reps, || la_ops::matmul(&a, &b))?),
            (
                "la-ops 1 thread",
                one_thread.install(|| time(reps, || la_ops::matmul(&a, &b)))?,
            ),
            ("candle", time(reps, || a.matmul(&b))?),
        ] {
            println!(
                r#"{{"op": "gemm", "shape": "{shape}", "impl": "{imp}", "ms": {ms:.3}, "gflop": {gflop:.4}}}"#
            );
        }
    }
    for &(batch, ci, co, side) in CONVS {
        let shape = conv_shape(batch, ci, co, side);
        let case = ConvCase::new(batch, ci, co, side)?;
        let (la, candle) = (case.la_ops(reps)?, case.candle(reps)?);
        for ((op, la), candle) in CONV_OPS.iter().zip(la).zip(candle) {
            report(op, &shape, la, candle, Some(case.gflop));
        }
        if ci == co {
            norm_and_pool(reps, &case.x)?;
        }
    }
    bf16_convs(reps)
}

/// The four timed convolution ops, in the order [`ConvCase`] times them.
const CONV_OPS: [&str; 4] = [
    "conv_fwd",
    "conv_input_grad",
    "conv_weight_grad",
    "convT_fwd",
];

/// The batch-16 VGG layers of CONVS again with bf16 products (`ConvPrecision::Bf16`), shapes
/// ending in ", bf16 products", la-ops alone; nothing where the CPU lacks AVX512-BF16.
fn bf16_convs(reps: usize) -> Result<()> {
    if !la_ops::has_bf16_products() {
        return Ok(());
    }
    for &(batch, ci, co, side) in CONVS.iter().filter(|c| c.0 == BATCH && c.1 == c.2) {
        let shape = format!("{}, bf16 products", conv_shape(batch, ci, co, side));
        let case = ConvCase::new(batch, ci, co, side)?;
        la_ops::set_conv_precision(ConvPrecision::Bf16);
        let la = case.la_ops(reps);
        la_ops::set_conv_precision(ConvPrecision::F32);
        for (op, ms) in CONV_OPS.iter().zip(la?) {
            println!(
                r#"{{"op": "{op}", "shape": "{shape}", "impl": "la-ops", "ms": {ms:.3}, "gflop": {:.4}}}"#,
                case.gflop
            );
        }
    }
    Ok(())
}

/// One convolution layer's operands: input, weight, transposed convolution's weight, bias and
/// output gradient, and the arithmetic of each op.
struct ConvCase {
    x: Tensor,
    w: Tensor,
    wt: Tensor,
    b: Tensor,
    g: Tensor,
    gflop: f64,
}

impl ConvCase {
    fn new(batch: usize, ci: usize, co: usize, side: usize) -> Result<Self> {
        Ok(ConvCase {
            x: randn(&[batch, ci, side, side])?,
            w: randn(&[co, ci, 3, 3])?,
            wt: randn(&[ci, co, 3, 3])?,
            b: randn(&[co])?,
            g: randn(&[batch, co, side, side])?,
            gflop: 2.0 * (batch * ci * co * 9 * side * side) as f64 / 1e9,
        })
    }

    /// la-ops' times of CONV_OPS.
    fn la_ops(&self, reps: usize) -> Result<[f64; 4]> {
        let (x, w, wt, b, g) = (&self.x, &self.w, &self.wt, &self.b, &self.g);
        Ok([
            time(reps, || conv2d(x, w, Some(b), 1))?,
            time(reps, || conv_transpose2d(g, w, None, 1))?,
            time(reps, || conv2d_weight_grad(x, g, (3, 3), 1))?,
            time(reps, || conv_transpose2d(x, wt, Some(b), 1))?,
        ])
    }

    /// Stock candle's times of CONV_OPS.
    fn candle(&self, reps: usize) -> Result<[f64; 4]> {
        let (x, w, wt, g) = (&self.x, &self.w, &self.wt, &self.g);
        let b4 = self.b.reshape((1, self.b.dim(0)?, 1, 1))?;
        Ok([
            time(reps, || x.conv2d(w, 1, 1, 1, 1)?.broadcast_add(&b4))?,
            time(reps, || g.conv_transpose2d(w, 1, 0, 1, 1))?,
            time(reps, || {
                x.transpose(0, 1)?
                    .conv2d(&g.transpose(0, 1)?, 1, 1, 1, 1)?
                    .transpose(0, 1)
            })?,
            time(reps, || {
                x.conv_transpose2d(wt, 1, 0, 1, 1)?.broadcast_add(&b4)
            })?,
        ])
    }
}

/// BN+ReLU, pool and unpool, each forward + backward, on the activations `x` (shapes "C@H",
/// with ", batch N" past the VGG layers' batch, as the default recipe's small planes).
fn norm_and_pool(reps: usize, x: &Tensor) -> Result<()> {
    let (n, c, h, w) = x.dims4()?;
    let shape = match n {
        BATCH => format!("{c}@{h}"),
        _ => format!("{c}@{h}, batch {n}"),
    };
    let xv = Var::from_tensor(x)?;
    let weight = Var::from_tensor(&Tensor::ones(c, DType::F32, &Device::Cpu)?)?;
    let bias = Var::from_tensor(&Tensor::zeros(c, DType::F32, &Device::Cpu)?)?;
    let rm = Var::zeros(c, DType::F32, &Device::Cpu)?;
    let rv = Var::ones(c, DType::F32, &Device::Cpu)?;
    let la_bn = time(reps, || {
        let mode = BatchNormMode::Train {
            running_mean: &rm,
            running_var: &rv,
        };
        let cfg = BatchNormConfig {
            relu: true,
            ..Default::default()
        };
        batch_norm2d(xv.as_tensor(), &weight, &bias, mode, cfg)?.backward()
    })?;
    let candle_norm = candle_nn::BatchNorm::new(
        c,
        rm.as_tensor().clone(),
        rv.as_tensor().clone(),
        weight.as_tensor().clone(),
        bias.as_tensor().clone(),
        1e-5,
    )?;
    let candle_bn = time(reps, || {
        candle_nn::ModuleT::forward_t(&candle_norm, xv.as_tensor(), true)?
            .relu()?
            .backward()
    })?;
    report("bn_relu_train_fwd_bwd", &shape, la_bn, candle_bn, None);

    let la_pool = time(reps, || {
        max_pool2d_with_indices(xv.as_tensor(), 2, 2)?.0.backward()
    })?;
    let candle_pool = time(reps, || xv.as_tensor().max_pool2d(2)?.backward())?;
    report("pool_fwd_bwd", &shape, la_pool, candle_pool, None);

    let (pooled, indices) = max_pool2d_with_indices(x, 2, 2)?;
    let pv = Var::from_tensor(&pooled)?;
    // Stock candle has no unpool; the usual substitute upsamples and masks the argmax positions.
    let mask = x
        .eq(&pooled.upsample_nearest2d(h, w)?)?
        .to_dtype(DType::F32)?;
    let la_unpool = time(reps, || {
        max_unpool2d(pv.as_tensor(), &indices, (h, w))?.backward()
    })?;
    let candle_unpool = time(reps, || {
        (pv.as_tensor().upsample_nearest2d(h, w)? * &mask)?.backward()
    })?;
    report("unpool_fwd_bwd", &shape, la_unpool, candle_unpool, None);
    Ok(())
}

fn randn(dims: &[usize]) -> Result<Tensor> {
    Tensor::randn(0f32, 1., dims, &Device::Cpu)
}

/// Fewest milliseconds of timed runs per measurement: sub-millisecond ops get enough runs for
/// a steady median (bench_ops.py follows the same rule).
const MIN_TOTAL_MS: f64 = 200.0;

/// Median wall time in ms of at least `reps` runs (more for fast ops, see [`MIN_TOTAL_MS`])
/// after one warm-up run.
fn time<T>(reps: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
    let start = Instant::now();
    f()?;
    let warm_up = start.elapsed().as_secs_f64() * 1e3;
    let runs = reps.max((MIN_TOTAL_MS / warm_up.max(1e-3)).ceil().min(1000.0) as usize);
    let mut ms = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f().map(|_| start.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<Vec<f64>>>()?;
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

/// A convolution's case, e.g. `64->64@64`; the batch is named when it is not BATCH.
fn conv_shape(batch: usize, ci: usize, co: usize, side: usize) -> String {
    match batch {
        BATCH => format!("{ci}->{co}@{side}"),
        _ => format!("{ci}->{co}@{side}, batch {batch}"),
    }
}

fn report(op: &str, shape: &str, la: f64, candle: f64, gflop: Option<f64>) {
    let work = gflop.map_or(String::new(), |g| format!(r#", "gflop": {g:.4}"#));
    for (imp, ms) in [("la-ops", la), ("candle", candle)] {
        println!(r#"{{"op": "{op}", "shape": "{shape}", "impl": "{imp}", "ms": {ms:.3}{work}}}"#);
    }
}

/// The fp32 FMA peak: independent chains of fused multiply-adds on registers only, as wide as
/// the CPU runs them (AVX-512, else AVX2 + FMA), on 1 thread and on 2 at once.
mod fma_peak {
    /// Independent accumulator chains: enough to cover the FMA latency on two pipes.
    const CHAINS: usize = 12;
    /// Iterations of all chains per thread.
    const ITERS: u64 = 100_000_000;

    /// Multiply-adds per instruction, and the loop running `n` iterations.
    type Kernel = (usize, fn(u64) -> f32);

    /// Prints one `fma_peak` record per thread count (nothing where no SIMD FMA is known), and
    /// one `bf16_dot_peak` record where the CPU has AVX512-BF16 (a bf16 dot product of two
    /// pairs per f32 lane: what `la_ops::ConvPrecision::Bf16` multiplies with).
    pub fn report() {
        if let Some(kernel) = kernel() {
            print_peak("fma_peak", kernel);
        }
        if let Some(kernel) = bf16_kernel() {
            print_peak("bf16_dot_peak", kernel);
        }
    }

    /// Times `run` on 1 and 2 threads (best of 3) and prints an `op` record each, counting
    /// 2 flops per multiply-add of `lanes` per instruction.
    fn print_peak(op: &str, (lanes, run): Kernel) {
        for threads in [1, 2] {
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| std::hint::black_box(run(ITERS)));
                    }
                });
                best = best.min(start.elapsed().as_secs_f64() * 1e3);
            }
            let gflop = (threads as u64 * ITERS * (CHAINS * lanes * 2) as u64) as f64 / 1e9;
            let shape = if threads == 1 {
                "1 thread"
            } else {
                "2 threads"
            };
            println!(
                r#"{{"op": "{op}", "shape": "{shape}", "impl": "machine", "ms": {best:.3}, "gflop": {gflop:.4}}}"#
            );
        }
    }

    /// Multiply-adds per bf16 dot-product instruction (32: two per f32 lane) and the loop,
    /// where the CPU has AVX512-BF16.
    #[cfg(target_arch = "x86_64")]
    fn bf16_kernel() -> Option<Kernel> {
        use std::arch::x86_64::*;

        #[target_feature(enable = "avx512f,avx512bf16")]
        fn dots(iters: u64) -> f32 {
            let a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.999), _mm512_set1_ps(1.001));
            let b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-7), _mm512_set1_ps(1e-7));
            let mut acc = [_mm512_set1_ps(1.0); CHAINS];
            for _ in 0..iters {
                for c in acc.iter_mut() {
                    *c = _mm512_dpbf16_ps(*c, a, b);
                }
            }
            _mm512_reduce_add_ps(
                acc.into_iter()
                    .fold(_mm512_setzero_ps(), |s, c| _mm512_add_ps(s, c)),
            )
        }

        if la_ops::has_bf16_products() {
            // SAFETY: the CPU has AVX-512F and AVX512-BF16.
            return Some((32, |n| unsafe { dots(n) }));
        }
        None
    }

    /// No bf16 dot product known on other architectures.
    #[cfg(not(target_arch = "x86_64"))]
    fn bf16_kernel() -> Option<Kernel> {
        None
    }

    /// f32 lanes per FMA and the loop, for this CPU.
    #[cfg(target_arch = "x86_64")]
    fn kernel() -> Option<Kernel> {
        use std::arch::x86_64::*;

        #[target_feature(enable = "avx512f")]
        fn avx512(iters: u64) -> f32 {
            let (b, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
            let mut acc = [_mm512_set1_ps(1.0); CHAINS];
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = _mm512_fmadd_ps(*a, b, c);
                }
            }
            _mm512_reduce_add_ps(
                acc.into_iter()
                    .fold(_mm512_setzero_ps(), |s, a| _mm512_add_ps(s, a)),
            )
        }

        #[target_feature(enable = "avx2,fma")]
        fn avx2(iters: u64) -> f32 {
            let (b, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
            let mut acc = [_mm256_set1_ps(1.0); CHAINS];
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = _mm256_fmadd_ps(*a, b, c);
                }
            }
            let mut out = [0f32; 8];
            let sum = acc
                .into_iter()
                .fold(_mm256_setzero_ps(), |s, a| _mm256_add_ps(s, a));
            // SAFETY: `out` holds 8 values.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
            out.iter().sum()
        }

        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return Some((16, |n| unsafe { avx512(n) }));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return Some((8, |n| unsafe { avx2(n) }));
        }
        None
    }

    #[cfg(target_arch = "aarch64")]
    fn kernel() -> Option<Kernel> {
        use std::arch::aarch64::*;

        fn neon(iters: u64) -> f32 {
            // SAFETY: NEON is part of every aarch64 CPU.
            unsafe {
                let (b, c) = (vdupq_n_f32(0.999_999), vdupq_n_f32(1e-7));
                let mut acc = [vdupq_n_f32(1.0); CHAINS];
                for _ in 0..iters {
                    for a in acc.iter_mut() {
                        *a = vfmaq_f32(c, *a, b);
                    }
                }
                vaddvq_f32(
                    acc.into_iter()
                        .fold(vdupq_n_f32(0.0), |s, a| vaddq_f32(s, a)),
                )
            }
        }
        Some((4, neon))
    }

    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    fn kernel() -> Option<Kernel> {
        None
    }
}
