//! The adjusted Rand index.

use super::confusion::ConfusionMatrix;
use crate::Result;

/// Adjusted Rand index: the Rand index (agreement over all pairs of samples) corrected for
/// chance, as scikit-learn's `adjusted_rand_score` (1 for identical partitions, also when all
/// pairs agree trivially). In [-0.5, 1]; about 0 for random labellings; symmetric.
///
/// ```
/// // 15 pairs: 3 together in truth, 4 together in pred, 2 in both.
/// // Expected by chance 3 * 4 / 15 = 0.8; ARI = (2 - 0.8) / ((3 + 4) / 2 - 0.8) = 4/9.
/// let ari = la_cluster::ari(&[0, 0, 1, 1, 2, 2], &[1, 1, 0, 0, 0, 2])?;
/// assert!((ari - 4.0 / 9.0).abs() < 1e-15);
/// # Ok::<(), la_cluster::Error>(())
/// ```
pub fn ari(truth: &[u32], pred: &[u32]) -> Result<f64> {
    let m = ConfusionMatrix::new("ARI", truth, pred)?;
    // scikit-learn's pair confusion matrix, in exact integers (products reach n^4).
    let n = i128::from(m.n_samples());
    let sum_squares: i128 = m
        .counts()
        .iter()
        .map(|&c| i128::from(c) * i128::from(c))
        .sum();
    let squares =
        |sizes: Vec<u64>| -> i128 { sizes.iter().map(|&s| i128::from(s) * i128::from(s)).sum() };
    let tp = sum_squares - n;
    let fp = squares(m.cluster_sizes()) - sum_squares;
    let fn_ = squares(m.class_sizes()) - sum_squares;
    let tn = n * n - fp - fn_ - sum_squares;
    if fn_ == 0 && fp == 0 {
        return Ok(1.0);
    }
    let numerator = tp * tn - fn_ * fp;
    let denominator = (tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn);
    Ok(2.0 * numerator as f64 / denominator as f64)
}
