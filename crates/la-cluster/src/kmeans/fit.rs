//! Fitting: validate the data, initialise every run, iterate them together, keep the best run
//! of each clustering.

use candle_core::{DType, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::init::init;
use super::lloyd::{RunResult, absolute_tolerance, lloyd};
use super::points::Points;
use super::{KMeans, KMeansParams, Metric};
use crate::{Error, Result};

/// `count` clusterings of `x`, the i-th seeded with `seed + i`, each the best of `n_runs` runs.
pub(crate) fn fit(p: &KMeansParams, x: &Tensor, count: usize) -> Result<Vec<KMeans>> {
    let points = prepare(p, x)?;
    let mut rngs: Vec<StdRng> = (0..count as u64)
        .flat_map(|c| run_rngs(p.seed.wrapping_add(c), p.n_runs))
        .collect();
    let start = init(&points, p.n_clusters, p.init, &mut rngs, p.chunk_size)?;
    iterate(p, &points, start, p.n_runs)
}

/// One clustering of `x` per tensor of initial centroids, one run each.
pub(crate) fn fit_from(p: &KMeansParams, x: &Tensor, centroids: &[Tensor]) -> Result<Vec<KMeans>> {
    let points = prepare(p, x)?;
    let start = centroids
        .iter()
        .map(|c| initial(&points, p, c))
        .collect::<Result<Vec<_>>>()?;
    iterate(p, &points, start, 1)
}

/// The validated data.
fn prepare(p: &KMeansParams, x: &Tensor) -> Result<Points> {
    let points = Points::new("k-means data", x, p.metric == Metric::Cosine)?;
    if points.n < p.n_clusters {
        return Err(Error::TooFewRows {
            input: "k-means data",
            got: points.n,
            needed: p.n_clusters,
        });
    }
    Ok(points)
}

/// Given initial centroids as k-means uses them: (k, d) f32 on the CPU, unit rows for the
/// cosine metric.
fn initial(points: &Points, p: &KMeansParams, c: &Tensor) -> Result<Vec<f32>> {
    if c.dims() != [p.n_clusters, points.d] {
        return Err(Error::Shape {
            input: "initial centroids",
            got: c.dims().to_vec(),
            expected: format!(
                "[{}, {}] (n_clusters, features of the data)",
                p.n_clusters, points.d
            ),
        });
    }
    let mut c = c.to_dtype(DType::F32)?;
    if p.metric == Metric::Cosine {
        c = la_ops::l2_normalize_rows(&c)?;
    }
    let c: Vec<f32> = c.flatten_all()?.to_vec1()?;
    if c.iter().any(|v| !v.is_finite()) {
        return Err(Error::NotFinite {
            input: "initial centroids",
        });
    }
    Ok(c)
}

/// Runs Lloyd's iterations from every start and keeps the best of each `runs_each` in a row.
fn iterate(
    p: &KMeansParams,
    points: &Points,
    start: Vec<Vec<f32>>,
    runs_each: usize,
) -> Result<Vec<KMeans>> {
    let tol = absolute_tolerance(points, p)?;
    let count = start.len() / runs_each;
    let mut runs = lloyd(points, start, p, tol)?.into_iter();
    let mut models = Vec::with_capacity(count);
    for _ in 0..count {
        let best = runs
            .by_ref()
            .take(runs_each)
            .reduce(|best, r| if r.inertia < best.inertia { r } else { best });
        if let Some(best) = best {
            models.push(model(best, points, p)?);
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
