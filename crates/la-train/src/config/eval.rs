//! The final clustering and its evaluation.

use serde::{Deserialize, Serialize};

use super::stages::{positive, positive_number};
use crate::{Error, Result};

/// The final clustering and evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Clusters K of the final k-means; by default the number of classes when the data is
    /// labelled, else 20.
    pub clusters: Option<usize>,
    /// k-means restarts (best inertia kept). By default, 10.
    pub n_runs: usize,
    /// Neighbours of the weighted kNN classifier. By default, 200 (Wu et al. 2018).
    pub knn_k: usize,
    /// Temperature of the weighted kNN classifier. By default, 0.07.
    pub knn_temperature: f64,
    /// Most central images shown per cluster in its contact sheet. By default, 64.
    pub sheet_images: usize,
    /// Also cluster the raw pixels with the same k-means, as a baseline. By default, true.
    pub pixel_baseline: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            clusters: None,
            n_runs: 10,
            knn_k: 200,
            knn_temperature: 0.07,
            sheet_images: 64,
            pixel_baseline: true,
        }
    }
}

impl EvalConfig {
    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<()> {
        if let Some(k) = self.clusters
            && k < 2
        {
            return Err(Error::config("eval.clusters", k, "at least 2"));
        }
        positive("eval.n_runs", self.n_runs)?;
        positive("eval.knn_k", self.knn_k)?;
        positive("eval.sheet_images", self.sheet_images)?;
        positive_number("eval.knn_temperature", self.knn_temperature)
    }
}
