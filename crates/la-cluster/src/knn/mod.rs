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
