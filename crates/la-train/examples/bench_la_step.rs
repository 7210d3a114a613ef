//! Times one Local Aggregation step without the network, at the sizes of issue 6: a bank of
//! N = 14,400 rows of D = 512, a batch of B = 128, H = 6 clusterings, k = 100 and k = 4096
//! background neighbours. A step is: neighbour search (the product v @ bank^T, then top-k),
//! close-neighbour mask, loss, backward into the embeddings, bank update. The product is also
//! timed alone (outside the step) to show its share of the search. Prints one JSON object per line
//! with the median milliseconds of each part and of the whole step.
//!
//! `cargo run --release -p la-train --example bench_la_step [-- --reps N]`; the PyTorch
//! counterpart is `scripts/bench_la_step.py`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

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

fn main() -> Result<()> {
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
        let mut parts: Vec<[f64; 7]> = Vec::new();
        for rep in 0..reps + 2 {
            order.shuffle(&mut rng);
            let items = &order[..B];
            // The embeddings: near their bank rows, as during training.
            let noise = Tensor::randn(0f32, 0.02, (B, D), &dev)?;
            let rows = bank.tensor().index_select(&Tensor::new(items, &dev)?, 0)?;
            let v = Var::from_tensor(&la_ops::l2_normalize_rows(&(rows + noise)?)?)?;

            // The product alone, to split the search time (not part of the step).
            let t = Instant::now();
            bank.similarities(v.as_tensor())?;
            let t_product = t.elapsed();

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
            if rep >= 2 {
                let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
                parts.push([
                    ms(t_search),
                    ms(t_product),
                    ms(t_mask - t_search),
                    ms(t_loss - t_mask),
                    ms(t_backward - t_loss),
                    ms(t_update - t_backward),
                    ms(t_update),
                ]);
            }
        }
        let names = [
            "search",
            "of_which_product",
            "mask",
            "loss",
            "backward",
            "update",
            "step",
        ];
        let medians: Vec<String> = (0..names.len())
            .map(|i| {
                let mut xs: Vec<f64> = parts.iter().map(|p| p[i]).collect();
                xs.sort_by(f64::total_cmp);
                format!("\"{}_ms\": {:.2}", names[i], xs[xs.len() / 2])
            })
            .collect();
        println!(
            "{{\"impl\": \"la-train\", \"n\": {N}, \"d\": {D}, \"batch\": {B}, \"k\": {k}, \"threads\": {}, {}}}",
            rayon::current_num_threads(),
            medians.join(", ")
        );
    }
    Ok(())
}
