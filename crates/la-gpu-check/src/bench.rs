//! Timings on the GPU at the sizes of issue 8: the full-width VGG16-bn auto-encoder training
//! step, the Local Aggregation step, top-k over a large bank, and 10 k-means clusterings.
//! Each timing synchronises the device before reading the clock; medians after warm-up.

use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use la_cluster::{Init, KMeans};
use la_segnet::{AutoEncoder, HasParams, ModelConfig};
use la_train::{Clusterings, LocalAggregationLoss, MemoryBank, Optimizer, Sgd, SgdConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Args;
use crate::report::{Row, Status, Table};

/// Runs every timing.
pub fn run(dev: &Device, args: &Args, table: &mut Table) -> Result<()> {
    topk(dev, args, table)?;
    la_step(dev, args, table)?;
    for tf32 in [false, true] {
        ae_step(dev, args, tf32, table)?;
    }
    kmeans(dev, args, table)
}

/// The median of `reps` runs of `f` after `warmup` runs, in milliseconds.
fn median_ms(
    dev: &Device,
    warmup: usize,
    reps: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    for _ in 0..warmup {
        f()?;
    }
    dev.synchronize()?;
    let mut ms = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        dev.synchronize()?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

/// Top-k of 128 query rows over a bank of N columns, k = 4096 (target 5 ms).
fn topk(dev: &Device, args: &Args, table: &mut Table) -> Result<()> {
    let n = args.bank_rows;
    let x = Tensor::randn(0f32, 1., (128, n), dev)?;
    let ms = median_ms(dev, 2, args.reps * 4, || {
        la_ops::topk(&x, 4096)?;
        Ok(())
    })?;
    let target = (n == 1_280_000).then_some(5.0);
    table.millis(format!("top-k 128 x {n} f32, k = 4096"), ms, target);
    Ok(())
}

/// One LA step without the network: background neighbours (product + top-k), close mask,
/// loss, backward into the embeddings, bank update.
fn la_step(dev: &Device, args: &Args, table: &mut Table) -> Result<()> {
    let (n, d, batch, k, h) = (args.bank_rows, 128, 128, 4096, 10);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut bank = MemoryBank::random(n, d, args.seed, dev)?;
    let clusters = (n / 43).max(1) as u32;
    let labels = (0..h)
        .map(|_| (0..n).map(|_| rng.random_range(0..clusters)).collect())
        .collect();
    let clusterings = Clusterings::new(labels)?;
    let la = LocalAggregationLoss {
        background: k,
        ..Default::default()
    };
    let mut step = || -> Result<()> {
        let start = rng.random_range(0..(n - batch) as u32);
        let items: Vec<u32> = (start..start + batch as u32).collect();
        let rows = bank.tensor().narrow(0, start as usize, batch)?;
        let noise = Tensor::randn(0f32, 0.02, (batch, d), dev)?;
        let v = Var::from_tensor(&la_ops::l2_normalize_rows(&(rows + noise)?)?)?;
        let background = bank.background_neighbours(v.as_tensor(), k)?;
        let mask = clusterings.close_mask(&items, &background)?;
        let out = la.forward_with(v.as_tensor(), &bank, &background, &mask)?;
        out.loss.backward()?;
        bank.update(&items, v.as_tensor(), 0.5)?;
        Ok(())
    };
    let ms = median_ms(dev, 2, args.reps * 2, &mut step)?;
    let what = format!("LA step bank {n} x {d}, batch {batch}, k = {k}, H = {h}");
    table.millis(what, ms, None);
    Ok(())
}

/// The full-width VGG16-bn auto-encoder training step: forward in training mode, MSE,
/// backward, SGD with momentum.
fn ae_step(dev: &Device, args: &Args, tf32: bool, table: &mut Table) -> Result<()> {
    candle_core::cuda::set_gemm_reduced_precision_f32(tf32);
    let ae = AutoEncoder::new(&ModelConfig::default(), dev)?;
    let mut sgd = Sgd::new(
        ae.trainable(),
        SgdConfig {
            lr: 1e-3,
            ..Default::default()
        },
    )?;
    let (b, side) = (args.ae_batch, args.ae_side);
    let x = Tensor::randn(0f32, 1., (b, 3, side, side), dev)?;
    let ms = median_ms(dev, 2, args.reps, || {
        let loss = (ae.forward_t(&x, true)? - &x)?.sqr()?.mean_all()?;
        sgd.backward_step(&loss)?;
        Ok(())
    });
    candle_core::cuda::set_gemm_reduced_precision_f32(false);
    let precision = if tf32 { "TF32 GEMMs" } else { "f32 GEMMs" };
    let what = format!("AE step VGG16-bn {b} x 3 x {side} x {side}, {precision}");
    table.millis(what, ms?, None);
    Ok(())
}

/// 10 k-means clusterings (one run each, random initialisation, 20 Lloyd iterations, as the
/// Local Aggregation reference with faiss) of N / s points of dimension 128 into 30000 / s
/// clusters, s = `--kmeans-scale` (target 60 s in all at s = 1).
fn kmeans(dev: &Device, args: &Args, table: &mut Table) -> Result<()> {
    let s = args.kmeans_scale.max(1);
    let (n, k, d) = (1_280_000 / s, 30_000 / s, 128);
    let x = la_ops::l2_normalize_rows(&Tensor::randn(0f32, 1., (n, d), dev)?)?;
    let params = KMeans::params(k)
        .n_runs(1)
        .init(Init::Random)
        .max_iter(20)
        .tolerance(0.0)
        .seed(args.seed);
    dev.synchronize()?;
    let start = Instant::now();
    let models = params.fit_many(&x, 10)?;
    let seconds = start.elapsed().as_secs_f64();
    let iters: usize = models.iter().map(KMeans::n_iter).sum();
    let (limit, status) = match s {
        1 if seconds <= 60.0 => ("<= 60 s".to_string(), Status::Pass),
        1 => ("<= 60 s".to_string(), Status::Fail),
        _ => (format!("(scaled 1/{s}: no target)"), Status::Info),
    };
    table.push(Row {
        section: "time",
        name: format!("10 k-means, {n} x {d} into {k} clusters ({iters} iterations in all)"),
        value: format!("{seconds:.1} s"),
        limit,
        status,
    });
    Ok(())
}
