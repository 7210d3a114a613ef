//! Lloyd's iterations for several runs in lockstep: one matrix product per chunk of points
//! serves every run that has not converged yet.

use super::KMeansParams;
use super::assign::{CentroidBlock, assign};
use super::points::Points;
use super::update::{cluster_sums, new_centroids};
use crate::Result;

/// The outcome of one run.
pub(crate) struct RunResult {
    pub centroids: Vec<f32>,
    pub labels: Vec<u32>,
    pub dist: Vec<f32>,
    pub inertia: f64,
    pub n_iter: usize,
}

/// Where a run stands.
enum State {
    /// Still iterating.
    Active,
    /// Converged by tolerance or out of iterations: needs one last assignment so that labels
    /// and inertia match the final centroids.
    Finishing,
    Done,
}

struct Run {
    centroids: Vec<f32>,
    labels: Vec<u32>,
    n_iter: usize,
    state: State,
}

/// Iterates every run from its initial centroids until it converges, as scikit-learn's
/// `_kmeans_single_lloyd`: assign, stop if no label changed, update (re-seeding empty
/// clusters), stop once the centroids moved less than `tol` in total squared distance.
pub(crate) fn lloyd(
    points: &Points,
    init: Vec<Vec<f32>>,
    p: &KMeansParams,
    tol: f64,
) -> Result<Vec<RunResult>> {
    let mut runs: Vec<Run> = init
        .into_iter()
        .map(|centroids| Run {
            centroids,
            labels: Vec::new(),
            n_iter: 0,
            state: State::Active,
        })
        .collect();
    let mut results: Vec<Option<RunResult>> = runs.iter().map(|_| None).collect();
    loop {
        let live: Vec<usize> = (0..runs.len())
            .filter(|&r| !matches!(runs[r].state, State::Done))
            .collect();
        if live.is_empty() {
            break;
        }
        let flat: Vec<f32> = live
            .iter()
            .flat_map(|&r| runs[r].centroids.iter().copied())
            .collect();
        let block = CentroidBlock::new(&flat, p.n_clusters, points.d, points.device())?;
        let assignment = assign(points, &block, p.metric, p.chunk_size)?;
        let mut updates = Vec::new();
        for (g, &r) in live.iter().enumerate() {
            let (labels, dist) = assignment.group(g, live.len());
            let run = &mut runs[r];
            if matches!(run.state, State::Finishing) || labels == run.labels {
                results[r] = Some(finish(run, labels, dist));
                run.state = State::Done;
            } else {
                updates.push((r, labels, dist));
            }
        }
        let labels: Vec<Vec<u32>> = updates.iter().map(|u| u.1.clone()).collect();
        let sums = cluster_sums(points, &labels, p.n_clusters)?;
        for ((r, labels, dist), sums) in updates.into_iter().zip(sums) {
            let run = &mut runs[r];
            let c = new_centroids(points, sums, &labels, &dist, &run.centroids, p.metric)?;
            let shift: f64 = c
                .iter()
                .zip(&run.centroids)
                .map(|(&a, &b)| f64::from(a - b).powi(2))
                .sum();
            run.centroids = c;
            run.labels = labels;
            run.n_iter += 1;
            if shift <= tol || run.n_iter >= p.max_iter {
                run.state = State::Finishing;
            }
        }
    }
    Ok(results.into_iter().flatten().collect())
}

fn finish(run: &mut Run, labels: Vec<u32>, dist: Vec<f32>) -> RunResult {
    let inertia = dist.iter().map(|&v| f64::from(v)).sum();
    RunResult {
        centroids: std::mem::take(&mut run.centroids),
        labels,
        dist,
        inertia,
        n_iter: run.n_iter,
    }
}

/// The absolute tolerance: `tolerance` times the mean per-feature variance (scikit-learn).
pub(crate) fn absolute_tolerance(points: &Points, p: &KMeansParams) -> Result<f64> {
    if p.tolerance == 0.0 {
        return Ok(0.0);
    }
    Ok(p.tolerance * points.mean_variance()?)
}
