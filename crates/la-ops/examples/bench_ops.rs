//! Times la-ops against stock candle on the VGG16-bn shapes; prints one JSON object per line:
//! `{"op": .., "shape": .., "impl": "la-ops" | "candle", "ms": median}`.
//!
//! `cargo run --release -p la-ops --example bench_ops [-- --reps N]`; `cargo xtask bench ops`
//! runs it beside `scripts/bench_ops.py` (PyTorch) and writes the table into
//! docs/benchmarks.md.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var};
use la_ops::{
    BatchNormConfig, BatchNormMode, batch_norm2d, conv_transpose2d, conv2d, conv2d_weight_grad,
    max_pool2d_with_indices, max_unpool2d,
};

const BATCH: usize = 16;
/// (channels in, channels out, side) of the timed convolutions: the four VGG stages at 64x64
/// input, then the first and last layers of the auto-encoder.
const CONVS: &[(usize, usize, usize)] = &[
    (64, 64, 64),
    (128, 128, 32),
    (256, 256, 16),
    (512, 512, 8),
    (3, 64, 64),
    (64, 3, 64),
];

fn main() -> Result<()> {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { la_ops::tune_cpu_runtime() };
    let reps = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    for &(ci, co, side) in CONVS {
        let shape = format!("{ci}->{co}@{side}");
        let x = randn(&[BATCH, ci, side, side])?;
        let w = randn(&[co, ci, 3, 3])?;
        let wt = randn(&[ci, co, 3, 3])?;
        let b = randn(&[co])?;
        let g = randn(&[BATCH, co, side, side])?;
        let b4 = b.reshape((1, co, 1, 1))?;
        let timed = [
            (
                "conv_fwd",
                time(reps, || conv2d(&x, &w, Some(&b), 1))?,
                time(reps, || x.conv2d(&w, 1, 1, 1, 1)?.broadcast_add(&b4))?,
            ),
            (
                "conv_input_grad",
                time(reps, || conv_transpose2d(&g, &w, None, 1))?,
                time(reps, || g.conv_transpose2d(&w, 1, 0, 1, 1))?,
            ),
            (
                "conv_weight_grad",
                time(reps, || conv2d_weight_grad(&x, &g, (3, 3), 1))?,
                time(reps, || {
                    x.transpose(0, 1)?
                        .conv2d(&g.transpose(0, 1)?, 1, 1, 1, 1)?
                        .transpose(0, 1)
                })?,
            ),
            (
                "convT_fwd",
                time(reps, || conv_transpose2d(&x, &wt, Some(&b), 1))?,
                time(reps, || {
                    x.conv_transpose2d(&wt, 1, 0, 1, 1)?.broadcast_add(&b4)
                })?,
            ),
        ];
        for (op, la, candle) in timed {
            report(op, &shape, la, candle);
        }
        if ci == co {
            norm_and_pool(reps, &x)?;
        }
    }
    Ok(())
}

/// BN+ReLU, pool and unpool, each forward + backward, on the activations `x`.
fn norm_and_pool(reps: usize, x: &Tensor) -> Result<()> {
    let (_, c, h, w) = x.dims4()?;
    let shape = format!("{c}@{h}");
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
    report("bn_relu_train_fwd_bwd", &shape, la_bn, candle_bn);

    let la_pool = time(reps, || {
        max_pool2d_with_indices(xv.as_tensor(), 2, 2)?.0.backward()
    })?;
    let candle_pool = time(reps, || xv.as_tensor().max_pool2d(2)?.backward())?;
    report("pool_fwd_bwd", &shape, la_pool, candle_pool);

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
    report("unpool_fwd_bwd", &shape, la_unpool, candle_unpool);
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

fn report(op: &str, shape: &str, la: f64, candle: f64) {
    for (imp, ms) in [("la-ops", la), ("candle", candle)] {
        println!(r#"{{"op": "{op}", "shape": "{shape}", "impl": "{imp}", "ms": {ms:.3}}}"#);
    }
}
