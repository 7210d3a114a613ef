//! The final clustering of a run's embeddings and, where labels are known, its scores.

use candle_core::{DType, Tensor};
use la_cluster::{
    CosineBank, KMeans, NearestNeighbours, Neighbours, Umap, WeightedKnn, ari, clustering_accuracy,
    nmi, purity, silhouette,
};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::config::ClusterMethod;
use crate::embed::Embedded;

/// Agreement of a clustering with the known labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Accuracy under the best one-to-one matching of clusters to classes.
    pub acc: f64,
    /// Normalised mutual information (arithmetic mean).
    pub nmi: f64,
    /// Adjusted Rand index.
    pub ari: f64,
    /// Purity.
    pub purity: f64,
}

impl Scores {
    /// The scores of `pred` against `truth`.
    pub fn of(truth: &[u32], pred: &[u32]) -> Result<Self> {
        Ok(Scores {
            acc: clustering_accuracy(truth, pred)?,
            nmi: nmi(truth, pred)?,
            ari: ari(truth, pred)?,
            purity: purity(truth, pred)?,
        })
    }
}

/// k-means of a set of vectors, with each item's distance and confidence.
#[derive(Debug, Clone)]
pub struct FinalClustering {
    /// The item of each entry.
    pub items: Vec<usize>,
    /// Cluster of each entry.
    pub clusters: Vec<u32>,
    /// Euclidean distance of each entry to its centroid.
    pub distances: Vec<f32>,
    /// `1 - d1 / d2` with d1, d2 the distances to the nearest and second-nearest centroids:
    /// 1 at the centroid, 0 on the border between two clusters.
    pub confidence: Vec<f32>,
    /// Number of clusters.
    pub k: usize,
    /// The method used: the one asked for, or k-means where too few items make a UMAP
    /// neighbourhood.
    pub method: ClusterMethod,
    /// Sum of squared distances.
    pub inertia: f64,
}

/// How `--clusters auto` chose K: the criterion's value at every candidate K.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KChoice {
    /// The criterion, in words (e.g. `silhouette (cosine) on 2,000 items`).
    pub criterion: String,
    /// (K, value) for every K tried, in increasing K.
    pub curve: Vec<(usize, f64)>,
    /// The K chosen.
    pub chosen: usize,
}

/// Clusters the rows of `embedded` into `k` groups by `method`, its k-means with k-means++
/// and `n_runs` restarts. Distances and confidences are measured where k-means ran (the UMAP
/// layout for [`ClusterMethod::Umap`]). With no more items than UMAP's neighbours there is no
/// neighbourhood to lay out, and k-means runs on the embeddings themselves.
pub fn cluster(
    embedded: &Embedded,
    k: usize,
    method: ClusterMethod,
    n_runs: usize,
    seed: u64,
) -> Result<FinalClustering> {
    let space = Space::of(embedded, method, seed)?;
    space.cluster(k, n_runs, seed)
}

/// Where k-means runs: the embeddings, or their UMAP layout.
pub struct Space {
    items: Vec<usize>,
    x: Tensor,
    method: ClusterMethod,
}

impl Space {
    /// The space of `method` for `embedded` (the layout is computed once, for every K).
    pub fn of(embedded: &Embedded, method: ClusterMethod, seed: u64) -> Result<Self> {
        let vectors = embedded.vectors.to_dtype(DType::F32)?;
        let method = match method {
            ClusterMethod::Umap { neighbours, .. } if vectors.dim(0)? <= neighbours => {
                ClusterMethod::KMeans
            }
            m => m,
        };
        let x = match method {
            ClusterMethod::KMeans => vectors,
            ClusterMethod::Umap { dim, neighbours } => Umap::params(dim)
                .neighbours(neighbours)
                .min_dist(0.0)
                .seed(seed)
                .fit(&vectors)?
                .to_device(vectors.device())?,
        };
        Ok(Space {
            items: embedded.items.clone(),
            x,
            method,
        })
    }

    /// k-means with `k` clusters and `n_runs` restarts in this space.
    pub fn cluster(&self, k: usize, n_runs: usize, seed: u64) -> Result<FinalClustering> {
        let model = KMeans::params(k).n_runs(n_runs).seed(seed).fit(&self.x)?;
        let (distances, confidence) = distances_and_confidence(&self.x, model.centroids())?;
        Ok(FinalClustering {
            items: self.items.clone(),
            clusters: model.labels().to_vec(),
            distances,
            confidence,
            k,
            inertia: model.inertia(),
            method: self.method,
        })
    }

    /// K chosen by the mean silhouette (on at most 2,000 evenly spaced rows) of k-means with
    /// 3 restarts, for every K from 2 to min(30, N / 10): the best separated clustering.
    pub fn choose_k(&self, seed: u64) -> Result<KChoice> {
        let n = self.items.len();
        let max_k = (n / 10).clamp(2, 30).min(n);
        let m = n.min(2000);
        let rows: Vec<usize> = (0..m).map(|i| i * n / m).collect();
        let index = Tensor::from_vec(
            rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
            m,
            self.x.device(),
        )?;
        let sample: Vec<f32> = self.x.index_select(&index, 0)?.flatten_all()?.to_vec1()?;
        let dim = self.x.dim(1)?;
        let mut curve = Vec::new();
        for k in 2..=max_k {
            let labels = KMeans::params(k)
                .n_runs(3)
                .seed(seed)
                .fit(&self.x)?
                .labels()
                .to_vec();
            let sampled: Vec<u32> = rows.iter().map(|&r| labels[r]).collect();
            // A sample that misses all but one cluster says nothing about this K.
            if let Ok(s) = silhouette(&sample, dim, &sampled) {
                curve.push((k, s));
            }
        }
        let chosen = curve
            .iter()
            .copied()
            .fold(None, |best: Option<(usize, f64)>, (k, s)| match best {
                Some((_, b)) if b >= s => best,
                _ => Some((k, s)),
            })
            // No K to compare (a single item): one cluster.
            .map_or(max_k.max(1), |(k, _)| k);
        Ok(KChoice {
            criterion: format!(
                "mean silhouette (Euclidean, in the clustering's space) on {m} items"
            ),
            curve,
            chosen,
        })
    }
}

/// Distance to the nearest centroid and the confidence of every row.
fn distances_and_confidence(x: &Tensor, centroids: &Tensor) -> Result<(Vec<f32>, Vec<f32>)> {
    let c = centroids.to_dtype(DType::F32)?;
    let d2 = x
        .sqr()?
        .sum_keepdim(1)?
        .broadcast_add(&c.sqr()?.sum_keepdim(1)?.t()?)?
        .sub(&(la_ops::matmul(x, &c.t()?)? * 2.0)?)?
        .relu()?;
    let rows: Vec<Vec<f32>> = d2.sqrt()?.to_vec2()?;
    Ok(rows
        .iter()
        .map(|r| {
            let (mut d1, mut d2) = (f32::INFINITY, f32::INFINITY);
            for &d in r {
                if d < d1 {
                    (d1, d2) = (d, d1);
                } else if d < d2 {
                    d2 = d;
                }
            }
            let conf = if d2.is_finite() && d2 > 0.0 {
                1.0 - d1 / d2
            } else {
                1.0
            };
            (d1, conf)
        })
        .unzip())
}

/// Leave-one-out weighted kNN accuracy (Wu et al. 2018): every item's label is predicted from
/// its `k` most similar other items, each voting with weight `exp(sim / tau)`.
pub fn knn_accuracy(embedded: &Embedded, truth: &[u32], k: usize, tau: f64) -> Result<f64> {
    let n = embedded.items.len();
    if n < 2 {
        return Ok(0.0);
    }
    let k = k.min(n - 1);
    let bank = CosineBank::new(&embedded.vectors.to_dtype(DType::F32)?)?;
    let nn = bank.k_nearest(bank.bank(), k + 1)?;
    let without_self = drop_self(&nn, k)?;
    let predicted = WeightedKnn::new(k, tau)?.vote(&without_self, truth)?;
    let right = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    Ok(right as f64 / n as f64)
}

/// The first `k` neighbours of each row other than the row itself.
fn drop_self(nn: &Neighbours, k: usize) -> Result<Neighbours> {
    let ids: Vec<Vec<u32>> = nn.indices.to_vec2()?;
    let sims: Vec<Vec<f32>> = nn.similarities.to_dtype(DType::F32)?.to_vec2()?;
    let (mut keep_ids, mut keep_sims) = (Vec::new(), Vec::new());
    for (row, (ids, sims)) in ids.iter().zip(&sims).enumerate() {
        let kept: Vec<(u32, f32)> = ids
            .iter()
            .zip(sims)
            .filter(|(i, _)| **i as usize != row)
            .map(|(i, s)| (*i, *s))
            .take(k)
            .collect();
        keep_ids.extend(kept.iter().map(|p| p.0));
        keep_sims.extend(kept.iter().map(|p| p.1));
    }
    let n = ids.len();
    let device = nn.indices.device();
    Ok(Neighbours {
        indices: Tensor::from_vec(keep_ids, (n, k), device)?,
        similarities: Tensor::from_vec(keep_sims, (n, k), device)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn embedded(n: usize) -> Embedded {
        // Two tight groups far apart.
        let rows: Vec<f32> = (0..n)
            .flat_map(|i| {
                let centre = if i % 2 == 0 { 0.0 } else { 10.0 };
                [centre + 0.01 * i as f32, centre - 0.01 * i as f32, 1.0]
            })
            .collect();
        Embedded {
            items: (0..n).collect(),
            vectors: Tensor::from_vec(rows, (n, 3), &Device::Cpu).unwrap(),
            n_items: n,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn too_few_items_for_a_umap_neighbourhood_fall_back_to_k_means() {
        let small = embedded(15);
        let c = cluster(&small, 2, ClusterMethod::UMAP, 2, 0).unwrap();
        assert_eq!(c.method, ClusterMethod::KMeans);
        let plain = cluster(&small, 2, ClusterMethod::KMeans, 2, 0).unwrap();
        assert_eq!(c.clusters, plain.clusters);
        // The two groups are found: even items together, odd items together.
        assert!((0..15).all(|i| (c.clusters[i] == c.clusters[0]) == (i % 2 == 0)));
        let larger = cluster(&embedded(16), 2, ClusterMethod::UMAP, 2, 0).unwrap();
        assert_eq!(larger.method, ClusterMethod::UMAP);
    }

    #[test]
    fn choosing_k_for_one_item_gives_one_cluster() {
        let one = embedded(1);
        let space = Space::of(&one, ClusterMethod::KMeans, 0).unwrap();
        let choice = space.choose_k(0).unwrap();
        assert_eq!((choice.chosen, choice.curve.len()), (1, 0));
        let two_groups = Space::of(&embedded(40), ClusterMethod::KMeans, 0).unwrap();
        assert_eq!(two_groups.choose_k(0).unwrap().chosen, 2);
    }
}
