//! k-means clustering (Lloyd's algorithm) on candle tensors.

mod assign;
mod fit;
mod init;
mod lloyd;
mod params;
mod points;
mod update;

use candle_core::Tensor;

pub use params::{Init, KMeansParams, KMeansValidParams, Metric};

use crate::{Error, Result};
use assign::{CentroidBlock, assign};
use points::Points;

/// A fitted k-means model: the centroids, and the label and distance of every training point.
///
/// Get one with [`KMeans::params`]:
///
/// ```
/// # use candle_core::{Device, Tensor};
/// use la_cluster::KMeans;
/// let x = Tensor::new(&[[1f32, 0.], [1., 1.], [9., 0.], [9., 2.]], &Device::Cpu)?;
/// let model = KMeans::params(2).seed(1).fit(&x)?;
/// let mut c = model.centroids().to_vec2::<f32>()?;
/// c.sort_by(|a, b| a[0].total_cmp(&b[0]));
/// assert_eq!(c, [[1., 0.5], [9., 1.]]);
/// assert_eq!(model.inertia(), 0.25 * 2. + 1. * 2.);
/// let new = Tensor::new(&[[8f32, 1.]], &Device::Cpu)?;
/// assert_eq!(model.predict(&new)?, [model.labels()[2]]);
/// # Ok::<(), la_cluster::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KMeans {
    centroids: Tensor,
    labels: Vec<u32>,
    distances: Vec<f32>,
    inertia: f64,
    n_iter: usize,
    metric: Metric,
    chunk_size: Option<usize>,
}

impl KMeans {
    /// The parameters for `n_clusters` clusters, every other at its default.
    pub fn params(n_clusters: usize) -> KMeansParams {
        KMeansParams::new(n_clusters)
    }

    /// The centroids, (n_clusters, d) f32 on the device of the data (unit rows for the cosine
    /// metric).
    pub fn centroids(&self) -> &Tensor {
        &self.centroids
    }

    /// The cluster (0..n_clusters) of every training point.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The distance of every training point to its centroid: squared Euclidean, or `1 - cos`
    /// for the cosine metric.
    pub fn distances(&self) -> &[f32] {
        &self.distances
    }

    /// The sum of [`distances`](Self::distances): what k-means minimises.
    pub fn inertia(&self) -> f64 {
        self.inertia
    }

    /// The number of Lloyd iterations of the kept run.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    /// The number of clusters.
    pub fn n_clusters(&self) -> usize {
        self.centroids.dims()[0]
    }

    /// The metric the model was fitted with.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The nearest centroid of every row of `x` (n, d).
    pub fn predict(&self, x: &Tensor) -> Result<Vec<u32>> {
        Ok(self.assign(x)?.0)
    }

    /// The nearest centroid of every row of `x` (n, d) and the distance to it.
    pub fn assign(&self, x: &Tensor) -> Result<(Vec<u32>, Vec<f32>)> {
        let points = Points::new("data to predict", x, self.metric == Metric::Cosine)?;
        let (k, d) = self.centroids.dims2()?;
        if points.d != d {
            return Err(Error::Shape {
                input: "data to predict",
                got: x.dims().to_vec(),
                expected: format!("{d} features, as the centroids"),
            });
        }
        let flat: Vec<f32> = self.centroids.flatten_all()?.to_vec1()?;
        let block = CentroidBlock::new(&flat, k, d, points.device())?;
        let a = assign(&points, &block, self.metric, self.chunk_size)?;
        Ok((a.labels, a.dist))
    }
}
