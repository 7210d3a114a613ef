//! The final clustering and its evaluation.

use serde::{Deserialize, Serialize};

use super::stages::{positive, positive_number};
use crate::{Error, Result};

/// How the final clusters are found from the embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClusterMethod {
    /// k-means on the embeddings themselves.
    KMeans,
    /// k-means on a UMAP layout of the embeddings (the N2D recipe, McConville et al. 2020):
    /// the layout keeps each item's neighbourhood and packs groups tightly (min_dist 0), so
    /// groups that are not round in the embedding come out whole.
    Umap {
        /// Dimensions of the layout. By default, 10 (N2D's).
        dim: usize,
        /// Neighbours per item, itself included. By default, 15 (UMAP's).
        neighbours: usize,
    },
}

impl ClusterMethod {
    /// UMAP with N2D's 10 dimensions and UMAP's 15 neighbours.
    pub const UMAP: ClusterMethod = ClusterMethod::Umap {
        dim: 10,
        neighbours: 15,
    };
}

/// How many clusters the final clustering makes: written `clusters = 12` or
/// `clusters = "auto"` in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CountRepr", into = "CountRepr")]
pub enum ClusterCount {
    /// Exactly this many (at least 2).
    Fixed(usize),
    /// Chosen by the silhouette of the clustering on the data (see
    /// `evaluate::choose_k`): the K of 2 to min(30, N / 10) whose k-means clusters are best
    /// separated.
    Auto,
}

/// How a [`ClusterCount`] is written: a number, or the word `auto`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum CountRepr {
    K(usize),
    Word(String),
}

impl TryFrom<CountRepr> for ClusterCount {
    type Error = String;
    fn try_from(r: CountRepr) -> std::result::Result<Self, String> {
        match r {
            CountRepr::K(k) => Ok(ClusterCount::Fixed(k)),
            CountRepr::Word(w) if w == "auto" => Ok(ClusterCount::Auto),
            CountRepr::Word(w) => Err(format!("clusters = \"{w}\": expected a number or \"auto\"")),
        }
    }
}

impl From<ClusterCount> for CountRepr {
    fn from(c: ClusterCount) -> Self {
        match c {
            ClusterCount::Fixed(k) => CountRepr::K(k),
            ClusterCount::Auto => CountRepr::Word("auto".into()),
        }
    }
}

impl std::str::FromStr for ClusterCount {
    type Err = String;
    /// `auto` or a number.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(ClusterCount::Auto),
            k => k
                .parse()
                .map(ClusterCount::Fixed)
                .map_err(|_| format!("`{k}`: expected a number of clusters or `auto`")),
        }
    }
}

/// The final clustering and evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Clusters K; by default the number of classes when the data is labelled, else chosen
    /// ([`ClusterCount::Auto`]).
    pub clusters: Option<ClusterCount>,
    /// How the clusters are found. By default, k-means on a 10-D UMAP layout of the embeddings
    /// (N2D); k-means on the embeddings themselves with `KMeans`.
    pub method: ClusterMethod,
    /// k-means restarts (best inertia kept). By default, 10.
    pub n_runs: usize,
    /// Neighbours of the weighted kNN classifier. By default, 200 (Wu et al. 2018).
    pub knn_k: usize,
    /// Temperature of the weighted kNN classifier. By default, 0.07.
    pub knn_temperature: f64,
    /// Most central images shown per cluster in its contact sheet. By default, 64.
    pub sheet_images: usize,
    /// Cosine similarity of two items' embeddings from which they are listed as near-duplicates
    /// (duplicates.csv). By default, 0.998: on the sample it flags 0.4 % of the items that
    /// have no copy (docs/quality.md, "Near-duplicates").
    pub duplicate_similarity: f64,
    /// Also cluster and classify the raw pixels (k-means, the same method, the same kNN), as
    /// baselines. By default, true.
    pub pixel_baseline: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            clusters: None,
            method: ClusterMethod::UMAP,
            n_runs: 10,
            knn_k: 200,
            knn_temperature: 0.07,
            sheet_images: 64,
            duplicate_similarity: 0.998,
            pixel_baseline: true,
        }
    }
}

impl EvalConfig {
    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<()> {
        if !(-1.0..=1.0).contains(&self.duplicate_similarity) {
            return Err(Error::config(
                "eval.duplicate_similarity",
                self.duplicate_similarity,
                "a cosine similarity in [-1, 1]",
            ));
        }
        if let Some(ClusterCount::Fixed(k)) = self.clusters
            && k < 2
        {
            return Err(Error::config("eval.clusters", k, "at least 2"));
        }
        if let ClusterMethod::Umap { dim, neighbours } = self.method {
            positive("eval.method.dim", dim)?;
            if neighbours < 2 {
                return Err(Error::config(
                    "eval.method.neighbours",
                    neighbours,
                    "at least 2",
                ));
            }
        }
        positive("eval.n_runs", self.n_runs)?;
        positive("eval.knn_k", self.knn_k)?;
        positive("eval.sheet_images", self.sheet_images)?;
        positive_number("eval.knn_temperature", self.knn_temperature)
    }
}
