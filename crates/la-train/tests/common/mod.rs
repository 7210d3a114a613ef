//! Helpers shared by the integration tests: seeded random data and naive references.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `n` rows of dimension `d` with entries uniform in [-1, 1), each scaled to unit length.
pub fn unit_rows(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let row: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
            let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
            row.iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// An f64 tensor of the rows.
pub fn tensor(rows: &[Vec<f64>]) -> Tensor {
    Tensor::new(rows.to_vec(), &Device::Cpu).unwrap()
}

/// The rows of a 2-D f64 tensor.
pub fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    t.to_vec2::<f64>().unwrap()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The `k` bank rows of largest dot product with `v`, largest first, ties to the lower index
/// (a full stable sort).
pub fn naive_top_k(v: &[f64], bank: &[Vec<f64>], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..bank.len()).collect();
    order.sort_by(|&a, &b| dot(v, &bank[b]).partial_cmp(&dot(v, &bank[a])).unwrap());
    order.truncate(k);
    order
}

/// The gap between the k-th and (k+1)-th largest dot products (how far the top-k set is from
/// changing).
pub fn top_k_gap(v: &[f64], bank: &[Vec<f64>], k: usize) -> f64 {
    let mut d: Vec<f64> = bank.iter().map(|b| dot(v, b)).collect();
    d.sort_by(|a, b| b.partial_cmp(a).unwrap());
    if k < d.len() {
        d[k - 1] - d[k]
    } else {
        f64::INFINITY
    }
}
