//! Accuracies: clustering accuracy under the best one-to-one matching, purity, and plain
//! classification accuracy.

use super::confusion::ConfusionMatrix;
use super::hungarian::min_cost_assignment;
use crate::{Error, Result};

/// Clustering accuracy (ACC): the fraction of samples correctly labelled once each cluster is
/// mapped to a distinct class by the matching that maximises this fraction (Hungarian
/// algorithm). The numbers of clusters and classes may differ: clusters (or classes) left
/// without a partner count as wrong. In [0, 1]; invariant to renaming the clusters.
///
/// ```
/// // Mapping clusters 1 -> 0, 0 -> 1, 2 -> 2 labels 5 of the 6 samples correctly.
/// let acc = la_cluster::clustering_accuracy(&[0, 0, 1, 1, 2, 2], &[1, 1, 0, 0, 0, 2])?;
/// assert_eq!(acc, 5.0 / 6.0);
/// // Four clusters for two classes: only two of them can be matched.
/// let acc = la_cluster::clustering_accuracy(&[0, 0, 1, 1], &[0, 1, 2, 3])?;
/// assert_eq!(acc, 0.5);
/// # Ok::<(), la_cluster::Error>(())
/// ```
pub fn clustering_accuracy(truth: &[u32], pred: &[u32]) -> Result<f64> {
    let m = ConfusionMatrix::new("clustering accuracy", truth, pred)?;
    let (classes, clusters) = (m.classes().len(), m.clusters().len());
    // Matching the smaller side into the larger one; costs are negated counts.
    let (rows, cols) = (classes.min(clusters), classes.max(clusters));
    let cost: Vec<i64> = (0..rows * cols)
        .map(|at| {
            let (r, c) = (at / cols, at % cols);
            let count = if classes <= clusters {
                m.at(r, c)
            } else {
                m.at(c, r)
            };
            -(count as i64)
        })
        .collect();
    let matched: i64 = min_cost_assignment(&cost, rows, cols)
        .iter()
        .enumerate()
        .map(|(r, &c)| -cost[r * cols + c])
        .sum();
    Ok(matched as f64 / m.n_samples() as f64)
}

/// Purity: each cluster counts its most frequent class as correct; the fraction of samples so
/// counted. In [0, 1]; reaches 1 trivially with one cluster per sample.
///
/// ```
/// // Cluster 0 holds classes {0, 0, 1}: 2 correct; cluster 1 holds {1, 1}: 2 correct.
/// let p = la_cluster::purity(&[0, 0, 1, 1, 1], &[0, 0, 0, 1, 1])?;
/// assert_eq!(p, 4.0 / 5.0);
/// # Ok::<(), la_cluster::Error>(())
/// ```
pub fn purity(truth: &[u32], pred: &[u32]) -> Result<f64> {
    let m = ConfusionMatrix::new("purity", truth, pred)?;
    let (classes, clusters) = (m.classes().len(), m.clusters().len());
    let majority: u64 = (0..clusters)
        .map(|c| (0..classes).map(|r| m.at(r, c)).max().unwrap_or(0))
        .sum();
    Ok(majority as f64 / m.n_samples() as f64)
}

/// Classification accuracy: the fraction of positions where `pred` equals `truth`. In [0, 1].
///
/// ```
/// assert_eq!(la_cluster::accuracy(&[1, 2, 3, 4], &[1, 2, 0, 4])?, 0.75);
/// # Ok::<(), la_cluster::Error>(())
/// ```
pub fn accuracy(truth: &[u32], pred: &[u32]) -> Result<f64> {
    if truth.len() != pred.len() {
        return Err(Error::LengthMismatch {
            what: "accuracy",
            left: truth.len(),
            right: pred.len(),
        });
    }
    if truth.is_empty() {
        return Err(Error::NoSamples { metric: "accuracy" });
    }
    let right = truth.iter().zip(pred).filter(|(t, p)| t == p).count();
    Ok(right as f64 / truth.len() as f64)
}
