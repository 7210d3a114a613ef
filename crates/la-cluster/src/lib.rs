//! Clustering on candle tensors: k-means, exact nearest neighbours and clustering metrics.
//!
//! - [`KMeans`]: Lloyd's k-means with greedy k-means++ or random initialisation, several runs
//!   sharing each matrix product, empty clusters re-seeded, Euclidean or spherical (cosine),
//!   several independent clusterings in one call, warm starts from given centroids.
//!   The heavy work is matrix products on the data's device; the per-iteration bookkeeping
//!   runs on the CPU.
//! - [`CosineBank`] ([`NearestNeighbours`]): exact top-k by cosine similarity, chunked over
//!   the bank; [`WeightedKnn`] (Wu et al. 2018) and [`predict_1nn`] classify with it.
//! - [`SpectralClustering`]: spectral clustering of the cosine k-nearest-neighbour graph
//!   (normalised adjacency, leading eigenvectors by block subspace iteration, k-means).
//! - [`Umap`]: a UMAP layout (fuzzy kNN graph, spectral start, stochastic gradient descent),
//!   for clustering (N2D: k-means on a 10-D layout) and for 2-D maps.
//! - Metrics against known labels: [`clustering_accuracy`] (Hungarian matching), [`nmi`],
//!   [`ari`], [`purity`], [`accuracy`], [`confusion_matrix`].
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use la_cluster::{KMeans, nmi};
//!
//! // Two blobs on a line.
//! let x = Tensor::new(&[[0f32], [0.5], [1.], [10.], [10.5], [11.]], &Device::Cpu)?;
//! let model = KMeans::params(2).n_runs(4).tolerance(1e-4).seed(0).fit(&x)?;
//! assert_eq!(nmi(&[0, 0, 0, 1, 1, 1], model.labels())?, 1.0);
//! assert!((model.inertia() - 1.0).abs() < 1e-6);
//! # Ok::<(), la_cluster::Error>(())
//! ```
#![deny(missing_docs)]

mod error;
mod graph;
mod kmeans;
mod knn;
mod metrics;
mod spectral;
mod umap;

pub use error::{Error, ParamsError, Result};
pub use kmeans::{Init, KMeans, KMeansParams, KMeansValidParams, Metric};
pub use knn::{
    CosineBank, NearestNeighbours, NeighbourLists, Neighbours, WeightedKnn, nearest_others,
    predict_1nn,
};
pub use metrics::{
    ConfusionMatrix, accuracy, ari, clustering_accuracy, confusion_matrix, nmi, purity, silhouette,
};
pub use spectral::{SpectralClustering, SpectralModel, Spectrum};
pub use umap::Umap;
