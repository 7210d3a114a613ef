//! The k-means parameters: a builder, validated once by [`KMeansParams::check`].

use candle_core::Tensor;

use super::{KMeans, fit};
use crate::{Error, ParamsError, Result};

/// How the first centroids of a run are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Init {
    /// Greedy k-means++ (Arthur & Vassilvitskii 2007, as scikit-learn): each new centroid is the
    /// best, by the resulting inertia, of `2 + ln k` candidates drawn with probability
    /// proportional to the squared distance to the nearest centroid so far. Costs about
    /// `k * (2 + ln k)` passes of matrix products over the data. The default.
    #[default]
    KMeansPlusPlus,
    /// `k` distinct data points drawn uniformly (as faiss): free, but needs more iterations.
    Random,
}

/// The distance k-means minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Metric {
    /// Squared Euclidean distance; centroids are means. The default.
    #[default]
    Euclidean,
    /// Spherical k-means: rows are L2-normalised first, points join the centroid of highest
    /// cosine similarity, centroids are normalised means, and distances are `1 - cos`.
    Cosine,
}

/// The parameters of k-means, unchecked; set them with the builder methods, then call
/// [`fit`](Self::fit) (which validates them) or [`check`](Self::check).
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[0f32, 0.], [0., 1.], [10., 10.], [10., 11.]], &Device::Cpu)?;
/// let model = la_cluster::KMeans::params(2).n_runs(3).seed(7).fit(&x)?;
/// let l = model.labels();
/// assert!(l[0] == l[1] && l[2] == l[3] && l[0] != l[2]);
/// assert!((model.inertia() - 1.0).abs() < 1e-6);
/// # Ok::<(), la_cluster::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    pub(crate) n_clusters: usize,
    pub(crate) n_runs: usize,
    pub(crate) max_iter: usize,
    pub(crate) tolerance: f64,
    pub(crate) init: Init,
    pub(crate) metric: Metric,
    pub(crate) seed: u64,
    pub(crate) chunk_size: Option<usize>,
}

/// Parameters that passed [`KMeansParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansValidParams(pub(crate) KMeansParams);

impl KMeansParams {
    /// Parameters for `n_clusters` clusters, all others at their defaults.
    pub fn new(n_clusters: usize) -> Self {
        Self {
            n_clusters,
            n_runs: 10,
            max_iter: 300,
            tolerance: 1e-4,
            init: Init::KMeansPlusPlus,
            metric: Metric::Euclidean,
            seed: 0,
            chunk_size: None,
        }
    }

    /// How many runs from different initialisations; the one of lowest inertia is kept.
    /// By default, 10. Runs share each matrix product, so extra runs are cheaper than repeated
    /// fits.
    pub fn n_runs(mut self, n_runs: usize) -> Self {
        self.n_runs = n_runs;
        self
    }

    /// The maximum number of Lloyd iterations of a run. By default, 300 (scikit-learn's).
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// A run stops once the centroids move less than this in total squared distance,
    /// relative to the mean per-feature variance of the data (scikit-learn's definition), or
    /// when no label changes. By default, 1e-4.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The initialisation. By default, [`Init::KMeansPlusPlus`].
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// The distance. By default, [`Metric::Euclidean`].
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// The seed of the random choices: equal seeds give equal results. By default, 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How many points each matrix product takes at once (memory grows with it times
    /// `n_clusters * n_runs`). By default, as many as keep one block of distances at about
    /// 2 million values.
    pub fn chunk_size(mut self, rows: usize) -> Self {
        self.chunk_size = Some(rows);
        self
    }

    /// Validates every parameter.
    pub fn check(&self) -> std::result::Result<KMeansValidParams, ParamsError> {
        if self.n_clusters == 0 {
            return Err(ParamsError::NClusters);
        }
        if self.n_runs == 0 {
            return Err(ParamsError::NRuns);
        }
        if self.max_iter == 0 {
            return Err(ParamsError::MaxIter);
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(ParamsError::Tolerance(self.tolerance));
        }
        if self.chunk_size == Some(0) {
            return Err(ParamsError::ChunkSize);
        }
        Ok(KMeansValidParams(self.clone()))
    }

    /// Validates the parameters and clusters the rows of `x` (n, d); see
    /// [`KMeansValidParams::fit`].
    pub fn fit(&self, x: &Tensor) -> Result<KMeans> {
        self.check()?.fit(x)
    }

    /// Validates the parameters and runs `count` independent clusterings; see
    /// [`KMeansValidParams::fit_many`].
    pub fn fit_many(&self, x: &Tensor, count: usize) -> Result<Vec<KMeans>> {
        self.check()?.fit_many(x, count)
    }
}

impl KMeansValidParams {
    /// The parameters.
    pub fn params(&self) -> &KMeansParams {
        &self.0
    }

    /// Clusters the rows of `x` (n, d; any float dtype, computed in f32; n >= n_clusters) on
    /// the device `x` lives on.
    pub fn fit(&self, x: &Tensor) -> Result<KMeans> {
        one(fit::fit(&self.0, x, 1)?)
    }

    /// Clusters the rows of `x` starting from the given centroids (n_clusters, d), in one run
    /// (`init`, `n_runs` and `seed` play no part). Re-clustering a slowly changing memory bank
    /// from the previous centroids converges in far fewer iterations than from scratch.
    ///
    /// ```
    /// # use candle_core::{Device, Tensor};
    /// use la_cluster::KMeans;
    /// let x = Tensor::new(&[[0f32], [1.], [10.], [11.]], &Device::Cpu)?;
    /// let start = Tensor::new(&[[2f32], [9.]], &Device::Cpu)?;
    /// let model = KMeans::params(2).check()?.fit_from(&x, &start)?;
    /// assert_eq!(model.labels(), [0, 0, 1, 1]);
    /// assert_eq!(model.centroids().to_vec2::<f32>()?, [[0.5], [10.5]]);
    /// # Ok::<(), la_cluster::Error>(())
    /// ```
    pub fn fit_from(&self, x: &Tensor, centroids: &Tensor) -> Result<KMeans> {
        one(fit::fit_from(&self.0, x, std::slice::from_ref(centroids))?)
    }

    /// Several clusterings of `x`, one from each tensor of initial centroids, sharing each
    /// matrix product (the warm-started form of [`fit_many`](Self::fit_many)).
    pub fn fit_many_from(&self, x: &Tensor, centroids: &[Tensor]) -> Result<Vec<KMeans>> {
        fit::fit_from(&self.0, x, centroids)
    }

    /// Runs `count` independent clusterings of `x`, the i-th with seed `seed + i` (so each is
    /// exactly `fit` with that seed), all sharing each matrix product: this is how Local
    /// Aggregation's several clusterings per epoch are cheapest.
    ///
    /// ```
    /// # use candle_core::{Device, Tensor};
    /// use la_cluster::{Init, KMeans};
    /// // A memory bank of unit rows; 3 clusterings of 4 clusters, as LA's reference does them
    /// // (faiss: random initialisation, 20 iterations, one run each).
    /// let bank = Tensor::randn(0f32, 1., (200, 8), &Device::Cpu)?;
    /// let bank = la_ops::l2_normalize_rows(&bank)?;
    /// let p = KMeans::params(4).n_runs(1).init(Init::Random).max_iter(20).seed(10);
    /// let models = p.check()?.fit_many(&bank, 3)?;
    /// assert_eq!(models.len(), 3);
    /// assert!(models.iter().all(|m| m.labels().len() == 200));
    /// # Ok::<(), la_cluster::Error>(())
    /// ```
    pub fn fit_many(&self, x: &Tensor, count: usize) -> Result<Vec<KMeans>> {
        fit::fit(&self.0, x, count)
    }
}

/// The single model of a one-clustering fit.
fn one(mut models: Vec<KMeans>) -> Result<KMeans> {
    models.pop().ok_or(Error::TooFewRows {
        input: "k-means data",
        got: 0,
        needed: 1,
    })
}
