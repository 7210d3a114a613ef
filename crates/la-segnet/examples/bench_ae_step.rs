//! Times one full-width auto-encoder training step (forward in training mode, MSE loss,
//! backward, SGD update) on CPU; prints one JSON object per line.
//!
//! `cargo run --release -p la-segnet --example bench_ae_step [-- --reps N]`; the PyTorch
//! counterpart is scripts/bench_ae_step.py.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use candle_core::{Device, Tensor};
use la_segnet::{AutoEncoder, HasParams, ModelConfig};

/// (batch, side) of the timed steps.
const CASES: &[(usize, usize)] = &[(16, 64), (4, 224)];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { la_ops::tune_cpu_runtime() };
    let reps = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let ae = AutoEncoder::new(&ModelConfig::default(), &Device::Cpu)?;
    let params = ae.trainable();
    for &(batch, side) in CASES {
        let x = Tensor::randn(0f32, 1., (batch, 3, side, side), &Device::Cpu)?;
        let step = || -> Result<f64, Box<dyn std::error::Error>> {
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
        println!(
            r#"{{"op": "ae_train_step", "shape": "{batch}x3x{side}x{side}", "impl": "la", "ms": {median:.1}}}"#
        );
    }
    Ok(())
}
