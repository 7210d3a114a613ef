//! UMAP (McInnes, Healy & Melville 2018): a low-dimensional layout of a data set that keeps
//! each point's neighbourhood, computed as umap-learn 0.5 does, with exact cosine neighbours.

mod curve;
mod fuzzy;
mod layout;

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::knn::nearest_others;
use crate::spectral::Spectrum;
use crate::{Error, ParamsError, Result};

/// A UMAP layout of the rows of a matrix.
///
/// The graph joins each row to its `neighbours - 1` most similar other rows by cosine (umap's
/// `n_neighbors` counts the point itself), with memberships scaled to each point's local
/// density and combined by fuzzy union; the layout starts from the graph's spectral embedding
/// and is optimised by stochastic gradient descent of the fuzzy cross-entropy. With
/// `min_dist` 0 clusters pack tightly, which suits a following k-means (the N2D recipe of
/// McConville et al. 2020); 0.1 (umap's default) suits pictures.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// use la_cluster::{KMeans, Umap, nmi};
/// // Three bundles of directions in 8 dimensions.
/// let rows: Vec<f32> = (0..60)
///     .flat_map(|i| (0..8).map(move |c| if c == i % 3 { 1.0 } else { 0.1 * ((i * 13 + c * 7) as f32).sin() }))
///     .collect();
/// let x = Tensor::from_vec(rows, (60, 8), &Device::Cpu)?;
/// let layout = Umap::params(2).neighbours(10).seed(3).fit(&x)?;
/// assert_eq!(layout.dims(), [60, 2]);
/// let labels = KMeans::params(3).fit(&layout)?.labels().to_vec();
/// let truth: Vec<u32> = (0..60).map(|i| i % 3).collect();
/// assert_eq!(nmi(&truth, &labels)?, 1.0);
/// # Ok::<(), la_cluster::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Umap {
    dim: usize,
    neighbours: usize,
    min_dist: f64,
    epochs: Option<usize>,
    seed: u64,
}

/// Passes of the eigenvector search for the spectral start, and its tolerance on the
/// eigenvalues (a start needs no more: umap-learn asks scipy's eigsh for 1e-4).
const SPECTRAL_ITERATIONS: usize = 3000;
const SPECTRAL_TOLERANCE: f64 = 1e-4;

impl Umap {
    /// A layout in `dim` dimensions, all other parameters at their defaults.
    pub fn params(dim: usize) -> Self {
        Umap {
            dim,
            neighbours: 15,
            min_dist: 0.1,
            epochs: None,
            seed: 0,
        }
    }

    /// Neighbours per point, the point itself included (umap's `n_neighbors`); capped at the
    /// number of rows. By default, 15.
    pub fn neighbours(mut self, k: usize) -> Self {
        self.neighbours = k;
        self
    }

    /// The smallest distance between points of the layout, in [0, 1] (the curve's spread is
    /// 1). By default, 0.1.
    pub fn min_dist(mut self, min_dist: f64) -> Self {
        self.min_dist = min_dist;
        self
    }

    /// Passes of the optimisation. By default, 500 for at most 10,000 rows, else 200.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = Some(epochs);
        self
    }

    /// Seed of the start's noise and of the negative samples. By default, 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every parameter.
    pub fn check(&self) -> Result<()> {
        if self.dim == 0 {
            return Err(ParamsError::Dim.into());
        }
        if self.neighbours < 2 {
            return Err(ParamsError::K.into());
        }
        if !(0.0..=1.0).contains(&self.min_dist) {
            return Err(ParamsError::MinDist(self.min_dist).into());
        }
        if self.epochs == Some(0) {
            return Err(ParamsError::MaxIter.into());
        }
        Ok(())
    }

    /// The layout (n, dim) f32 of the rows of `x` (n, d; any float dtype; n >= 3).
    pub fn fit(&self, x: &Tensor) -> Result<Tensor> {
        self.check()?;
        let n = x.dims2().map(|d| d.0).map_err(|_| Error::Shape {
            input: "UMAP data",
            got: x.dims().to_vec(),
            expected: "(n, d)".into(),
        })?;
        if n < 3 {
            return Err(Error::TooFewRows {
                input: "UMAP data",
                got: n,
                needed: 3,
            });
        }
        let k = self.neighbours.min(n) - 1;
        let (ids, sims) = nearest_others(x, k)?;
        let distances: Vec<Vec<f64>> = sims
            .iter()
            .map(|row| row.iter().map(|&s| f64::from(1.0 - s).max(0.0)).collect())
            .collect();
        let graph = fuzzy::fuzzy_graph(&ids, &distances);
        let epochs = self.epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 });
        let start = self.start(&graph)?;
        let (a, b) = curve::fit_ab(self.min_dist, 1.0);
        let schedule = layout::Schedule {
            a,
            b,
            epochs,
            negative_rate: 5,
        };
        let out = layout::optimise(&graph, start, self.dim, schedule, self.seed);
        Ok(Tensor::from_vec(out, (n, self.dim), &Device::Cpu)?)
    }

    /// The spectral embedding of the graph (its eigenvectors after the first), scaled so that
    /// the largest coordinate is 10, with a little noise, then each coordinate stretched over
    /// [0, 10] (umap-learn's start). Too few rows for a spectrum: uniform in [0, 10].
    fn start(&self, graph: &crate::graph::Graph) -> Result<Vec<f32>> {
        let (n, dim) = (graph.len(), self.dim);
        let mut rng = StdRng::seed_from_u64(self.seed);
        if n <= dim + 2 {
            return Ok((0..n * dim).map(|_| rng.random_range(0.0..10.0)).collect());
        }
        let spectrum = Spectrum::of_graph(
            graph,
            dim + 1,
            self.seed,
            SPECTRAL_ITERATIONS,
            SPECTRAL_TOLERANCE,
        );
        let columns: Vec<Vec<f64>> = (1..=dim).map(|c| spectrum.vector(c).collect()).collect();
        let largest = columns.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        let expansion = if largest > 0.0 { 10.0 / largest } else { 1.0 };
        let mut coords = vec![0f32; n * dim];
        for (c, column) in columns.iter().enumerate() {
            for (i, v) in column.iter().enumerate() {
                let noise: f64 = StandardNormal.sample(&mut rng);
                coords[i * dim + c] = (v * expansion + 1e-4 * noise) as f32;
            }
        }
        for c in 0..dim {
            let column = coords.iter().skip(c).step_by(dim);
            let (lo, hi) = column.fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
            let span = if hi > lo { hi - lo } else { 1.0 };
            coords
                .iter_mut()
                .skip(c)
                .step_by(dim)
                .for_each(|v| *v = 10.0 * (*v - lo) / span);
        }
        Ok(coords)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_refused() {
        let x = Tensor::zeros((20, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(Umap::params(0).fit(&x).is_err());
        assert!(Umap::params(2).neighbours(1).fit(&x).is_err());
        assert!(Umap::params(2).min_dist(1.5).fit(&x).is_err());
        assert!(Umap::params(2).epochs(0).fit(&x).is_err());
        let two = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(matches!(
            Umap::params(2).fit(&two),
            Err(Error::TooFewRows { needed: 3, .. })
        ));
    }

    #[test]
    fn same_seed_same_layout() {
        let rows: Vec<f32> = (0..200).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let x = Tensor::from_vec(rows, (40, 5), &Device::Cpu).unwrap();
        let fit = |seed| {
            Umap::params(2)
                .seed(seed)
                .epochs(50)
                .fit(&x)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        };
        assert_eq!(fit(1), fit(1));
        assert_ne!(fit(1), fit(2));
        // Nor does the number of threads change it.
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            assert_eq!(pool.install(|| fit(1)), fit(1), "{threads} threads");
        }
    }
}
