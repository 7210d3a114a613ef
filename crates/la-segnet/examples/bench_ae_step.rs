//! Times one full-width auto-encoder training step (forward in training mode, MSE loss,
//! backward, SGD update) on CPU; prints one JSON object per line, with the step's convolution
//! arithmetic (`gflop`), so that `cargo xtask bench ae` can show it as a fraction of the FMA
//! peak.
//!
//! Each case runs with f32 convolutions, then (where the CPU has AVX512-BF16) with bf16
//! products (`la_ops::ConvPrecision::Bf16`), whose shapes end in ", bf16 products".
//!
//! `cargo run --release -p la-segnet --example bench_ae_step [-- --reps N]`; the PyTorch
//! counterpart is scripts/bench_ae_step.py.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use candle_core::{Device, Tensor};
use la_ops::ConvPrecision;
use la_segnet::{AutoEncoder, HasParams, ModelConfig};
use la_vgg::{FeatureLayer, VggConfig};

/// (batch, side) of the timed steps.
const CASES: &[(usize, usize)] = &[(16, 64), (4, 224)];

/// The benchmark's errors, sendable from the pool's worker.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { la_ops::tune_cpu_runtime() };
    // On a worker of the kernels' thread pool, as `la` runs.
    la_ops::run_in_worker_pool(run)
}

/// The benchmark, on a worker of the pool.
fn run() -> Result<(), BoxError> {
    let reps = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let config = ModelConfig::default();
    let ae = AutoEncoder::new(&config, &Device::Cpu)?;
    let params = ae.trainable();
    let bf16 = la_ops::has_bf16_products().then_some(ConvPrecision::Bf16);
    let cases = [Some(ConvPrecision::F32), bf16].into_iter().flatten();
    for (precision, &(batch, side)) in cases.flat_map(|p| CASES.iter().map(move |c| (p, c))) {
        la_ops::set_conv_precision(precision);
        let x = Tensor::randn(0f32, 1., (batch, 3, side, side), &Device::Cpu)?;
        let step = || -> Result<f64, BoxError> {
            let start = Instant::now();
            let loss = (ae.forward_t(&x, true)? - &x)?.sqr()?.mean_all()?;
            let grads = loss.backward()?;
            for p in &params {
                if let Some(g) = grads.get(&p.var) {
                    p.var.set(&(p.var.as_tensor() - (g * 1e-3)?)?)?;
                }
            }
            Ok(start.elapsed().as_secs_f64() * 1e3)
        };
        step()?;
        let mut ms = (0..reps).map(|_| step()).collect::<Result<Vec<_>, _>>()?;
        ms.sort_by(f64::total_cmp);
        let median = ms[ms.len() / 2];
        let gflop = step_flop(&config.vgg, side)? * batch as f64 / 1e9;
        let suffix = match precision {
            ConvPrecision::Bf16 => ", bf16 products",
            ConvPrecision::F32 => "",
        };
        println!(
            r#"{{"op": "ae_train_step", "shape": "{batch}x3x{side}x{side}{suffix}", "impl": "la", "ms": {median:.1}, "gflop": {gflop:.3}}}"#
        );
    }
    Ok(())
}

/// Floating-point operations of one image's training step in its 3 x 3 convolutions (the rest
/// of the step is a few percent of it): forward, input gradient and filter gradient of every
/// encoder convolution and of the decoder's transposed convolution mirroring it, at the
/// resolution of its stage, less the first layer's input gradient (the image needs none).
fn step_flop(vgg: &VggConfig, side: usize) -> Result<f64, BoxError> {
    let (mut plane, mut forward, mut first) = (side * side, 0, None);
    for layer in vgg.features()? {
        match layer {
            FeatureLayer::Conv {
                in_channels,
                out_channels,
                ..
            } => {
                let macs = in_channels * out_channels * 9 * plane;
                first.get_or_insert(macs);
                forward += 2 * macs;
            }
            FeatureLayer::Pool { .. } => plane /= 4,
        }
    }
    Ok(2.0 * (3 * forward - first.unwrap_or(0)) as f64)
}
