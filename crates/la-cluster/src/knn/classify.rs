//! kNN classifiers over a [`NearestNeighbours`] bank with known labels.

use candle_core::Tensor;

use super::{NearestNeighbours, Neighbours};
use crate::{Error, ParamsError, Result};

/// The weighted kNN classifier of Wu et al. (2018, "Unsupervised feature learning via
/// non-parametric instance discrimination"): each of the `k` nearest bank rows votes for its
/// label with weight `exp(similarity / tau)`; the label of largest total wins (the smaller
/// label on ties).
///
/// ```
/// # use candle_core::{Device, Tensor};
/// use la_cluster::{CosineBank, WeightedKnn};
/// let bank = Tensor::new(&[[1f32, 0.], [0.9, 0.1], [0., 1.]], &Device::Cpu)?;
/// let bank = CosineBank::new(&bank)?;
/// let knn = WeightedKnn::new(3, 0.07)?;
/// let q = Tensor::new(&[[1f32, 0.2], [0.1, 1.]], &Device::Cpu)?;
/// assert_eq!(knn.predict(&bank, &[7, 7, 3], &q)?, [7, 3]);
/// # Ok::<(), la_cluster::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedKnn {
    k: usize,
    tau: f64,
}

impl Default for WeightedKnn {
    /// The paper's setting: k = 200, tau = 0.07.
    fn default() -> Self {
        Self { k: 200, tau: 0.07 }
    }
}

impl WeightedKnn {
    /// A classifier voting with `k >= 1` neighbours at temperature `tau > 0`.
    pub fn new(k: usize, tau: f64) -> Result<Self> {
        if k == 0 {
            return Err(ParamsError::K.into());
        }
        if !(tau.is_finite() && tau > 0.0) {
            return Err(ParamsError::Tau(tau).into());
        }
        Ok(Self { k, tau })
    }

    /// The number of neighbours.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The temperature.
    pub fn tau(&self) -> f64 {
        self.tau
    }

    /// The predicted label of every row of `queries`, given the label of every bank row. Uses
    /// `min(k, bank size)` neighbours.
    pub fn predict(
        &self,
        bank: &impl NearestNeighbours,
        bank_labels: &[u32],
        queries: &Tensor,
    ) -> Result<Vec<u32>> {
        check_labels(bank, bank_labels)?;
        let nn = bank.k_nearest(queries, self.k.min(bank.len()))?;
        self.vote(&nn, bank_labels)
    }

    /// The vote of the first `min(k, available)` of already found neighbours (best first), so
    /// that one search serves several `k`.
    pub fn vote(&self, neighbours: &Neighbours, bank_labels: &[u32]) -> Result<Vec<u32>> {
        let (_, available) = neighbours.indices.dims2()?;
        if available == 0 {
            return Err(ParamsError::K.into());
        }
        let sims: Vec<f32> = neighbours.similarities.flatten_all()?.to_vec1()?;
        let ids: Vec<u32> = neighbours.indices.flatten_all()?.to_vec1()?;
        let classes = bank_labels.iter().max().map_or(0, |&m| m as usize + 1);
        let mut votes = vec![0f64; classes];
        let k = self.k.min(available);
        let mut predicted = Vec::with_capacity(sims.len() / available.max(1));
        for (sims, ids) in sims.chunks(available).zip(ids.chunks(available)) {
            votes.fill(0.0);
            for (&s, &i) in sims[..k].iter().zip(&ids[..k]) {
                let label = bank_labels.get(i as usize).ok_or(Error::LengthMismatch {
                    what: "bank labels, shorter than a neighbour index",
                    left: bank_labels.len(),
                    right: i as usize + 1,
                })?;
                votes[*label as usize] += (f64::from(s) / self.tau).exp();
            }
            let best = (0..classes).fold(0, |b, c| if votes[c] > votes[b] { c } else { b });
            predicted.push(best as u32);
        }
        Ok(predicted)
    }
}

/// The label of the nearest bank row of every row of `queries` (1-NN).
///
/// ```
/// # use candle_core::{Device, Tensor};
/// use la_cluster::{CosineBank, predict_1nn};
/// let bank = CosineBank::new(&Tensor::new(&[[1f32, 0.], [0., 1.]], &Device::Cpu)?)?;
/// let q = Tensor::new(&[[0.2f32, 1.], [1., 0.]], &Device::Cpu)?;
/// assert_eq!(predict_1nn(&bank, &[4, 9], &q)?, [9, 4]);
/// # Ok::<(), la_cluster::Error>(())
/// ```
pub fn predict_1nn(
    bank: &impl NearestNeighbours,
    bank_labels: &[u32],
    queries: &Tensor,
) -> Result<Vec<u32>> {
    check_labels(bank, bank_labels)?;
    let nn = bank.k_nearest(queries, 1)?;
    let ids: Vec<u32> = nn.indices.flatten_all()?.to_vec1()?;
    Ok(ids.iter().map(|&i| bank_labels[i as usize]).collect())
}

fn check_labels(bank: &impl NearestNeighbours, labels: &[u32]) -> Result<()> {
    if labels.len() != bank.len() {
        return Err(Error::LengthMismatch {
            what: "bank labels against bank rows",
            left: labels.len(),
            right: bank.len(),
        });
    }
    Ok(())
}
