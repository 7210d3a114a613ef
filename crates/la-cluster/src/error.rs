//! The error type of la-cluster.

/// What went wrong in la-cluster.
///
/// Messages name the input and what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of its range; see [`ParamsError`].
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// An input tensor has the wrong shape.
    #[error("{input} has shape {got:?}, expected {expected}")]
    Shape {
        /// Which input.
        input: &'static str,
        /// Its dimensions.
        got: Vec<usize>,
        /// What was expected, in words.
        expected: String,
    },
    /// There are fewer data points than clusters or neighbours asked for.
    #[error("{input} has {got} rows, but at least {needed} are needed")]
    TooFewRows {
        /// Which input.
        input: &'static str,
        /// Its number of rows.
        got: usize,
        /// The number needed.
        needed: usize,
    },
    /// Two label sequences (or labels and data) that must have the same length do not.
    #[error("{what}: lengths differ, {left} against {right}")]
    LengthMismatch {
        /// What was compared.
        what: &'static str,
        /// The first length.
        left: usize,
        /// The second length.
        right: usize,
    },
    /// A metric was asked for on zero samples.
    #[error("{metric}: no samples to compare")]
    NoSamples {
        /// The metric.
        metric: &'static str,
    },
    /// The data contain a NaN or an infinity.
    #[error("{input} contains a value that is not finite (NaN or infinite)")]
    NotFinite {
        /// Which input.
        input: &'static str,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A parameter of k-means or of a nearest-neighbour classifier out of its range: one variant
/// per parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// `n_clusters` is 0.
    #[error("n_clusters cannot be 0")]
    NClusters,
    /// `n_runs` is 0.
    #[error("n_runs cannot be 0")]
    NRuns,
    /// `max_iter` is 0.
    #[error("max_iter cannot be 0")]
    MaxIter,
    /// `tolerance` is negative or not finite.
    #[error("tolerance = {0}, expected a finite value >= 0")]
    Tolerance(f64),
    /// `chunk_size` is 0.
    #[error("chunk_size cannot be 0")]
    ChunkSize,
    /// The number of neighbours `k` is 0.
    #[error("k (number of neighbours) cannot be 0")]
    K,
    /// The layout's dimension is 0.
    #[error("the layout's dimension cannot be 0")]
    Dim,
    /// UMAP's `min_dist` is outside [0, 1].
    #[error("min_dist = {0}, expected a value in [0, 1]")]
    MinDist(f64),
    /// The temperature `tau` is not a finite positive number.
    #[error("tau = {0}, expected a finite value > 0")]
    Tau(f64),
}

/// The result type of la-cluster.
pub type Result<T> = std::result::Result<T, Error>;
