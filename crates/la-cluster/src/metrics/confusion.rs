//! The confusion (contingency) matrix of two labellings, which every metric starts from.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// How many samples have each pair (true class, predicted cluster).
///
/// Labels can be any `u32` values; rows are the distinct true classes and columns the distinct
/// clusters, each in increasing order of label.
///
/// ```
/// let m = la_cluster::confusion_matrix(&[0, 0, 1, 1, 1], &[5, 7, 7, 7, 5])?;
/// assert_eq!(m.classes(), [0, 1]);
/// assert_eq!(m.clusters(), [5, 7]);
/// assert_eq!(m.counts(), [1, 1, 1, 2]);
/// assert_eq!(m.count(1, 1), Some(2));
/// assert_eq!(m.count(2, 0), None);
/// # Ok::<(), la_cluster::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: Vec<u32>,
    clusters: Vec<u32>,
    counts: Vec<u64>,
}

/// The confusion matrix of `truth` (true classes) and `pred` (predicted clusters), which must
/// have the same, non-zero, length.
pub fn confusion_matrix(truth: &[u32], pred: &[u32]) -> Result<ConfusionMatrix> {
    ConfusionMatrix::new("confusion matrix", truth, pred)
}

impl ConfusionMatrix {
    /// The matrix, or an error naming `metric` when the lengths differ or are zero.
    pub(crate) fn new(metric: &'static str, truth: &[u32], pred: &[u32]) -> Result<Self> {
        if truth.len() != pred.len() {
            return Err(Error::LengthMismatch {
                what: metric,
                left: truth.len(),
                right: pred.len(),
            });
        }
        if truth.is_empty() {
            return Err(Error::NoSamples { metric });
        }
        let (classes, row) = index(truth);
        let (clusters, col) = index(pred);
        let mut counts = vec![0; classes.len() * clusters.len()];
        for (t, p) in truth.iter().zip(pred) {
            counts[row[t] * clusters.len() + col[p]] += 1;
        }
        Ok(Self {
            classes,
            clusters,
            counts,
        })
    }

    /// The distinct true classes, increasing: the rows.
    pub fn classes(&self) -> &[u32] {
        &self.classes
    }

    /// The distinct predicted clusters, increasing: the columns.
    pub fn clusters(&self) -> &[u32] {
        &self.clusters
    }

    /// The counts, row-major (classes x clusters).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The count of row `class` and column `cluster` (positions, not labels); `None` outside
    /// the matrix.
    pub fn count(&self, class: usize, cluster: usize) -> Option<u64> {
        if class < self.classes.len() && cluster < self.clusters.len() {
            Some(self.at(class, cluster))
        } else {
            None
        }
    }

    /// The count at a position known to be inside the matrix.
    pub(crate) fn at(&self, class: usize, cluster: usize) -> u64 {
        self.counts[class * self.clusters.len() + cluster]
    }

    /// The number of samples.
    pub fn n_samples(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sample count of each true class.
    pub fn class_sizes(&self) -> Vec<u64> {
        self.counts
            .chunks(self.clusters.len())
            .map(|r| r.iter().sum())
            .collect()
    }

    /// The sample count of each cluster.
    pub fn cluster_sizes(&self) -> Vec<u64> {
        let mut sizes = vec![0; self.clusters.len()];
        for row in self.counts.chunks(self.clusters.len()) {
            for (s, &c) in sizes.iter_mut().zip(row) {
                *s += c;
            }
        }
        sizes
    }
}

/// The distinct labels in increasing order and the position of each.
fn index(labels: &[u32]) -> (Vec<u32>, BTreeMap<u32, usize>) {
    let mut map: BTreeMap<u32, usize> = labels.iter().map(|&l| (l, 0)).collect();
    for (i, v) in map.values_mut().enumerate() {
        *v = i;
    }
    (map.keys().copied().collect(), map)
}
