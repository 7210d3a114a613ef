//! The memory bank: update rule by hand, initialisation, background neighbours against a
//! naive sort.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{naive_top_k, rows, tensor, unit_rows};
use la_train::{Error, MemoryBank};

fn assert_rows_close(got: &[Vec<f64>], want: &[Vec<f64>], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() <= tol, "got {got:?}, want {want:?}");
        }
    }
}

fn hand_bank() -> MemoryBank {
    MemoryBank::from_embeddings(&tensor(&[vec![1.0, 0.0], vec![0.0, 1.0], vec![0.6, 0.8]])).unwrap()
}

#[test]
fn update_mixes_and_renormalises_by_hand() {
    let mut bank = hand_bank();
    let v = tensor(&[vec![0.0, 1.0], vec![0.0, -1.0]]);
    bank.update(&[2, 0], &v, 0.5).unwrap();
    // Row 2: (0.3, 0.9) / sqrt(0.9); row 0: (0.5, -0.5) / sqrt(0.5); row 1 unchanged.
    let s = 0.9f64.sqrt();
    let h = 0.5f64.sqrt();
    let want = [vec![h, -h], vec![0.0, 1.0], vec![0.3 / s, 0.9 / s]];
    assert_rows_close(&rows(bank.tensor()), &want, 1e-15);
    // m = 0.25 weights the new embedding by a quarter: row 1 becomes (0.25, 0.75) / |.|.
    bank.update(&[1], &tensor(&[vec![1.0, 0.0]]), 0.25).unwrap();
    let n = (0.25f64 * 0.25 + 0.75 * 0.75).sqrt();
    assert_rows_close(
        &rows(bank.tensor())[1..2],
        &[vec![0.25 / n, 0.75 / n]],
        1e-15,
    );
}

#[test]
fn update_detaches_the_embeddings() {
    let mut bank = MemoryBank::from_embeddings(&tensor(&unit_rows(4, 3, 1))).unwrap();
    let v = Var::from_tensor(&tensor(&unit_rows(2, 3, 2))).unwrap();
    bank.update(&[0, 3], &(v.as_tensor() * 1.0).unwrap(), 0.5)
        .unwrap();
    assert!(!bank.tensor().track_op());
}

#[test]
fn update_rejects_bad_input() {
    let mut bank = hand_bank();
    let v = tensor(&[vec![0.0, 1.0], vec![1.0, 0.0]]);
    assert!(matches!(
        bank.update(&[1, 1], &v, 0.5),
        Err(Error::DuplicateIndex { index: 1, .. })
    ));
    assert!(matches!(
        bank.update(&[0, 3], &v, 0.5),
        Err(Error::Index {
            index: 3,
            len: 3,
            ..
        })
    ));
    assert!(matches!(
        bank.update(&[0, 1], &v, 1.5),
        Err(Error::Config { .. })
    ));
    let msg = bank.update(&[0], &v, 0.5).unwrap_err().to_string();
    assert!(
        msg.contains("embeddings has shape [2, 2]") && msg.contains("(1, 2)"),
        "{msg}"
    );
    // Nothing was written by the failed calls.
    assert_rows_close(&rows(hand_bank().tensor()), &rows(bank.tensor()), 0.0);
}

#[test]
fn from_embeddings_normalises_and_from_tensor_keeps_bits() {
    let bank = MemoryBank::from_embeddings(&tensor(&[vec![3.0, 4.0], vec![0.0, -2.0]])).unwrap();
    assert_rows_close(
        &rows(bank.tensor()),
        &[vec![0.6, 0.8], vec![0.0, -1.0]],
        1e-15,
    );
    let raw = tensor(&[vec![2.0, 0.0], vec![0.0, 1.0]]);
    let kept = MemoryBank::from_tensor(&raw).unwrap();
    assert_eq!(rows(kept.tensor()), rows(&raw));
    assert!(MemoryBank::from_tensor(&Tensor::new(&[1u32, 2], &Device::Cpu).unwrap()).is_err());
}

#[test]
fn random_banks_are_seeded_unit_rows() {
    let dev = Device::Cpu;
    let a = MemoryBank::random(500, 8, 3, &dev).unwrap();
    let b = MemoryBank::random(500, 8, 3, &dev).unwrap();
    let c = MemoryBank::random(500, 8, 4, &dev).unwrap();
    let (ra, rb, rc) = (
        a.tensor().to_vec2::<f32>().unwrap(),
        b.tensor().to_vec2::<f32>().unwrap(),
        c.tensor().to_vec2::<f32>().unwrap(),
    );
    assert_eq!(ra, rb);
    assert_ne!(ra, rc);
    assert_eq!((a.len(), a.dim()), (500, 8));
    for row in &ra {
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
    }
    // Uniform on the sphere: every coordinate averages to about 0 (standard error
    // 1 / sqrt(8 * 500) = 0.016).
    for j in 0..8 {
        let mean: f32 = ra.iter().map(|r| r[j]).sum::<f32>() / 500.0;
        assert!(mean.abs() < 0.08, "coordinate {j} averages {mean}");
    }
    assert!(MemoryBank::random(0, 8, 0, &dev).is_err());
}

#[test]
fn background_neighbours_match_a_naive_sort() {
    let bank_rows = unit_rows(60, 8, 5);
    let bank = MemoryBank::from_embeddings(&tensor(&bank_rows)).unwrap();
    let bank_rows = rows(bank.tensor());
    let v = unit_rows(5, 8, 6);
    for k in [1, 7, 30, 59] {
        let bg = bank.background_neighbours(&tensor(&v), k).unwrap();
        assert_eq!(bg.indices.dims(), [5, k]);
        let idx = bg.indices.to_vec2::<u32>().unwrap();
        let sims = rows(&bg.similarities);
        for (r, row) in v.iter().enumerate() {
            let mut want = naive_top_k(row, &bank_rows, k);
            want.sort();
            let got: Vec<usize> = idx[r].iter().map(|&i| i as usize).collect();
            assert_eq!(
                got, want,
                "row {r}, k {k}: the k best rows, in increasing order"
            );
            for (s, &j) in sims[r].iter().zip(&want) {
                assert!((s - common::dot(row, &bank_rows[j])).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn ties_at_the_kth_similarity_go_to_lower_rows() {
    // Rows 1, 2, 4 and 5 are equal: with k = 3 the best row 3 and then rows 1 and 2 win.
    let b = [0.6, 0.8];
    let bank = MemoryBank::from_tensor(&tensor(&[
        vec![-1.0, 0.0],
        b.to_vec(),
        b.to_vec(),
        vec![0.0, 1.0],
        b.to_vec(),
        b.to_vec(),
    ]))
    .unwrap();
    let bg = bank
        .background_neighbours(&tensor(&[vec![0.0, 1.0]]), 3)
        .unwrap();
    assert_eq!(bg.indices.to_vec2::<u32>().unwrap(), [[1, 2, 3]]);
    assert_eq!(rows(&bg.similarities), [[0.8, 0.8, 1.0]]);
}

#[test]
fn background_includes_the_item_itself_and_caps_k() {
    let bank_rows = unit_rows(10, 4, 7);
    let bank = MemoryBank::from_embeddings(&tensor(&bank_rows)).unwrap();
    // An embedding equal to bank row 3 has row 3 as its nearest background neighbour.
    let v = bank.tensor().narrow(0, 3, 1).unwrap();
    let bg = bank.background_neighbours(&v, 1).unwrap();
    assert_eq!(bg.indices.to_vec2::<u32>().unwrap(), [[3]]);
    let bg = bank.background_neighbours(&v, 1000).unwrap();
    assert_eq!(bg.indices.dims(), [1, 9], "k is capped at N - 1");
    assert!(bg.indices.to_vec2::<u32>().unwrap()[0].contains(&3));
    assert_eq!(bank.background_size(4).unwrap(), 4);
    assert!(bank.background_neighbours(&v, 0).is_err());
    let single = MemoryBank::from_embeddings(&tensor(&[vec![1.0, 0.0]])).unwrap();
    assert!(single.background_size(1).is_err());
}

#[test]
fn f32_background_matches_f64() {
    let bank_rows = unit_rows(200, 16, 9);
    let bank64 = MemoryBank::from_embeddings(&tensor(&bank_rows)).unwrap();
    let bank32 =
        MemoryBank::from_embeddings(&tensor(&bank_rows).to_dtype(DType::F32).unwrap()).unwrap();
    let v = tensor(&unit_rows(3, 16, 10));
    let a = bank64.background_neighbours(&v, 50).unwrap();
    let b = bank32
        .background_neighbours(&v.to_dtype(DType::F32).unwrap(), 50)
        .unwrap();
    assert_eq!(
        a.indices.to_vec2::<u32>().unwrap(),
        b.indices.to_vec2::<u32>().unwrap()
    );
}
