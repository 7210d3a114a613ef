//! The curve `1 / (1 + a d^(2b))` that UMAP's layout uses for the similarity of two points at
//! distance `d`, fitted to the target that `min_dist` and `spread` describe.

/// `(a, b)` of the least-squares fit of `1 / (1 + a x^(2b))` to `1` for `x < min_dist` and
/// `exp(-(x - min_dist) / spread)` beyond, on 300 points of `[0, 3 spread]` (umap-learn's
/// `find_ab_params`), by Levenberg-Marquardt from `(1, 1)`.
pub fn fit_ab(min_dist: f64, spread: f64) -> (f64, f64) {
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let target = |x: f64| {
        if x < min_dist {
            1.0
        } else {
            (-(x - min_dist) / spread).exp()
        }
    };
    let cost = |a: f64, b: f64| -> f64 {
        xs.iter()
            .map(|&x| (curve(a, b, x) - target(x)).powi(2))
            .sum()
    };
    let (mut a, mut b, mut lambda) = (1.0f64, 1.0f64, 1e-3);
    let mut current = cost(a, b);
    for _ in 0..500 {
        // Normal equations of the linearised residuals r(x) = curve - target.
        let (mut jtj, mut jtr) = ([[0.0; 2]; 2], [0.0; 2]);
        for &x in &xs {
            let r = curve(a, b, x) - target(x);
            let g = gradient(a, b, x);
            for p in 0..2 {
                jtr[p] += g[p] * r;
                for q in 0..2 {
                    jtj[p][q] += g[p] * g[q];
                }
            }
        }
        let m = [
            [jtj[0][0] * (1.0 + lambda), jtj[0][1]],
            [jtj[1][0], jtj[1][1] * (1.0 + lambda)],
        ];
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        if det.abs() < 1e-300 {
            break;
        }
        let da = -(m[1][1] * jtr[0] - m[0][1] * jtr[1]) / det;
        let db = -(m[0][0] * jtr[1] - m[1][0] * jtr[0]) / det;
        let next = cost(a + da, b + db);
        if next < current {
            let settled = current - next < 1e-15 * current.max(1e-300);
            (a, b, current) = (a + da, b + db, next);
            lambda = (lambda / 10.0).max(1e-12);
            if settled {
                break;
            }
        } else {
            lambda *= 10.0;
            if lambda > 1e12 {
                break;
            }
        }
    }
    (a, b)
}

/// `1 / (1 + a x^(2b))`.
fn curve(a: f64, b: f64, x: f64) -> f64 {
    1.0 / (1.0 + a * x.powf(2.0 * b))
}

/// Its derivatives by `a` and `b`.
fn gradient(a: f64, b: f64, x: f64) -> [f64; 2] {
    if x <= 0.0 {
        return [0.0, 0.0];
    }
    let p = x.powf(2.0 * b);
    let s = (1.0 + a * p).powi(2);
    [-p / s, -a * p * 2.0 * x.ln() / s]
}

#[cfg(test)]
mod tests {
    use super::*;

    // umap-learn 0.5.12 (scipy's curve_fit):
    //   from umap.umap_ import find_ab_params
    //   find_ab_params(1.0, 0.0) == (1.93280839734315, 0.7904949732233831)
    //   find_ab_params(1.0, 0.1) == (1.5769434602697652, 0.8950608778515733)
    //   find_ab_params(1.0, 0.5) == (0.5830300203414425, 1.3341669924314914)
    #[test]
    fn matches_umap_learn() {
        for (min_dist, a_ref, b_ref) in [
            (0.0, 1.93280839734315, 0.7904949732233831),
            (0.1, 1.5769434602697652, 0.8950608778515733),
            (0.5, 0.5830300203414425, 1.3341669924314914),
        ] {
            let (a, b) = fit_ab(min_dist, 1.0);
            assert!((a - a_ref).abs() < 1e-4, "{min_dist}: a {a} vs {a_ref}");
            assert!((b - b_ref).abs() < 1e-4, "{min_dist}: b {b} vs {b_ref}");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (a, b, x, h) = (1.7, 0.8, 0.6, 1e-6);
        let g = gradient(a, b, x);
        let da = (curve(a + h, b, x) - curve(a - h, b, x)) / (2.0 * h);
        let db = (curve(a, b + h, x) - curve(a, b - h, x)) / (2.0 * h);
        assert!((g[0] - da).abs() < 1e-8 && (g[1] - db).abs() < 1e-8);
    }
}
