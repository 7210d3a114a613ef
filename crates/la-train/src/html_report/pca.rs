//! Principal component analysis down to two dimensions, in f64: the honest projection of
//! the report's map (distances along its axes are distances in the embedding's leading
//! plane).

use rayon::prelude::*;

/// The projection of a set of vectors on their first two principal axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// (first, second) coordinate of each row, in the units of the vectors.
    pub points: Vec<[f64; 2]>,
    /// The fraction of the total variance along each axis.
    pub explained: [f64; 2],
}

/// Principal component analysis of the `n` rows of `d` values in `rows` (row-major) down to
/// two dimensions: the rows minus their mean, projected on the two leading eigenvectors of
/// their covariance (found by power iteration with deflation, in f64). Each axis is signed
/// so that its largest component is positive, which makes the result deterministic.
pub fn pca_2d(rows: &[f32], d: usize) -> Projection {
    let n = rows.len().checked_div(d).unwrap_or(0);
    if n == 0 {
        return Projection {
            points: Vec::new(),
            explained: [0.0; 2],
        };
    }
    let mut mean = vec![0f64; d];
    for row in rows.chunks_exact(d) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let cov = covariance(rows, &mean, d);
    let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    let (first, l1) = leading_axis(&cov, d, None);
    let mut deflated = cov;
    for i in 0..d {
        for j in 0..d {
            deflated[i * d + j] -= l1 * first[i] * first[j];
        }
    }
    let (second, l2) = leading_axis(&deflated, d, Some(&first));
    let points = rows
        .chunks_exact(d)
        .map(|row| {
            let (mut a, mut b) = (0.0, 0.0);
            for k in 0..d {
                let x = row[k] as f64 - mean[k];
                a += x * first[k];
                b += x * second[k];
            }
            [a, b]
        })
        .collect();
    let share = |l: f64| {
        if trace > 0.0 {
            (l / trace).max(0.0)
        } else {
            0.0
        }
    };
    Projection {
        points,
        explained: [share(l1), share(l2)],
    }
}

/// The d x d covariance (divided by n) of the rows about `mean`, summed in parallel.
fn covariance(rows: &[f32], mean: &[f64], d: usize) -> Vec<f64> {
    let n = rows.len() / d;
    let mut cov = rows
        .par_chunks(d * 256)
        .map(|block| {
            let mut c = vec![0f64; d * d];
            let mut x = vec![0f64; d];
            for row in block.chunks_exact(d) {
                for k in 0..d {
                    x[k] = row[k] as f64 - mean[k];
                }
                for i in 0..d {
                    let xi = x[i];
                    let ci = &mut c[i * d..(i + 1) * d];
                    for j in i..d {
                        ci[j] += xi * x[j];
                    }
                }
            }
            c
        })
        .reduce(
            || vec![0f64; d * d],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        );
    for i in 0..d {
        for j in i..d {
            cov[i * d + j] /= n as f64;
            cov[j * d + i] = cov[i * d + j];
        }
    }
    cov
}

/// The unit eigenvector of the largest eigenvalue of the symmetric `m` and that eigenvalue,
/// by power iteration kept orthogonal to `away` (the axis already found). A zero matrix
/// gives a zero vector.
fn leading_axis(m: &[f64], d: usize, away: Option<&[f64]>) -> (Vec<f64>, f64) {
    const MAX_STEPS: usize = 2000;
    let orthogonal = |v: &mut Vec<f64>| {
        if let Some(a) = away {
            let dot: f64 = v.iter().zip(a).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(a).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-300 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        norm
    };
    // A fixed start with no symmetry, so that it is orthogonal to no eigenvector in practice.
    let mut v: Vec<f64> = (0..d)
        .map(|i| 1.0 + (i as f64 * 0.618_034).fract())
        .collect();
    if orthogonal(&mut v) <= 1e-300 {
        return (vec![0.0; d], 0.0);
    }
    for _ in 0..MAX_STEPS {
        let mut next = times(m, &v, d);
        if orthogonal(&mut next) <= 1e-300 {
            return (vec![0.0; d], 0.0);
        }
        let change: f64 = next.iter().zip(&v).map(|(a, b)| (a - b) * (a - b)).sum();
        v = next;
        if change < 1e-24 {
            break;
        }
    }
    let lambda: f64 = times(m, &v, d).iter().zip(&v).map(|(a, b)| a * b).sum();
    let largest = v.iter().copied().fold(
        0.0f64,
        |best, x| if x.abs() > best.abs() { x } else { best },
    );
    if largest < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    (v, lambda)
}

fn times(m: &[f64], v: &[f64], d: usize) -> Vec<f64> {
    m.chunks_exact(d)
        .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    // Four points about the centre (10, 20): +-2 u and +-1 w, with the orthonormal axes
    // u = (0.6, 0.8) and w = (-0.8, 0.6). By hand: the mean is (10, 20); the covariance is
    // (2 * 4 u u' + 2 * 1 w w') / 4 = 2 u u' + 0.5 w w', eigenvalues 2 and 0.5 of a total
    // variance 2.5 (80 % and 20 %). The first axis is u (largest component 0.8, positive);
    // the second is +-w, signed by its largest component (-0.8) to (0.8, -0.6). So the
    // points project to (2, 0), (-2, 0), (0, -1) and (0, 1).
    #[test]
    fn pca_of_a_hand_computed_example() {
        let rows = [11.2f32, 21.6, 8.8, 18.4, 9.2, 20.6, 10.8, 19.4];
        let p = pca_2d(&rows, 2);
        let expected = [[2.0, 0.0], [-2.0, 0.0], [0.0, -1.0], [0.0, 1.0]];
        for (got, want) in p.points.iter().zip(expected) {
            assert!(
                (got[0] - want[0]).abs() < 1e-5 && (got[1] - want[1]).abs() < 1e-5,
                "{got:?} vs {want:?}"
            );
        }
        assert!(
            (p.explained[0] - 0.8).abs() < 1e-6 && (p.explained[1] - 0.2).abs() < 1e-6,
            "{:?}",
            p.explained
        );
    }

    // The same four points lifted into 3-D on the plane z = 5 (no variance along z): the
    // third dimension changes nothing.
    #[test]
    fn pca_ignores_a_constant_dimension_and_handles_degenerate_input() {
        let rows = [
            11.2f32, 5.0, 21.6, 8.8, 5.0, 18.4, 9.2, 5.0, 20.6, 10.8, 5.0, 19.4,
        ];
        let p = pca_2d(&rows, 3);
        assert!((p.points[0][0] - 2.0).abs() < 1e-5 && p.points[0][1].abs() < 1e-5);
        assert!((p.points[2][1] + 1.0).abs() < 1e-5, "{:?}", p.points);
        // All rows the same: every point at the origin, nothing explained.
        let same = pca_2d(&[1.0, 2.0, 1.0, 2.0], 2);
        assert_eq!(same.points, vec![[0.0, 0.0]; 2]);
        assert_eq!(same.explained, [0.0, 0.0]);
        // One dimension: the second axis is empty.
        let line = pca_2d(&[1.0, 3.0], 1);
        assert!(close(line.points[0][0], -1.0) && close(line.points[1][0], 1.0));
        assert!(close(line.explained[0], 1.0) && close(line.explained[1], 0.0));
        assert!(pca_2d(&[], 4).points.is_empty());
    }
}
