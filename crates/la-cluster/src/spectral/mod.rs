//! Spectral clustering of the k-nearest-neighbour graph (Ng, Jordan & Weiss 2001): the
//! leading eigenvectors of the graph's normalised adjacency, rows normalised, then k-means.

mod eigen;

use candle_core::Tensor;

use crate::graph::Graph;
use crate::knn::nearest_others;
use crate::{Error, KMeans, ParamsError, Result};

/// The eigenvector search of spectral clustering stops once the eigenvalues move less than
/// this: far below the gaps that decide the clusters.
const EIGENVALUE_TOLERANCE: f64 = 1e-9;

/// Spectral clustering on the cosine k-nearest-neighbour graph of the rows of a matrix.
///
/// Groups that k-means splits or merges because they are not round (a curved band, two
/// clusters of different spread) stay whole as long as their members are each other's
/// neighbours. The graph joins `i` and `j` when either is among the other's `neighbours`
/// most similar rows (cosine); the `n_clusters` leading eigenvectors of its normalised
/// adjacency `D^-1/2 W D^-1/2`, with each row scaled to unit length, are clustered by
/// k-means++ with `n_runs` restarts.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// use la_cluster::{SpectralClustering, nmi};
/// // Two rings of directions around two axes.
/// let rows: Vec<f32> = (0..40)
///     .flat_map(|i| {
///         let t = i as f32 * 0.3;
///         let (a, b) = (0.1 * t.cos(), 0.1 * t.sin());
///         if i < 20 { [1.0, a, b] } else { [a, b, 1.0] }
///     })
///     .collect();
/// let x = Tensor::from_vec(rows, (40, 3), &Device::Cpu)?;
/// let model = SpectralClustering::params(2).neighbours(5).fit(&x)?;
/// let truth: Vec<u32> = (0..40).map(|i| (i >= 20) as u32).collect();
/// assert_eq!(nmi(&truth, model.labels())?, 1.0);
/// # Ok::<(), la_cluster::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralClustering {
    n_clusters: usize,
    neighbours: usize,
    n_runs: usize,
    max_iter: usize,
    seed: u64,
}

impl SpectralClustering {
    /// Parameters for `n_clusters` clusters, all others at their defaults.
    pub fn params(n_clusters: usize) -> Self {
        SpectralClustering {
            n_clusters,
            neighbours: 10,
            n_runs: 10,
            max_iter: 3000,
            seed: 0,
        }
    }

    /// Nearest neighbours joined to each row. By default, 10 (scikit-learn's).
    pub fn neighbours(mut self, k: usize) -> Self {
        self.neighbours = k;
        self
    }

    /// k-means restarts on the spectral embedding. By default, 10.
    pub fn n_runs(mut self, n_runs: usize) -> Self {
        self.n_runs = n_runs;
        self
    }

    /// Most iterations of the eigenvector search. By default, 3000 (it stops much earlier once
    /// the eigenvalues settle).
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// Seed of the random start of the eigenvector search and of k-means. By default, 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every parameter.
    pub fn check(&self) -> Result<()> {
        if self.n_clusters == 0 {
            return Err(ParamsError::NClusters.into());
        }
        if self.neighbours == 0 {
            return Err(ParamsError::K.into());
        }
        if self.n_runs == 0 {
            return Err(ParamsError::NRuns.into());
        }
        if self.max_iter == 0 {
            return Err(ParamsError::MaxIter.into());
        }
        Ok(())
    }

    /// Clusters the rows of `x` (n, d; any float dtype).
    pub fn fit(&self, x: &Tensor) -> Result<SpectralModel> {
        self.check()?;
        let spectrum = Spectrum::of(
            x,
            self.neighbours,
            self.n_clusters,
            self.seed,
            self.max_iter,
        )?;
        let labels = spectrum.cluster(self.n_clusters, self.n_runs, self.seed)?;
        Ok(SpectralModel { labels, spectrum })
    }
}

/// The leading eigenpairs of a data set's normalised kNN graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    n: usize,
    values: Vec<f64>,
    vectors: Vec<f64>,
}

impl Spectrum {
    /// The `count` largest eigenvalues (and their vectors) of `D^-1/2 W D^-1/2` for the cosine
    /// kNN graph of the rows of `x` with `neighbours` neighbours per row.
    pub fn of(
        x: &Tensor,
        neighbours: usize,
        count: usize,
        seed: u64,
        max_iter: usize,
    ) -> Result<Spectrum> {
        let (n, _) = x.dims2().map_err(|_| Error::Shape {
            input: "spectral clustering data",
            got: x.dims().to_vec(),
            expected: "(n, d)".into(),
        })?;
        if n < count.max(neighbours + 1) {
            return Err(Error::TooFewRows {
                input: "spectral clustering data",
                got: n,
                needed: count.max(neighbours + 1),
            });
        }
        let graph = Graph::knn_connectivity(&nearest_others(x, neighbours)?.0);
        Ok(Spectrum::of_graph(
            &graph,
            count,
            seed,
            max_iter,
            EIGENVALUE_TOLERANCE,
        ))
    }

    /// The `count` largest eigenvalues (and their vectors) of `D^-1/2 W D^-1/2` for the
    /// symmetric weighted graph `graph`, found once they move less than `tolerance` between
    /// checks.
    pub(crate) fn of_graph(
        graph: &Graph,
        count: usize,
        seed: u64,
        max_iter: usize,
        tolerance: f64,
    ) -> Spectrum {
        let n = graph.len();
        let scale: Vec<f64> = graph
            .degrees()
            .iter()
            .map(|&d| if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 })
            .collect();
        let e = eigen::top_eigen(
            n,
            count,
            |x, y, b| graph.apply_shifted(&scale, x, y, b),
            seed,
            max_iter,
            tolerance,
        );
        Spectrum {
            n,
            // Undo the shift: the operator was (I + A) / 2.
            values: e.values.iter().map(|m| 2.0 * m - 1.0).collect(),
            vectors: e.vectors,
        }
    }

    /// The eigenvalues found, largest first (1 for every connected component).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Column `c` of the eigenvectors (one value per item).
    pub(crate) fn vector(&self, c: usize) -> impl Iterator<Item = f64> + '_ {
        let count = self.values.len();
        self.vectors.iter().skip(c).step_by(count).copied()
    }

    /// k-means (k-means++, `n_runs` restarts) of the rows of the first `k` eigenvectors, each
    /// row scaled to unit length.
    pub fn cluster(&self, k: usize, n_runs: usize, seed: u64) -> Result<Vec<u32>> {
        let count = self.values.len();
        if k > count {
            return Err(Error::TooFewRows {
                input: "spectral embedding columns",
                got: count,
                needed: k,
            });
        }
        let rows: Vec<f32> = self
            .vectors
            .chunks_exact(count)
            .flat_map(|row| {
                let norm = row[..k].iter().map(|v| v * v).sum::<f64>().sqrt();
                let norm = if norm > 0.0 { norm } else { 1.0 };
                row[..k].iter().map(move |v| (v / norm) as f32)
            })
            .collect();
        let embedding = Tensor::from_vec(rows, (self.n, k), &candle_core::Device::Cpu)?;
        let model = KMeans::params(k)
            .n_runs(n_runs)
            .seed(seed)
            .fit(&embedding)?;
        Ok(model.labels().to_vec())
    }
}

/// A fitted spectral clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralModel {
    labels: Vec<u32>,
    spectrum: Spectrum,
}

impl SpectralModel {
    /// The cluster of every row, in `0..n_clusters`.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The graph's leading eigenvalues.
    pub fn spectrum(&self) -> &Spectrum {
        &self.spectrum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn spectrum_matches_a_dense_eigendecomposition_built_by_plain_loops() {
        let (n, d, k) = (30, 3, 4);
        let mut rng = StdRng::seed_from_u64(5);
        let x: Vec<f64> = (0..n * d)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let unit: Vec<Vec<f64>> = x
            .chunks(d)
            .map(|r| {
                let norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
                r.iter().map(|v| v / norm).collect()
            })
            .collect();
        // Dense (C + C^T) / 2 of the 0/1 kNN matrix C, then D^-1/2 W D^-1/2.
        let mut w = vec![0.0; n * n];
        for i in 0..n {
            let mut others: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| ((0..d).map(|c| unit[i][c] * unit[j][c]).sum(), j))
                .collect();
            others.sort_by(|a, b| b.0.total_cmp(&a.0));
            for &(_, j) in &others[..k] {
                w[i * n + j] += 0.5;
                w[j * n + i] += 0.5;
            }
        }
        let deg: Vec<f64> = (0..n).map(|i| w[i * n..(i + 1) * n].iter().sum()).collect();
        let a: Vec<f64> = (0..n * n)
            .map(|ij| w[ij] / (deg[ij / n] * deg[ij % n]).sqrt())
            .collect();
        let (mut dense, _) = eigen::jacobi_eigen(a, n);
        dense.sort_by(|p, q| q.total_cmp(p));
        let xs = Tensor::from_vec(
            x.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            (n, d),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let s = Spectrum::of(&xs, k, 5, 0, 5000).unwrap();
        for (got, want) in s.values().iter().zip(&dense) {
            assert!((got - want).abs() < 1e-7, "{got} vs {want}");
        }
        assert!(
            (s.values()[0] - 1.0).abs() < 1e-9,
            "a connected graph's top eigenvalue is 1"
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        let x = Tensor::zeros((20, 2), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        assert!(SpectralClustering::params(0).fit(&x).is_err());
        assert!(SpectralClustering::params(2).neighbours(0).fit(&x).is_err());
        assert!(SpectralClustering::params(2).n_runs(0).fit(&x).is_err());
        assert!(matches!(
            SpectralClustering::params(2).neighbours(30).fit(&x),
            Err(Error::TooFewRows { needed: 31, .. })
        ));
    }
}
