//! transpose_contiguous against candle's strided transpose.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{check_gradients, tensor, values};
use la_ops::transpose_contiguous;

#[test]
fn matches_candles_transpose_on_ragged_shapes() {
    for (rows, cols) in [
        (1, 1),
        (3, 70),
        (70, 3),
        (33, 65),
        (64, 32),
        (300, 2),
        (0, 4),
    ] {
        let x = Tensor::arange(0f32, (rows * cols) as f32, &Device::Cpu)
            .unwrap()
            .reshape((rows, cols))
            .unwrap();
        let got = transpose_contiguous(&x).unwrap();
        assert_eq!(got.dims(), [cols, rows]);
        assert!(got.is_contiguous());
        let want = x.t().unwrap().contiguous().unwrap();
        assert_eq!(values(&got), values(&want), "{rows} x {cols}");
    }
}

#[test]
fn other_dtypes_and_strided_input() {
    let x = Tensor::new(&[[1u32, 2, 3], [4, 5, 6]], &Device::Cpu).unwrap();
    let y = transpose_contiguous(&x).unwrap();
    assert_eq!(y.to_vec2::<u32>().unwrap(), [[1, 4], [2, 5], [3, 6]]);
    let s = tensor(1, &[5, 9]).t().unwrap();
    let y = transpose_contiguous(&s).unwrap();
    assert_eq!(values(&y), values(&s.t().unwrap()));
    assert_eq!(y.dtype(), DType::F64);
}

#[test]
fn backward_matches_finite_differences() {
    check_gradients(&[tensor(2, &[4, 7])], |t| transpose_contiguous(&t[0]), 1e-7);
}

#[test]
fn a_non_matrix_is_an_error_naming_the_op() {
    let e = transpose_contiguous(&tensor(3, &[2, 3, 4]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("transpose_contiguous") && e.contains("[2, 3, 4]"),
        "{e}"
    );
}
