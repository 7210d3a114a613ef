//! topk_unordered against a stable sort by IEEE total order.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{tensor, values};
use la_ops::topk_unordered;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The reference: a stable sort by IEEE total order, largest first; the first k columns,
/// then in increasing order.
fn naive(row: &[f32], k: usize) -> Vec<u32> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
    let mut best: Vec<u32> = order[..k].iter().map(|&j| j as u32).collect();
    best.sort();
    best
}

#[test]
fn radix_selection_matches_a_total_order_sort() {
    let mut rng = StdRng::seed_from_u64(3);
    let special = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-30,
        -1e-30,
    ];
    for (n, k) in [
        (1, 1),
        (7, 3),
        (300, 1),
        (300, 150),
        (300, 299),
        (1000, 1000),
    ] {
        // Many repeated values (ties), special values, and random ones of both signs.
        let row: Vec<f32> = (0..n)
            .map(|_| match rng.random_range(0..4) {
                0 => special[rng.random_range(0..special.len())],
                1 => rng.random_range(0..5) as f32 * 0.25,
                _ => rng.random_range(-2.0..2.0),
            })
            .collect();
        let x = Tensor::from_vec(row.clone(), (1, n), &Device::Cpu).unwrap();
        let (values, idx) = topk_unordered(&x, k).unwrap();
        let idx = idx.to_vec2::<u32>().unwrap().remove(0);
        assert_eq!(idx, naive(&row, k), "n {n}, k {k}");
        let values = values.to_vec2::<f32>().unwrap().remove(0);
        for (v, &j) in values.iter().zip(&idx) {
            assert_eq!(v.to_bits(), row[j as usize].to_bits());
        }
    }
}

#[test]
fn f64_rows_of_any_rank_and_strided_input() {
    let x = tensor(5, &[2, 3, 40]);
    let (v, i) = topk_unordered(&x, 7).unwrap();
    assert_eq!(
        (v.dims(), i.dims()),
        ([2, 3, 7].as_slice(), [2, 3, 7].as_slice())
    );
    let xs = values(&x);
    let is: Vec<u32> = i.flatten_all().unwrap().to_vec1().unwrap();
    for (r, row) in xs.chunks(40).enumerate() {
        let row32: Vec<f32> = row.iter().map(|&v| v as f32).collect();
        assert_eq!(
            &is[r * 7..(r + 1) * 7],
            naive(&row32, 7).as_slice(),
            "row {r}"
        );
    }
    let t = tensor(6, &[30, 4]).t().unwrap();
    let (_, i) = topk_unordered(&t, 3).unwrap();
    let (_, want) = topk_unordered(&t.contiguous().unwrap(), 3).unwrap();
    assert_eq!(i.to_vec2::<u32>().unwrap(), want.to_vec2::<u32>().unwrap());
}

#[test]
fn bad_k_and_inputs_are_errors_naming_the_op() {
    let x = tensor(13, &[2, 5]);
    for k in [0, 6] {
        let e = topk_unordered(&x, k).unwrap_err().to_string();
        assert!(
            e.contains("topk_unordered") && e.contains("[2, 5]") && e.contains(&format!("k = {k}")),
            "{e}"
        );
    }
    let e = topk_unordered(&x.to_dtype(DType::U32).unwrap(), 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("topk_unordered") && e.contains("U32"), "{e}");
}
