//! Close neighbours: the union over clusterings on a hand-made example, the mask over
//! background neighbours against plain loops.

mod common;

use candle_core::{Device, Tensor};
use common::{tensor, unit_rows};
use la_cluster::KMeans;
use la_train::{Background, Clusterings, MemoryBank};

/// Six items, two clusterings:
///   h = 0: {0, 1, 2} {3, 4} {5}
///   h = 1: {0, 3} {1} {2, 4, 5}
fn hand() -> Clusterings {
    Clusterings::new(vec![vec![7, 7, 7, 9, 9, 4], vec![0, 1, 2, 0, 2, 2]]).unwrap()
}

/// The close sets of the hand example, written out: the union of each item's clusters.
const CLOSE: [&[usize]; 6] = [
    &[0, 1, 2, 3],    // {0,1,2} + {0,3}
    &[0, 1, 2],       // {0,1,2} + {1}
    &[0, 1, 2, 4, 5], // {0,1,2} + {2,4,5}
    &[0, 3, 4],       // {3,4} + {0,3}
    &[2, 3, 4, 5],    // {3,4} + {2,4,5}
    &[2, 4, 5],       // {5} + {2,4,5}
];

#[test]
fn union_over_clusterings_by_hand() {
    let c = hand();
    assert_eq!((c.n_items(), c.n_clusterings()), (6, 2));
    for (i, set) in CLOSE.iter().enumerate() {
        for j in 0..6 {
            assert_eq!(c.is_close(i, j), set.contains(&j), "items {i} and {j}");
        }
    }
    assert!(!c.is_close(0, 6) && !c.is_close(6, 0));
}

#[test]
fn mask_over_background_neighbours_by_hand() {
    let c = hand();
    let dev = Device::Cpu;
    let background = Background {
        indices: Tensor::new(&[[4u32, 0, 1, 5], [2, 3, 4, 0]], &dev).unwrap(),
        similarities: Tensor::zeros((2, 4), candle_core::DType::F32, &dev).unwrap(),
    };
    let mask = c.close_mask(&[1, 5], &background).unwrap();
    // Item 1 is close to {0, 1, 2}; item 5 to {2, 4, 5}.
    assert_eq!(
        mask.to_vec2::<f32>().unwrap(),
        [[0., 1., 1., 0.], [1., 0., 1., 0.]]
    );
    assert!(c.close_mask(&[1], &background).is_err(), "one item per row");
    assert!(
        c.close_mask(&[1, 6], &background).is_err(),
        "item out of range"
    );
}

#[test]
fn mask_matches_loops_on_random_clusterings() {
    let n = 40;
    let labels: Vec<Vec<u32>> = (0..3)
        .map(|h| (0..n).map(|i| ((i * (h + 3) + h) % 7) as u32).collect())
        .collect();
    let c = Clusterings::new(labels.clone()).unwrap();
    let bank = MemoryBank::from_embeddings(&tensor(&unit_rows(n, 5, 11))).unwrap();
    let items = [0u32, 17, 39];
    let v = bank
        .tensor()
        .index_select(&Tensor::new(&items, &Device::Cpu).unwrap(), 0)
        .unwrap();
    let bg = bank.background_neighbours(&v, 12).unwrap();
    let mask = c.close_mask(&items, &bg).unwrap().to_vec2::<f32>().unwrap();
    let idx = bg.indices.to_vec2::<u32>().unwrap();
    for (r, &i) in items.iter().enumerate() {
        for (col, &j) in idx[r].iter().enumerate() {
            let mut close = false;
            for l in &labels {
                if l[j as usize] == l[i as usize] {
                    close = true;
                }
            }
            assert_eq!(mask[r][col], if close { 1.0 } else { 0.0 });
        }
    }
}

#[test]
fn singletons_are_only_close_to_themselves() {
    let c = Clusterings::singletons(5, 3).unwrap();
    for i in 0..5 {
        for j in 0..5 {
            assert_eq!(c.is_close(i, j), i == j);
        }
    }
}

#[test]
fn tensor_round_trip_and_labels() {
    let c = hand();
    let t = c.to_tensor(&Device::Cpu).unwrap();
    assert_eq!(t.dims(), [2, 6]);
    assert_eq!(c.labels(1), [0, 1, 2, 0, 2, 2]);
    assert!(c.labels(2).is_empty());
    assert_eq!(Clusterings::from_tensor(&t).unwrap(), c);
    assert!(Clusterings::from_tensor(&t.to_dtype(candle_core::DType::F32).unwrap()).is_err());
}

#[test]
fn invalid_label_sets_are_rejected() {
    assert!(Clusterings::new(vec![]).is_err());
    assert!(Clusterings::new(vec![vec![]]).is_err());
    let msg = Clusterings::new(vec![vec![0, 1, 2], vec![0, 1]])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("clustering 1 has 2 labels"), "{msg}");
}

#[test]
fn fit_runs_seeded_kmeans_on_the_bank() {
    // Two tight groups around (1, 0) and (0, 1).
    let mut rows = Vec::new();
    for i in 0..10 {
        let e = 0.01 * i as f64;
        rows.push(vec![1.0, e]);
        rows.push(vec![e, 1.0]);
    }
    let bank = MemoryBank::from_embeddings(&tensor(&rows)).unwrap();
    let params = KMeans::params(2).seed(5);
    let c = Clusterings::fit(&bank, &params, 3).unwrap();
    assert_eq!((c.n_items(), c.n_clusterings()), (20, 3));
    for h in 0..3 {
        let want = KMeans::params(2)
            .seed(5 + h as u64)
            .fit(bank.tensor())
            .unwrap();
        assert_eq!(
            c.labels(h),
            want.labels(),
            "clustering {h} is k-means with seed 5 + {h}"
        );
    }
    for i in 0..20 {
        for j in 0..20 {
            assert_eq!(c.is_close(i, j), i % 2 == j % 2);
        }
    }
}
