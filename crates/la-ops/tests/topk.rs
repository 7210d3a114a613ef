//! topk against a naive full sort of each row.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{tensor, values};
use la_ops::topk;
use rand::{Rng, SeedableRng, rngs::StdRng};

/// The reference: sort all (value, index) pairs of the row with a stable sort on a key where
/// NaN is the largest value, then take the first k (a stable sort keeps index order on ties).
fn naive(row: &[f64], k: usize) -> (Vec<f64>, Vec<u32>) {
    let mut order: Vec<usize> = (0..row.len()).collect();
    let key = |v: f64| if v.is_nan() { f64::INFINITY } else { v };
    order.sort_by(|&a, &b| {
        let (x, y) = (row[a], row[b]);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => key(y).partial_cmp(&key(x)).unwrap(),
        }
    });
    order.truncate(k);
    (
        order.iter().map(|&i| row[i]).collect(),
        order.iter().map(|&i| i as u32).collect(),
    )
}

/// Runs topk on `x` (rows of `cols`) and compares every row with the naive reference.
fn check(x: &Tensor, k: usize) {
    let cols = *x.dims().last().unwrap();
    let (v, i) = topk(x, k).unwrap();
    let mut out_dims = x.dims().to_vec();
    *out_dims.last_mut().unwrap() = k;
    assert_eq!(v.dims(), out_dims.as_slice());
    assert_eq!(i.dims(), out_dims.as_slice());
    assert_eq!(i.dtype(), DType::U32);
    let (xs, vs) = (values(x), values(&v));
    let is: Vec<u32> = i.flatten_all().unwrap().to_vec1().unwrap();
    for (r, row) in xs.chunks(cols).enumerate() {
        let (ev, ei) = naive(row, k);
        assert_eq!(
            &is[r * k..(r + 1) * k],
            ei.as_slice(),
            "indices of row {r}, k = {k}"
        );
        for (g, e) in vs[r * k..(r + 1) * k].iter().zip(&ev) {
            assert!(
                g == e || (g.is_nan() && e.is_nan()),
                "row {r}: value {g}, expected {e}"
            );
        }
    }
}

/// Values drawn from a few integers, so that ties are everywhere.
fn with_ties(seed: u64, dims: &[usize]) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = dims.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(0..4) as f64).collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

#[test]
fn matches_a_full_sort_for_every_k() {
    let x = tensor(1, &[5, 13]);
    for k in 1..=13 {
        check(&x, k);
        check(&x.to_dtype(DType::F32).unwrap(), k);
    }
}

#[test]
fn breaks_ties_by_the_lower_index() {
    for k in [1, 3, 7, 20] {
        check(&with_ties(2, &[6, 20]), k);
    }
    // Long rows with many ties go through several buffer compactions.
    check(&with_ties(3, &[3, 5000]), 300);
    check(&with_ties(4, &[2, 5000]), 1);
}

#[test]
fn nan_ranks_above_every_number() {
    let x = Tensor::new(
        &[
            [1f64, f64::NAN, 3., f64::NAN, f64::INFINITY],
            [0., -0., -1., 2., f64::NAN],
        ],
        &Device::Cpu,
    )
    .unwrap();
    for k in 1..=5 {
        check(&x, k);
    }
    let (_, i) = topk(&x, 3).unwrap();
    assert_eq!(i.to_vec2::<u32>().unwrap(), [[1, 3, 4], [4, 3, 0]]);
}

#[test]
fn sorted_and_reversed_rows_and_other_ranks() {
    let up = (0..3000).map(|v| v as f32);
    let both: Vec<f32> = up.clone().chain(up.rev()).collect();
    let x = Tensor::from_vec(both, (2, 3000), &Device::Cpu).unwrap();
    check(&x, 17);
    check(&tensor(5, &[2, 3, 17]), 4);
    check(&tensor(6, &[9]), 9);
    check(&tensor(7, &[0, 4]), 2);
}

#[test]
fn strided_input() {
    let x = tensor(8, &[11, 6]).t().unwrap();
    assert!(!x.is_contiguous());
    check(&x, 3);
}

#[test]
fn long_rows_split_across_threads() {
    // One and two rows of a million columns take the path that splits a row into chunks.
    let x = tensor(9, &[2, 1 << 20]).to_dtype(DType::F32).unwrap();
    check(&x, 10);
    check(&x.narrow(0, 1, 1).unwrap(), 1000);
    check(&with_ties(10, &[1, 1 << 20]), 50);
}

#[test]
fn values_gradient_goes_to_the_selected_elements() {
    let x = Var::from_tensor(&tensor(11, &[4, 9])).unwrap();
    let (v, i) = topk(x.as_tensor(), 3).unwrap();
    let w = tensor(12, &[4, 3]);
    let grads = (v * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let g = values(grads.get(&x).unwrap());
    let (is, ws) = (i.to_vec2::<u32>().unwrap(), values(&w));
    let mut expected = vec![0.0; 36];
    for r in 0..4 {
        for j in 0..3 {
            expected[r * 9 + is[r][j] as usize] += ws[r * 3 + j];
        }
    }
    assert_eq!(g, expected);
}

#[test]
fn bad_k_and_inputs_are_errors_naming_the_op() {
    let x = tensor(13, &[2, 5]);
    for k in [0, 6] {
        let e = topk(&x, k).unwrap_err().to_string();
        assert!(
            e.contains("topk") && e.contains("[2, 5]") && e.contains(&format!("k = {k}")),
            "{e}"
        );
    }
    let e = topk(&Tensor::new(3f64, &Device::Cpu).unwrap(), 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("topk") && e.contains("at least one dimension"),
        "{e}"
    );
    let e = topk(&Tensor::new(&[1u32, 2], &Device::Cpu).unwrap(), 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("topk") && e.contains("U32"), "{e}");
}
