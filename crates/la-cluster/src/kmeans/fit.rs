//! Fitting: validate the data, initialise every run, iterate them together, keep the best run
//! of each clustering.

use candle_core::Tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::init::init;
use super::lloyd::{RunResult, absolute_tolerance, lloyd};
use super::points::Points;
use super::{KMeans, KMeansParams, Metric};
use crate::{Error, Result};

/// `count` clusterings of `x`, the i-th seeded with `seed + i`, each the best of `n_runs` runs.
pub(crate) fn fit(p: &KMeansParams, x: &Tensor, count: usize) -> Result<Vec<KMeans>> {
    let points = Points::new("k-means data", x, p.metric == Metric::Cosine)?;
    if points.n < p.n_clusters {
        return Err(Error::TooFewRows {
            input: "k-means data",
            got: points.n,
            needed: p.n_clusters,
        });
    }
    let mut rngs: Vec<StdRng> = (0..count as u64)
        .flat_map(|c| run_rngs(p.seed.wrapping_add(c), p.n_runs))
        .collect();
    let start = init(&points, p.n_clusters, p.init, &mut rngs, p.chunk_size)?;
    let tol = absolute_tolerance(&points, p)?;
    let mut runs = lloyd(&points, start, p, tol)?.into_iter();
    let mut models = Vec::with_capacity(count);
    for _ in 0..count {
        let best = runs
            .by_ref()
            .take(p.n_runs)
            .reduce(|best, r| if r.inertia < best.inertia { r } else { best });
        if let Some(best) = best {
            models.push(model(best, &points, p)?);
        }
    }
    Ok(models)
}

/// The RNGs of the runs of the clustering seeded with `seed`.
fn run_rngs(seed: u64, n_runs: usize) -> Vec<StdRng> {
    let mut master = StdRng::seed_from_u64(seed);
    (0..n_runs).map(|_| StdRng::from_rng(&mut master)).collect()
}

fn model(r: RunResult, points: &Points, p: &KMeansParams) -> Result<KMeans> {
    let centroids = Tensor::from_vec(r.centroids, (p.n_clusters, points.d), points.device())?;
    Ok(KMeans {
        centroids,
        labels: r.labels,
        distances: r.dist,
        inertia: r.inertia,
        n_iter: r.n_iter,
        metric: p.metric,
        chunk_size: p.chunk_size,
    })
}
