//! Normalised mutual information.

use super::confusion::ConfusionMatrix;
use crate::Result;

/// Normalised mutual information with arithmetic-mean normalisation,
/// `MI(truth, pred) / ((H(truth) + H(pred)) / 2)` in nats, exactly as scikit-learn's
/// `normalized_mutual_info_score` (its default `average_method="arithmetic"`), special cases
/// included: 1 when both labellings have a single label, 0 when the mutual information is 0.
/// In [0, 1]; symmetric; invariant to renaming labels.
///
/// ```
/// // Contingency [[2, 0], [1, 1]] over 4 samples:
/// // MI = 1/2 ln(4/3) + 1/4 ln(2/3) + 1/4 ln 2, H(truth) = ln 2,
/// // H(pred) = -(3/4 ln 3/4 + 1/4 ln 1/4).
/// let mi = 0.5 * (4f64 / 3.).ln() + 0.25 * (2f64 / 3.).ln() + 0.25 * 2f64.ln();
/// let h = (2f64.ln() - (0.75 * 0.75f64.ln() + 0.25 * 0.25f64.ln())) / 2.;
/// let nmi = la_cluster::nmi(&[0, 0, 1, 1], &[0, 0, 0, 1])?;
/// assert!((nmi - mi / h).abs() < 1e-15 && (nmi - 0.343711018485).abs() < 1e-12);
/// # Ok::<(), la_cluster::Error>(())
/// ```
pub fn nmi(truth: &[u32], pred: &[u32]) -> Result<f64> {
    let m = ConfusionMatrix::new("NMI", truth, pred)?;
    let (rows, cols) = (m.class_sizes(), m.cluster_sizes());
    if rows.len() == 1 && cols.len() == 1 {
        return Ok(1.0);
    }
    let mi = mutual_information(&m, &rows, &cols);
    if mi == 0.0 {
        return Ok(0.0);
    }
    Ok(mi / ((entropy(&rows) + entropy(&cols)) / 2.0))
}

/// The mutual information in nats, term by term as scikit-learn computes it (terms below
/// machine epsilon dropped, the total clipped at 0).
fn mutual_information(m: &ConfusionMatrix, rows: &[u64], cols: &[u64]) -> f64 {
    if rows.len() == 1 || cols.len() == 1 {
        return 0.0;
    }
    let n = m.n_samples() as f64;
    let log_n = n.ln();
    let mut mi = 0.0;
    for (r, &a) in rows.iter().enumerate() {
        for (c, &b) in cols.iter().enumerate() {
            let nij = m.at(r, c);
            if nij == 0 {
                continue;
            }
            let p = nij as f64 / n;
            let log_outer = -((a * b) as f64).ln() + log_n + log_n;
            let term = p * ((nij as f64).ln() - log_n) + p * log_outer;
            if term.abs() >= f64::EPSILON {
                mi += term;
            }
        }
    }
    mi.max(0.0)
}

/// The entropy in nats of a labelling with these label counts.
fn entropy(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let nonzero: Vec<f64> = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64)
        .collect();
    if nonzero.len() <= 1 {
        return 0.0;
    }
    let (total, log_total) = (total as f64, (total as f64).ln());
    -nonzero
        .iter()
        .map(|&c| (c / total) * (c.ln() - log_total))
        .sum::<f64>()
}
