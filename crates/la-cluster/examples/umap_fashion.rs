//! UMAP then k-means (the N2D recipe) against k-means alone on Fashion-MNIST pixels:
//! `cargo run --release -p la-cluster --example umap_fashion -- [N]` (the first N test images,
//! all 10,000 by default). Prints scores and times; umap-learn 0.5 on the same 10,000 images
//! (10 dimensions, 15 neighbours, min_dist 0, cosine, then k-means) gives ACC / NMI / ARI
//! 0.560 / 0.653 / 0.455.
#![allow(clippy::print_stdout)]

// Shared with the other examples, which use the rest of it.
#[allow(dead_code)]
mod support;

use std::time::Instant;

use anyhow::Result;
use la_cluster::{KMeans, Umap, ari, clustering_accuracy, nmi};

fn scores(truth: &[u32], labels: &[u32]) -> Result<String> {
    Ok(format!(
        "ACC {:.3}  NMI {:.3}  ARI {:.3}",
        clustering_accuracy(truth, labels)?,
        nmi(truth, labels)?,
        ari(truth, labels)?
    ))
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { la_ops::tune_cpu_runtime() };
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let (x, truth) = support::fashion("t10k")?;
    let (x, truth) = (x.narrow(0, 0, n)?, &truth[..n]);
    let clock = Instant::now();
    let km = KMeans::params(10).seed(0).fit(&x)?;
    println!(
        "k-means on pixels:       {}  ({:.1} s)",
        scores(truth, km.labels())?,
        clock.elapsed().as_secs_f64()
    );
    let clock = Instant::now();
    let layout = Umap::params(10).min_dist(0.0).seed(0).fit(&x)?;
    let umap_s = clock.elapsed().as_secs_f64();
    let km = KMeans::params(10).seed(0).fit(&layout)?;
    println!(
        "UMAP (10-D) + k-means:   {}  (UMAP {umap_s:.1} s)",
        scores(truth, km.labels())?
    );
    Ok(())
}
