//! l2_normalize_rows against naive loops and central finite differences.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{assert_close, check_gradients, tensor, values};
use la_ops::l2_normalize_rows;

/// The reference: explicit loops, `x / max(sqrt(sum x^2), 1e-12)` per row.
fn naive(x: &[f64], cols: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let mut sq = 0.0;
        for v in row {
            sq += v * v;
        }
        let denom = f64::max(sq.sqrt(), 1e-12);
        for v in row {
            out.push(v / denom);
        }
    }
    out
}

#[test]
fn forward_matches_naive_loops() {
    for dims in [vec![7, 5], vec![2, 3, 128], vec![1], vec![3, 1], vec![0, 4]] {
        let x = tensor(1, &dims);
        let cols = *dims.last().unwrap();
        let y = l2_normalize_rows(&x).unwrap();
        assert_eq!(y.dims(), x.dims());
        assert_close(&values(&y), &naive(&values(&x), cols), 1e-14, "f64 forward");
        let y32 = l2_normalize_rows(&x.to_dtype(DType::F32).unwrap()).unwrap();
        assert_eq!(y32.dtype(), DType::F32);
        assert_close(
            &values(&y32),
            &naive(&values(&x), cols),
            1e-6,
            "f32 forward",
        );
    }
}

#[test]
fn rows_below_the_floor_are_divided_by_it() {
    let x = Tensor::new(
        &[[0f64, 0., 0.], [3e-13, 0., -4e-13], [3., 0., 4.]],
        &Device::Cpu,
    )
    .unwrap();
    let y = values(&l2_normalize_rows(&x).unwrap());
    assert_close(
        &y,
        &[0., 0., 0., 0.3, 0., -0.4, 0.6, 0., 0.8],
        1e-12,
        "floor",
    );
}

#[test]
fn strided_input() {
    let x = tensor(2, &[6, 9]).t().unwrap();
    assert!(!x.is_contiguous());
    let y = l2_normalize_rows(&x).unwrap();
    let expected = naive(&values(&x), 6);
    assert_close(&values(&y), &expected, 1e-14, "strided forward");
}

#[test]
fn backward_matches_finite_differences() {
    check_gradients(&[tensor(3, &[4, 7])], |t| l2_normalize_rows(&t[0]), 1e-7);
    check_gradients(&[tensor(4, &[2, 3, 5])], |t| l2_normalize_rows(&t[0]), 1e-7);
    // Through a strided input and a further op, so the gradient arrives non-contiguous.
    check_gradients(
        &[tensor(5, &[5, 3])],
        |t| l2_normalize_rows(&t[0].t()?)?.t()?.exp(),
        1e-7,
    );
}

#[test]
fn backward_below_the_floor_is_the_scaled_gradient() {
    // Central differences with a step far below the floor: the map is linear there.
    let x = Tensor::new(&[[1e-14f64, -2e-14, 3e-15]], &Device::Cpu).unwrap();
    let var = candle_core::Var::from_tensor(&x).unwrap();
    let w = Tensor::new(&[[0.5f64, -1., 2.]], &Device::Cpu).unwrap();
    let y = l2_normalize_rows(var.as_tensor()).unwrap();
    let grads = (y * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let g = values(grads.get(&var).unwrap());
    assert_close(
        &g,
        &[0.5e12, -1e12, 2e12],
        1e-12,
        "gradient below the floor",
    );
}

#[test]
fn bad_inputs_are_errors_naming_the_op() {
    let e = l2_normalize_rows(&Tensor::new(2f32, &Device::Cpu).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("l2_normalize_rows") && e.contains("at least one dimension"),
        "{e}"
    );
    let e = l2_normalize_rows(&Tensor::new(&[1i64], &Device::Cpu).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("l2_normalize_rows") && e.contains("I64"), "{e}");
}
