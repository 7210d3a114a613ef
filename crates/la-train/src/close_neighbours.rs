//! Close neighbours: the items that share a cluster with an item in at least one of H
//! clusterings, represented as the labels themselves and queried as a mask over background
//! neighbours (what the loss needs), never as explicit sets.

use candle_core::{DType, Device, Tensor};
use la_cluster::KMeansParams;
use rayon::prelude::*;

use crate::memory_bank::{Background, MemoryBank, check_items};
use crate::{Error, Result};

/// H clusterings of the N items of a memory bank. Item `j` is a close neighbour of item `i`
/// when `labels_h[j] == labels_h[i]` for some clustering `h` (the union over clusterings of
/// `i`'s clusters; `i` is always its own close neighbour).
///
/// ```
/// use la_train::Clusterings;
/// // Items 0 and 1 share a cluster in the first clustering, 1 and 2 in the second.
/// let c = Clusterings::new(vec![vec![0, 0, 1, 2], vec![5, 6, 6, 7]])?;
/// assert!(c.is_close(0, 1) && c.is_close(1, 2) && !c.is_close(0, 2) && !c.is_close(3, 0));
/// # Ok::<(), la_train::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clusterings {
    n_items: usize,
    n_clusterings: usize,
    /// Item-major: the H labels of item `i` are `labels[i * H..(i + 1) * H]`.
    labels: Vec<u32>,
}

impl Clusterings {
    /// Clusterings from H label vectors of N labels each (H >= 1, N >= 1).
    pub fn new(labels: Vec<Vec<u32>>) -> Result<Self> {
        let n_clusterings = labels.len();
        let n_items = labels.first().map_or(0, Vec::len);
        if n_clusterings == 0 || n_items == 0 {
            return Err(Error::config(
                "clusterings",
                format!("{n_clusterings} clusterings of {n_items} items"),
                "at least one clustering of at least one item",
            ));
        }
        if let Some((h, l)) = labels.iter().enumerate().find(|(_, l)| l.len() != n_items) {
            return Err(Error::config(
                "clusterings",
                format!("clustering {h} has {} labels", l.len()),
                &format!("{n_items} labels, as clustering 0"),
            ));
        }
        let mut flat = vec![0; n_items * n_clusterings];
        for (h, l) in labels.iter().enumerate() {
            for (i, &label) in l.iter().enumerate() {
                flat[i * n_clusterings + h] = label;
            }
        }
        Ok(Self {
            n_items,
            n_clusterings,
            labels: flat,
        })
    }

    /// H clusterings in which every item is alone: the reference's state before the first
    /// k-means (`_init_cluster_labels` in `src/agents/agents.py` of LocalAggregation-Pytorch).
    pub fn singletons(n_items: usize, n_clusterings: usize) -> Result<Self> {
        let items: Vec<u32> = (0..n_items).map(|i| i as u32).collect();
        Self::new(vec![items; n_clusterings])
    }

    /// `count` k-means clusterings of the bank rows with `params`, the h-th with seed
    /// `params.seed + h` (la-cluster's `fit_many`, which shares the matrix products).
    pub fn fit(bank: &MemoryBank, params: &KMeansParams, count: usize) -> Result<Self> {
        let models = params.fit_many(bank.tensor(), count)?;
        Self::new(models.iter().map(|m| m.labels().to_vec()).collect())
    }

    /// Clusterings from an (H, N) integer tensor, as saved by [`to_tensor`](Self::to_tensor).
    pub fn from_tensor(labels: &Tensor) -> Result<Self> {
        if labels.rank() != 2 || labels.dtype() != DType::U32 {
            return Err(Error::shape(
                "cluster labels",
                labels,
                "an (H, N) u32 matrix".into(),
            ));
        }
        Self::new(labels.to_vec2::<u32>()?)
    }

    /// The labels as an (H, N) u32 tensor.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        let rows: Vec<Vec<u32>> = (0..self.n_clusterings).map(|h| self.labels(h)).collect();
        Ok(Tensor::new(rows, device)?)
    }

    /// The number of items N.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// The number of clusterings H.
    pub fn n_clusterings(&self) -> usize {
        self.n_clusterings
    }

    /// The labels of clustering `h` (empty if `h >= H`).
    pub fn labels(&self, h: usize) -> Vec<u32> {
        if h >= self.n_clusterings {
            return Vec::new();
        }
        self.labels
            .iter()
            .skip(h)
            .step_by(self.n_clusterings)
            .copied()
            .collect()
    }

    /// Whether `j` is a close neighbour of `i` (false for out-of-range items).
    pub fn is_close(&self, i: usize, j: usize) -> bool {
        match (self.item(i), self.item(j)) {
            (Some(a), Some(b)) => a.iter().zip(b).any(|(x, y)| x == y),
            _ => false,
        }
    }

    /// For each item of the batch and each of its background neighbours, whether the
    /// neighbour is a close neighbour: the (batch, k) f32 mask of 0 and 1 on the device of
    /// `background`, row `r` for `items[r]`.
    pub fn close_mask(&self, items: &[u32], background: &Background) -> Result<Tensor> {
        let idx = &background.indices;
        let (rows, k) = idx.dims2()?;
        if rows != items.len() || idx.dtype() != DType::U32 {
            return Err(Error::shape(
                "background indices",
                idx,
                format!("({}, k) u32, one row per item", items.len()),
            ));
        }
        check_items(items, self.n_items, "items")?;
        let neighbours: Vec<u32> = idx.flatten_all()?.to_vec1()?;
        check_items(&neighbours, self.n_items, "background indices")?;
        let h = self.n_clusterings;
        let labels = &self.labels;
        let mut mask = vec![0f32; rows * k];
        mask.par_chunks_mut(k)
            .zip(neighbours.par_chunks(k))
            .zip(items.par_iter())
            .for_each(|((out, nbrs), &i)| {
                let mine = &labels[i as usize * h..(i as usize + 1) * h];
                for (m, &j) in out.iter_mut().zip(nbrs) {
                    let theirs = &labels[j as usize * h..(j as usize + 1) * h];
                    // No early exit: the comparisons of short label rows vectorise.
                    let same = mine
                        .iter()
                        .zip(theirs)
                        .fold(false, |acc, (a, b)| acc | (a == b));
                    *m = f32::from(u8::from(same));
                }
            });
        Ok(Tensor::from_vec(mask, (rows, k), idx.device())?)
    }

    /// The H labels of item `i`.
    fn item(&self, i: usize) -> Option<&[u32]> {
        self.labels
            .get(i * self.n_clusterings..(i + 1) * self.n_clusterings)
    }
}
