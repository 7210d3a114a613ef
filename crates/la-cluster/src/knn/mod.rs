//! Exact nearest neighbours by matrix products, and kNN classifiers built on them.

mod classify;
mod cosine;

use candle_core::Tensor;

pub use classify::{WeightedKnn, predict_1nn};
pub use cosine::CosineBank;

use crate::Result;

/// The `k` nearest bank rows of each query, best first.
#[derive(Debug, Clone)]
pub struct Neighbours {
    /// (queries, k) f32: the similarity of each neighbour (larger is nearer).
    pub similarities: Tensor,
    /// (queries, k) u32: the bank row of each neighbour.
    pub indices: Tensor,
}

/// A searchable set of vectors (a bank).
pub trait NearestNeighbours {
    /// The number of rows of the bank.
    fn len(&self) -> usize;

    /// Whether the bank has no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` nearest bank rows of each row of `queries` (q, d), best first; `k` must be
    /// between 1 and [`len`](Self::len).
    fn k_nearest(&self, queries: &Tensor, k: usize) -> Result<Neighbours>;
}

/// Per row of a data set, its neighbours' rows and similarities, best first.
pub type NeighbourLists = (Vec<Vec<u32>>, Vec<Vec<f32>>);

/// The `k` most similar other rows of every row of `x` (n, d; any float dtype) by cosine,
/// best first, with their similarities: the neighbour lists of a kNN graph.
pub fn nearest_others(x: &Tensor, k: usize) -> Result<NeighbourLists> {
    let bank = CosineBank::new(&x.to_dtype(candle_core::DType::F32)?)?;
    let nn = bank.k_nearest(bank.bank(), (k + 1).min(bank.len()))?;
    let ids: Vec<Vec<u32>> = nn.indices.to_vec2()?;
    let sims: Vec<Vec<f32>> = nn.similarities.to_vec2()?;
    Ok(ids
        .into_iter()
        .zip(sims)
        .enumerate()
        .map(|(i, (ids, sims))| {
            // A duplicate of row i may come first: drop i wherever it is.
            ids.into_iter()
                .zip(sims)
                .filter(|&(j, _)| j as usize != i)
                .take(k)
                .unzip()
        })
        .unzip())
}
