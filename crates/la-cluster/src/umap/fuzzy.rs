//! UMAP's fuzzy simplicial set: each point's neighbour distances turned into membership
//! strengths with a local scale, then the fuzzy union of the directed graph and its transpose.

use rayon::prelude::*;

use crate::graph::Graph;

/// Iterations of the binary search for each point's scale.
const SEARCH_STEPS: usize = 64;
/// Accuracy of the scale's target sum.
const TOLERANCE: f64 = 1e-5;
/// Smallest scale, as a fraction of the mean neighbour distance.
const MIN_SCALE: f64 = 1e-3;

/// `(rho, sigma)` of one point from the distances to its neighbours (itself excluded,
/// ascending): `rho` is the nearest positive distance, `sigma` makes
/// `sum_j exp(-max(0, d_j - rho) / sigma)` equal `log2(k + 1)` (umap-learn's
/// `smooth_knn_dist` with one neighbour of local connectivity, whose lists hold the point
/// itself).
pub fn local_scale(distances: &[f64], mean_all: f64) -> (f64, f64) {
    let target = ((distances.len() + 1) as f64).log2();
    let rho = distances.iter().copied().find(|&d| d > 0.0).unwrap_or(0.0);
    let (mut lo, mut hi, mut mid) = (0.0, f64::INFINITY, 1.0);
    for _ in 0..SEARCH_STEPS {
        let sum: f64 = distances
            .iter()
            .map(|&d| {
                let excess = d - rho;
                if excess > 0.0 {
                    (-excess / mid).exp()
                } else {
                    1.0
                }
            })
            .sum();
        if (sum - target).abs() < TOLERANCE {
            break;
        }
        if sum > target {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = if hi.is_finite() {
                (lo + hi) / 2.0
            } else {
                mid * 2.0
            };
        }
    }
    let mean = if rho > 0.0 {
        distances.iter().sum::<f64>() / (distances.len() + 1) as f64
    } else {
        mean_all
    };
    (rho, mid.max(MIN_SCALE * mean))
}

/// The fuzzy union `A + A^T - A * A^T` of the memberships
/// `A_ij = exp(-max(0, d_ij - rho_i) / sigma_i)` of every point `i` to its neighbours `j`.
pub fn fuzzy_graph(neighbours: &[Vec<u32>], distances: &[Vec<f64>]) -> Graph {
    let n = neighbours.len();
    let count: usize = distances.iter().map(Vec::len).sum();
    // Self included in each list, as umap-learn's mean over its kNN distance matrix.
    let mean_all = distances.iter().flatten().sum::<f64>() / (count + n).max(1) as f64;
    let directed: Vec<Vec<(u32, f64)>> = neighbours
        .par_iter()
        .zip(distances)
        .map(|(ids, ds)| {
            let (rho, sigma) = local_scale(ds, mean_all);
            ids.iter()
                .zip(ds)
                .map(|(&j, &d)| {
                    let excess = d - rho;
                    let w = if excess <= 0.0 || sigma == 0.0 {
                        1.0
                    } else {
                        (-excess / sigma).exp()
                    };
                    (j, w)
                })
                .collect()
        })
        .collect();
    let a = Graph::from_rows(directed.clone());
    let mut rows: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
    for (i, list) in directed.iter().enumerate() {
        for &(j, w) in list {
            // Each unordered pair once from each side: from i's list, and from j's list only
            // when i is in it (otherwise i's side adds j's edge too).
            match a.weight(j as usize, i) {
                Some(back) => rows[i].push((j, w + back - w * back)),
                None => {
                    rows[i].push((j, w));
                    rows[j as usize].push((i as u32, w));
                }
            }
        }
    }
    Graph::from_rows(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_makes_the_memberships_sum_to_log2_k() {
        let d = [0.2, 0.25, 0.4, 0.7, 1.1];
        let (rho, sigma) = local_scale(&d, 0.5);
        assert_eq!(rho, 0.2);
        let sum: f64 = d.iter().map(|x| (-(x - rho).max(0.0) / sigma).exp()).sum();
        assert!((sum - 6f64.log2()).abs() < 1e-4, "{sum}");
    }

    #[test]
    fn the_union_matches_the_dense_formula() {
        // Three points with made-up neighbour lists and distances.
        let ids = vec![vec![1, 2], vec![0, 2], vec![1, 0]];
        let ds = vec![vec![0.1, 0.5], vec![0.1, 0.3], vec![0.3, 0.5]];
        let g = fuzzy_graph(&ids, &ds);
        let mean_all = (0.1 + 0.5 + 0.1 + 0.3 + 0.3 + 0.5) / 9.0;
        let mut a = [[0.0; 3]; 3];
        for i in 0..3 {
            let (rho, sigma) = local_scale(&ds[i], mean_all);
            for (k, &j) in ids[i].iter().enumerate() {
                a[i][j as usize] = (-(ds[i][k] - rho).max(0.0) / sigma).exp();
            }
        }
        for (i, row) in a.iter().enumerate() {
            for (j, &aij) in row.iter().enumerate() {
                let want = aij + a[j][i] - aij * a[j][i];
                let got = g.weight(i, j).unwrap_or(0.0);
                assert!((got - want).abs() < 1e-12, "({i},{j}) {got} vs {want}");
            }
        }
    }
}
