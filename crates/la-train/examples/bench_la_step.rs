//! Times one Local Aggregation step without the network, at the sizes of issue 6: a bank of
//! N = 14,400 rows of D = 512, a batch of B = 128, H = 6 clusterings, k = 100 and k = 4096
//! background neighbours. A step is: neighbour search (the product v @ bank^T, then top-k),
//! close-neighbour mask, loss, backward into the embeddings, bank update.
//!
//! Prints one JSON object per k: the median wall-clock milliseconds of each part and of the
//! whole step, the product alone (timed separately), and `step_cpu_ms`, the CPU time all
//! threads spent per step (on Linux; from /proc/self/task/*/schedstat), which other processes
//! loading the machine inflate much less than the wall clock.
//!
//! `cargo run --release -p la-train --example bench_la_step [-- --reps N]`; the PyTorch
//! counterpart is `scripts/bench_la_step.py`.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor, Var};
use la_train::{Clusterings, LocalAggregationLoss, MemoryBank, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const N: usize = 14_400;
const D: usize = 512;
const B: usize = 128;
const H: usize = 6;
const CLUSTERS: u32 = 200;
const PARTS: [&str; 6] = ["search", "mask", "loss", "backward", "update", "step"];

fn main() -> Result<()> {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { la_ops::tune_cpu_runtime() };
    // On a worker of the kernels' thread pool, as `la` runs.
    la_ops::run_in_worker_pool(run)
}

/// The benchmark, on a worker of the pool.
fn run() -> Result<()> {
    let reps: usize = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(0);
    let mut bank = MemoryBank::random(N, D, 1, &dev)?;
    let labels: Vec<Vec<u32>> = (0..H)
        .map(|_| (0..N).map(|_| rng.random_range(0..CLUSTERS)).collect())
        .collect();
    let clusterings = Clusterings::new(labels)?;
    let mut order: Vec<u32> = (0..N as u32).collect();
    for k in [100, 4096] {
        let la = LocalAggregationLoss {
            background: k,
            ..Default::default()
        };
        let mut walls: Vec<[f64; 6]> = Vec::new();
        let mut products = Vec::new();
        let mut cpu = Duration::ZERO;
        for rep in 0..reps + 2 {
            order.shuffle(&mut rng);
            let items = &order[..B];
            // The embeddings: near their bank rows, as during training.
            let noise = Tensor::randn(0f32, 0.02, (B, D), &dev)?;
            let rows = bank.tensor().index_select(&Tensor::new(items, &dev)?, 0)?;
            let v = Var::from_tensor(&la_ops::l2_normalize_rows(&(rows + noise)?)?)?;

            let t = Instant::now();
            bank.similarities(v.as_tensor())?;
            products.push(t.elapsed());

            let cpu0 = cpu_time();
            let t = Instant::now();
            let background = bank.background_neighbours(v.as_tensor(), k)?;
            let t_search = t.elapsed();
            let mask = clusterings.close_mask(items, &background)?;
            let t_mask = t.elapsed();
            let out = la.forward_with(v.as_tensor(), &bank, &background, &mask)?;
            out.loss.to_scalar::<f32>()?;
            let t_loss = t.elapsed();
            let grads = out.loss.backward()?;
            let grad = grads
                .get(v.as_tensor())
                .expect("gradient of the embeddings");
            grad.sum_all()?.to_scalar::<f32>()?;
            let t_backward = t.elapsed();
            bank.update(items, v.as_tensor(), 0.5)?;
            let t_update = t.elapsed();
            let cpu1 = cpu_time();
            if rep >= 2 {
                let ends = [t_search, t_mask, t_loss, t_backward, t_update];
                let mut wall = [0.0; 6];
                let mut start = Duration::ZERO;
                for (w, &end) in wall.iter_mut().zip(&ends) {
                    *w = ms(end - start);
                    start = end;
                }
                wall[5] = ms(t_update);
                walls.push(wall);
                cpu += cpu1.zip(cpu0).map_or(Duration::ZERO, |(a, b)| a - b);
            }
        }
        let mut fields: Vec<String> = (0..PARTS.len())
            .map(|i| {
                format!(
                    "\"{}_ms\": {:.2}",
                    PARTS[i],
                    median(walls.iter().map(|w| w[i]))
                )
            })
            .collect();
        fields.push(format!(
            "\"product_alone_ms\": {:.2}",
            median(products[2..].iter().map(|&d| ms(d)))
        ));
        fields.push(format!("\"step_cpu_ms\": {:.2}", ms(cpu) / reps as f64));
        println!(
            "{{\"impl\": \"la-train\", \"n\": {N}, \"d\": {D}, \"batch\": {B}, \"k\": {k}, \"threads\": {}, {}}}",
            rayon::current_num_threads(),
            fields.join(", ")
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let mut xs: Vec<f64> = xs.collect();
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The CPU time all threads of this process have run so far (Linux; None elsewhere).
fn cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}
