//! k-means against scikit-learn fixtures, naive loops and known blobs.

use candle_core::{DType, Device, Tensor};
use la_cluster::{Error, Init, KMeans, KMeansParams, Metric, ParamsError, clustering_accuracy};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;

fn matrix(rows: &[Vec<f32>]) -> Tensor {
    let d = rows[0].len();
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_vec(flat, (rows.len(), d), &Device::Cpu).unwrap()
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2().unwrap()
}

/// `centres.len()` well-separated Gaussian blobs of `per` points each, and their labels.
fn blobs(seed: u64, centres: &[Vec<f32>], per: usize, spread: f32) -> (Vec<Vec<f32>>, Vec<u32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (c, centre) in centres.iter().enumerate() {
        for _ in 0..per {
            x.push(
                centre
                    .iter()
                    .map(|&v| v + spread * rng.random_range(-1.0f32..1.0))
                    .collect(),
            );
            y.push(c as u32);
        }
    }
    (x, y)
}

fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x - y).powi(2))
        .sum()
}

/// Checks a fitted Euclidean model with plain loops: every label is a nearest centroid, every
/// distance and the inertia are right, and every centroid is the mean of its points.
fn check_consistent(x: &[Vec<f32>], model: &KMeans) {
    let c = rows(model.centroids());
    let mut inertia = 0.0;
    for (i, p) in x.iter().enumerate() {
        let d: Vec<f64> = c.iter().map(|c| sq_dist(p, c)).collect();
        let best = d.iter().cloned().fold(f64::INFINITY, f64::min);
        let l = model.labels()[i] as usize;
        assert!(
            d[l] <= best + 1e-3 * (1.0 + best),
            "point {i} is not at its nearest centroid"
        );
        assert!((f64::from(model.distances()[i]) - d[l]).abs() <= 1e-3 * (1.0 + d[l]));
        inertia += d[l];
    }
    assert!((model.inertia() - inertia).abs() <= 1e-4 * inertia.max(1.0));
    for (j, centre) in c.iter().enumerate() {
        let members: Vec<&Vec<f32>> = x
            .iter()
            .zip(model.labels())
            .filter(|(_, l)| **l as usize == j)
            .map(|(p, _)| p)
            .collect();
        assert!(!members.is_empty(), "cluster {j} is empty");
        for (t, &v) in centre.iter().enumerate() {
            let mean = members.iter().map(|p| f64::from(p[t])).sum::<f64>() / members.len() as f64;
            assert!(
                (f64::from(v) - mean).abs() <= 1e-3 * (1.0 + mean.abs()),
                "centroid {j}"
            );
        }
    }
}

#[test]
fn inertia_within_one_percent_of_scikit_learn() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kmeans.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    for case in fixture["cases"].as_array().unwrap() {
        let x: Vec<Vec<f32>> = case["x"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect();
        let k = case["k"].as_u64().unwrap() as usize;
        let expected = case["inertia"].as_f64().unwrap();
        for seed in 0..3 {
            let model = KMeans::params(k)
                .n_runs(10)
                .seed(seed)
                .fit(&matrix(&x))
                .unwrap();
            let name = case["name"].as_str().unwrap();
            assert!(
                model.inertia() <= expected * 1.01,
                "{name}, seed {seed}: inertia {} against scikit-learn's {expected}",
                model.inertia()
            );
            check_consistent(&x, &model);
        }
    }
}

#[test]
fn recovers_separated_blobs_exactly() {
    let centres = vec![
        vec![0f32, 0., 0.],
        vec![20., 0., 0.],
        vec![0., 20., 5.],
        vec![-20., -20., 9.],
    ];
    let (x, y) = blobs(1, &centres, 40, 1.0);
    for init in [Init::KMeansPlusPlus, Init::Random] {
        let model = KMeans::params(4)
            .init(init)
            .seed(3)
            .fit(&matrix(&x))
            .unwrap();
        assert_eq!(
            clustering_accuracy(&y, model.labels()).unwrap(),
            1.0,
            "{init:?}"
        );
        check_consistent(&x, &model);
    }
}

#[test]
fn same_seed_same_result_and_fit_many_matches_fit() {
    let centres = vec![vec![0f32, 0.], vec![3., 0.], vec![0., 3.]];
    let (x, _) = blobs(2, &centres, 50, 2.0);
    let x = matrix(&x);
    let p = KMeans::params(5).n_runs(3).seed(11);
    let (a, b) = (p.fit(&x).unwrap(), p.fit(&x).unwrap());
    assert_eq!(a.labels(), b.labels());
    assert_eq!(rows(a.centroids()), rows(b.centroids()));
    let many = p.fit_many(&x, 3).unwrap();
    assert_eq!(many.len(), 3);
    for (i, m) in many.iter().enumerate() {
        let single = p.clone().seed(11 + i as u64).fit(&x).unwrap();
        assert_eq!(m.labels(), single.labels(), "clustering {i}");
        assert_eq!(m.inertia(), single.inertia());
    }
    // Smaller chunks of points change nothing.
    let chunked = p.clone().chunk_size(7).fit(&x).unwrap();
    assert_eq!(chunked.labels(), a.labels());
    assert!((chunked.inertia() - a.inertia()).abs() <= 1e-9 * a.inertia());
}

#[test]
fn empty_clusters_are_reseeded() {
    // Eight copies of one point: random initialisations often pick two of them, leaving a
    // cluster empty; re-seeding at the farthest point still reaches the zero-inertia optimum.
    let x: Vec<Vec<f32>> = (0..10)
        .map(|i| vec![[0., 0., 0., 0., 0., 0., 0., 0., 5., 10.][i]])
        .collect();
    for seed in 0..20 {
        let model = KMeans::params(3)
            .init(Init::Random)
            .n_runs(1)
            .seed(seed)
            .fit(&matrix(&x))
            .unwrap();
        assert_eq!(model.inertia(), 0.0, "seed {seed}");
        let mut c: Vec<f32> = rows(model.centroids()).into_iter().flatten().collect();
        c.sort_by(f32::total_cmp);
        assert_eq!(c, [0., 5., 10.], "seed {seed}");
    }
}

#[test]
fn max_iter_and_tolerance_stop_early() {
    let (x, _) = blobs(4, &[vec![0f32, 0.], vec![1., 1.]], 100, 3.0);
    let x = matrix(&x);
    let one = KMeans::params(6).n_runs(1).max_iter(1).fit(&x).unwrap();
    assert_eq!(one.n_iter(), 1);
    let loose = KMeans::params(6).n_runs(1).tolerance(10.0).fit(&x).unwrap();
    let tight = KMeans::params(6).n_runs(1).tolerance(0.0).fit(&x).unwrap();
    assert!(
        loose.n_iter() < tight.n_iter(),
        "{} vs {}",
        loose.n_iter(),
        tight.n_iter()
    );
    assert!(tight.inertia() <= loose.inertia());
}

#[test]
fn predict_and_assign_use_the_nearest_centroid() {
    let (x, _) = blobs(5, &[vec![0f32, 0.], vec![6., 6.], vec![0., 8.]], 30, 2.0);
    let model = KMeans::params(3).seed(2).fit(&matrix(&x)).unwrap();
    let (train_labels, train_dist) = model.assign(&matrix(&x)).unwrap();
    assert_eq!(train_labels, model.labels());
    assert_eq!(train_dist, model.distances());
    let new = vec![vec![5f32, 5.], vec![-1., 9.], vec![100., -3.]];
    let c = rows(model.centroids());
    let (labels, dist) = model.assign(&matrix(&new)).unwrap();
    for (i, p) in new.iter().enumerate() {
        let d: Vec<f64> = c.iter().map(|c| sq_dist(p, c)).collect();
        let best = (0..3).fold(0, |b, j| if d[j] < d[b] { j } else { b });
        assert_eq!(labels[i] as usize, best);
        assert!((f64::from(dist[i]) - d[best]).abs() <= 1e-3 * d[best].max(1.0));
    }
    assert_eq!(model.predict(&matrix(&new)).unwrap(), labels);
    // f64 input is accepted and computed in f32.
    assert_eq!(
        model
            .predict(&matrix(&new).to_dtype(DType::F64).unwrap())
            .unwrap(),
        labels
    );
}

#[test]
fn spherical_kmeans_uses_cosine() {
    // Directions around three axes with random lengths: only the angle should matter.
    let mut rng = StdRng::seed_from_u64(6);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..90 {
        let axis = i % 3;
        let len = rng.random_range(0.1f32..10.0);
        let mut v: Vec<f32> = (0..3).map(|_| rng.random_range(-0.2f32..0.2)).collect();
        v[axis] += 1.0;
        x.push(v.iter().map(|a| a * len).collect::<Vec<f32>>());
        y.push(axis as u32);
    }
    let model = KMeans::params(3)
        .metric(Metric::Cosine)
        .seed(1)
        .fit(&matrix(&x))
        .unwrap();
    assert_eq!(clustering_accuracy(&y, model.labels()).unwrap(), 1.0);
    let c = rows(model.centroids());
    let unit = |v: &[f32]| {
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter().map(|a| a / n).collect::<Vec<f32>>()
    };
    let mut inertia = 0.0;
    for (i, p) in x.iter().enumerate() {
        let p = unit(p);
        let cos: Vec<f32> = c
            .iter()
            .map(|c| c.iter().zip(&p).map(|(a, b)| a * b).sum())
            .collect();
        let l = model.labels()[i] as usize;
        assert!(cos.iter().all(|&v| v <= cos[l] + 1e-5));
        assert!((model.distances()[i] - (1.0 - cos[l])).abs() < 1e-5);
        inertia += f64::from(1.0 - cos[l]);
    }
    assert!((model.inertia() - inertia).abs() < 1e-4);
    for (j, centre) in c.iter().enumerate() {
        let mut sum = [0f32; 3];
        for (p, &l) in x.iter().zip(model.labels()) {
            if l as usize == j {
                for (s, v) in sum.iter_mut().zip(unit(p)) {
                    *s += v;
                }
            }
        }
        for (a, b) in centre.iter().zip(unit(&sum)) {
            assert!(
                (a - b).abs() < 1e-5,
                "centroid {j} is not the normalised mean"
            );
        }
    }
}

#[test]
fn bad_parameters_and_data_are_errors() {
    let x = matrix(&[vec![0f32, 1.], vec![2., 3.], vec![4., 5.]]);
    let cases = [
        (KMeans::params(0), ParamsError::NClusters),
        (KMeans::params(2).n_runs(0), ParamsError::NRuns),
        (KMeans::params(2).max_iter(0), ParamsError::MaxIter),
        (
            KMeans::params(2).tolerance(-1.0),
            ParamsError::Tolerance(-1.0),
        ),
        (KMeans::params(2).chunk_size(0), ParamsError::ChunkSize),
    ];
    for (p, expected) in cases {
        assert_eq!(p.check().unwrap_err(), expected);
        assert!(matches!(p.fit(&x), Err(Error::Params(e)) if e == expected));
    }
    assert!(KMeans::params(2).tolerance(f64::NAN).check().is_err());
    let e = KMeans::params(4).fit(&x).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooFewRows {
                got: 3,
                needed: 4,
                ..
            }
        ),
        "{e}"
    );
    let e = KMeans::params(1)
        .fit(&Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("[5]"), "{e}");
    let e = KMeans::params(1)
        .fit(&Tensor::zeros((2, 2), DType::U32, &Device::Cpu).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("U32"), "{e}");
    let nan = matrix(&[vec![0f32, f32::NAN], vec![1., 1.]]);
    assert!(matches!(
        KMeans::params(1).fit(&nan),
        Err(Error::NotFinite { .. })
    ));
    let model = KMeans::params(2).fit(&x).unwrap();
    let e = model.predict(&matrix(&[vec![1f32, 2., 3.]])).unwrap_err();
    assert!(e.to_string().contains("2 features"), "{e}");
    let _: KMeansParams = KMeans::params(3);
}

#[test]
fn warm_starts_continue_from_given_centroids() {
    let (x, _) = blobs(7, &[vec![0f32, 0.], vec![5., 5.], vec![0., 9.]], 40, 2.5);
    let x = matrix(&x);
    let p = KMeans::params(3).tolerance(0.0).check().unwrap();
    let cold = p.fit(&x).unwrap();
    // From converged centroids nothing moves: one assignment finds the same labels.
    let warm = p.fit_from(&x, cold.centroids()).unwrap();
    assert_eq!(warm.labels(), cold.labels());
    assert!(warm.n_iter() <= 1, "{} iterations", warm.n_iter());
    assert!((warm.inertia() - cold.inertia()).abs() <= 1e-6 * cold.inertia());
    // Several warm starts share the products and equal the single ones.
    let starts = [cold.centroids().clone(), (cold.centroids() + 0.5).unwrap()];
    let many = p.fit_many_from(&x, &starts).unwrap();
    for (m, s) in many.iter().zip(&starts) {
        assert_eq!(m.labels(), p.fit_from(&x, s).unwrap().labels());
    }
    let e = p.fit_from(&x, &matrix(&[vec![0f32, 0., 0.]])).unwrap_err();
    assert!(
        e.to_string().contains("initial centroids") && e.to_string().contains("[3, 2]"),
        "{e}"
    );
}
