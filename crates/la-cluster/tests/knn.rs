//! Exact cosine neighbours and kNN classifiers against brute-force loops.

use candle_core::{DType, Device, Tensor};
use la_cluster::{CosineBank, Error, NearestNeighbours, ParamsError, WeightedKnn, predict_1nn};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn random(seed: u64, n: usize, d: usize) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..d).map(|_| rng.random_range(-1f32..1.0)).collect())
        .collect()
}

fn matrix(rows: &[Vec<f32>]) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_vec(flat, (rows.len(), rows[0].len()), &Device::Cpu).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// Every query's similarities to the whole bank, sorted best first (ties by index).
fn brute(bank: &[Vec<f32>], queries: &[Vec<f32>]) -> Vec<Vec<(f64, u32)>> {
    queries
        .iter()
        .map(|q| {
            let mut s: Vec<(f64, u32)> = bank
                .iter()
                .enumerate()
                .map(|(i, b)| (cosine(q, b), i as u32))
                .collect();
            s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            s
        })
        .collect()
}

#[test]
fn k_nearest_matches_brute_force_across_chunks() {
    let (bank, queries) = (random(1, 300, 6), random(2, 25, 6));
    let expected = brute(&bank, &queries);
    for chunk in [1000, 64, 7] {
        let index = CosineBank::new(&matrix(&bank))
            .unwrap()
            .chunk_size(chunk)
            .unwrap();
        assert_eq!(index.len(), 300);
        for k in [1, 5, 40] {
            let nn = index.k_nearest(&matrix(&queries), k).unwrap();
            let sims: Vec<Vec<f32>> = nn.similarities.to_vec2().unwrap();
            let ids: Vec<Vec<u32>> = nn.indices.to_vec2().unwrap();
            for (q, e) in expected.iter().enumerate() {
                for j in 0..k {
                    // Near-ties may swap under f32 rounding; the similarity must still match.
                    assert!((f64::from(sims[q][j]) - e[j].0).abs() < 1e-5, "q {q} j {j}");
                    let got = cosine(&queries[q], &bank[ids[q][j] as usize]);
                    assert!(
                        (got - e[j].0).abs() < 1e-5,
                        "chunk {chunk} k {k} q {q} j {j}"
                    );
                }
            }
        }
    }
}

#[test]
fn ties_go_to_the_lower_bank_index_across_chunks() {
    // Bank rows repeat with period 3, so every similarity appears many times.
    let base = random(3, 3, 4);
    let bank: Vec<Vec<f32>> = (0..30).map(|i| base[i % 3].clone()).collect();
    let queries = vec![base[1].clone(), base[2].clone()];
    let index = CosineBank::new(&matrix(&bank))
        .unwrap()
        .chunk_size(4)
        .unwrap();
    let ids: Vec<Vec<u32>> = index
        .k_nearest(&matrix(&queries), 12)
        .unwrap()
        .indices
        .to_vec2()
        .unwrap();
    let expected: Vec<Vec<u32>> = brute(&bank, &queries)
        .iter()
        .map(|s| s[..12].iter().map(|p| p.1).collect())
        .collect();
    assert_eq!(ids[0][..10], expected[0][..10]);
    assert_eq!(ids[1][..10], expected[1][..10]);
}

#[test]
fn weighted_knn_matches_a_naive_vote() {
    let (bank, queries) = (random(4, 200, 5), random(5, 40, 5));
    let labels: Vec<u32> = (0..200).map(|i| (i * 7 % 4) as u32).collect();
    let index = CosineBank::new(&matrix(&bank))
        .unwrap()
        .chunk_size(50)
        .unwrap();
    for (k, tau) in [(1, 0.07), (10, 0.07), (200, 0.5), (30, 0.01)] {
        let knn = WeightedKnn::new(k, tau).unwrap();
        let got = knn.predict(&index, &labels, &matrix(&queries)).unwrap();
        for (q, s) in brute(&bank, &queries).iter().enumerate() {
            let mut votes = [0f64; 4];
            for &(sim, i) in &s[..k] {
                votes[labels[i as usize] as usize] += (sim / tau).exp();
            }
            let best = (0..4).fold(0, |b, c| if votes[c] > votes[b] { c } else { b });
            assert_eq!(got[q], best as u32, "k {k} tau {tau} query {q}");
        }
    }
    // One search, several votes.
    let nn = index.k_nearest(&matrix(&queries), 50).unwrap();
    for k in [1, 7, 50] {
        let knn = WeightedKnn::new(k, 0.1).unwrap();
        let direct = knn.predict(&index, &labels, &matrix(&queries)).unwrap();
        assert_eq!(knn.vote(&nn, &labels).unwrap(), direct, "k {k}");
    }
    let one = predict_1nn(&index, &labels, &matrix(&queries)).unwrap();
    let expected: Vec<u32> = brute(&bank, &queries)
        .iter()
        .map(|s| labels[s[0].1 as usize])
        .collect();
    assert_eq!(one, expected);
    assert_eq!(WeightedKnn::default(), WeightedKnn::new(200, 0.07).unwrap());
}

#[test]
fn unit_rows_are_used_as_they_are() {
    let bank = la_ops::l2_normalize_rows(&matrix(&random(6, 50, 3))).unwrap();
    let a = CosineBank::from_unit_rows(bank.to_dtype(DType::F64).unwrap()).unwrap();
    let b = CosineBank::new(&bank).unwrap();
    let q = matrix(&random(7, 5, 3));
    let (na, nb) = (a.k_nearest(&q, 3).unwrap(), b.k_nearest(&q, 3).unwrap());
    assert_eq!(
        na.indices.to_vec2::<u32>().unwrap(),
        nb.indices.to_vec2::<u32>().unwrap()
    );
}

#[test]
fn bad_inputs_are_errors() {
    let index = CosineBank::new(&matrix(&random(8, 10, 3))).unwrap();
    let q = matrix(&random(9, 2, 3));
    assert!(matches!(
        index.k_nearest(&q, 0),
        Err(Error::Params(ParamsError::K))
    ));
    assert!(matches!(
        index.k_nearest(&q, 11),
        Err(Error::TooFewRows {
            got: 10,
            needed: 11,
            ..
        })
    ));
    let e = index.k_nearest(&matrix(&random(9, 2, 4)), 1).unwrap_err();
    assert!(e.to_string().contains("3 features"), "{e}");
    assert!(matches!(
        WeightedKnn::new(0, 0.1),
        Err(Error::Params(ParamsError::K))
    ));
    assert!(matches!(
        WeightedKnn::new(5, 0.0),
        Err(Error::Params(ParamsError::Tau(_)))
    ));
    let knn = WeightedKnn::new(3, 0.1).unwrap();
    assert!(matches!(
        knn.predict(&index, &[0; 9], &q),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(CosineBank::new(&Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap()).is_err());
    assert!(index.clone().chunk_size(0).is_err());
}
