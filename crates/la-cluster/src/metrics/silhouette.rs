//! The silhouette coefficient (Rousseeuw 1987): how much closer each point is to its own
//! cluster than to the nearest other one, averaged; a score without labels, for choosing K.

use crate::{Error, Result};

/// The mean silhouette of the rows of `x` (`n` rows of `dim` values, row-major) under the
/// cluster `labels`, with Euclidean distances: for each point, `(b - a) / max(a, b)` where `a`
/// is its mean distance to the other members of its cluster and `b` the smallest mean
/// distance to the members of another cluster; 0 for a point alone in its cluster
/// (scikit-learn's convention). In `[-1, 1]`, higher is better separated.
pub fn silhouette(x: &[f32], dim: usize, labels: &[u32]) -> Result<f64> {
    let n = labels.len();
    if dim == 0 || x.len() != n * dim {
        return Err(Error::LengthMismatch {
            what: "silhouette: data values against labels x dim",
            left: x.len(),
            right: n * dim,
        });
    }
    let k = labels.iter().max().map_or(0, |&m| m as usize + 1);
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l as usize] += 1;
    }
    if sizes.iter().filter(|&&s| s > 0).count() < 2 {
        return Err(Error::TooFewRows {
            input: "silhouette: clusters",
            got: sizes.iter().filter(|&&s| s > 0).count(),
            needed: 2,
        });
    }
    let row = |i: usize| &x[i * dim..(i + 1) * dim];
    let mut total = 0.0;
    let mut sums = vec![0.0f64; k];
    for i in 0..n {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for j in 0..n {
            let d2: f32 = row(i)
                .iter()
                .zip(row(j))
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            sums[labels[j] as usize] += f64::from(d2).sqrt();
        }
        let own = labels[i] as usize;
        if sizes[own] == 1 {
            continue;
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        let m = a.max(b);
        if m > 0.0 {
            total += (b - a) / m;
        }
    }
    Ok(total / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hand_computed_example() {
        // Points on a line: 0, 1 (cluster 0) and 4, 6 (cluster 1).
        // s(0): a = 1, b = (4 + 6) / 2 = 5 -> 0.8; s(1): a = 1, b = 4 -> 0.75;
        // s(4): a = 2, b = (4 + 3) / 2 = 3.5 -> 3/7; s(6): a = 2, b = 5.5 -> 3.5/5.5.
        let x = [0.0, 1.0, 4.0, 6.0];
        let s = silhouette(&x, 1, &[0, 0, 1, 1]).unwrap();
        let expected = (0.8 + 0.75 + 1.5 / 3.5 + 3.5 / 5.5) / 4.0;
        assert!((s - expected).abs() < 1e-12, "{s} vs {expected}");
    }

    #[test]
    fn a_singleton_counts_zero_and_one_cluster_is_an_error() {
        // Cluster 1 is the point 10 alone: its silhouette is 0.
        let x = [0.0, 0.0, 1.0, 0.0, 10.0, 0.0];
        let s = silhouette(&x, 2, &[0, 0, 1]).unwrap();
        let s0 = (10.0 - 1.0) / 10.0;
        let s1 = (9.0 - 1.0) / 9.0;
        assert!((s - (s0 + s1) / 3.0).abs() < 1e-12, "{s}");
        assert!(silhouette(&x, 2, &[0, 0, 0]).is_err());
        assert!(silhouette(&x, 2, &[0, 0]).is_err());
    }
}
