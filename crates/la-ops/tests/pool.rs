//! max_pool2d_with_indices and max_unpool2d against naive loops and finite differences.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{assert_close, check_gradients, tensor, tensor_f32, values};
use la_ops::{max_pool2d_with_indices, max_unpool2d};

/// Pooling written independently: explicit window loops, first maximum wins.
fn naive_pool(x: &[f64], dims: [usize; 4], k: usize, s: usize) -> (Vec<f64>, Vec<u32>) {
    let [n, c, h, w] = dims;
    let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
    let (mut vals, mut idx) = (vec![], vec![]);
    for plane in 0..n * c {
        for i in 0..oh {
            for j in 0..ow {
                let mut best = (f64::NEG_INFINITY, 0);
                for a in 0..k {
                    for b in 0..k {
                        let (r, col) = (i * s + a, j * s + b);
                        let v = x[plane * h * w + r * w + col];
                        if v > best.0 {
                            best = (v, r * w + col);
                        }
                    }
                }
                vals.push(best.0);
                idx.push(best.1 as u32);
            }
        }
    }
    (vals, idx)
}

fn naive_unpool(x: &[f64], idx: &[u32], planes: usize, out_plane: usize) -> Vec<f64> {
    let in_plane = x.len() / planes;
    let mut out = vec![0.0; planes * out_plane];
    for p in 0..planes {
        for i in 0..in_plane {
            out[p * out_plane + idx[p * in_plane + i] as usize] += x[p * in_plane + i];
        }
    }
    out
}

#[test]
fn pool_matches_naive_loops_for_odd_shapes_and_strides() {
    for (dims, k, s) in [
        ([2, 3, 8, 8], 2, 2),
        ([3, 2, 7, 5], 2, 2),
        ([1, 4, 9, 11], 3, 2),
        ([2, 1, 6, 6], 3, 3),
        ([2, 2, 5, 4], 1, 1),
    ] {
        let x = tensor(1, &dims);
        let (v, i) = max_pool2d_with_indices(&x, k, s).unwrap();
        let (ev, ei) = naive_pool(&values(&x), dims, k, s);
        assert_eq!(values(&v), ev, "values for {dims:?} k{k} s{s}");
        assert_eq!(i.flatten_all().unwrap().to_vec1::<u32>().unwrap(), ei);
        assert_eq!(v.dims(), i.dims());
    }
}

#[test]
fn pool_in_f32_matches_f64() {
    let x = tensor_f32(2, &[2, 3, 10, 6]);
    let (v, i) = max_pool2d_with_indices(&x, 2, 2).unwrap();
    let (ev, ei) = naive_pool(&values(&x), [2, 3, 10, 6], 2, 2);
    assert_eq!(values(&v), ev);
    assert_eq!(i.flatten_all().unwrap().to_vec1::<u32>().unwrap(), ei);
}

#[test]
fn first_maximum_wins_on_ties() {
    let x = Tensor::new(
        &[[[[1f32, 1.], [1., 1.]]], [[[0., 2.], [2., 0.]]]],
        &Device::Cpu,
    )
    .unwrap();
    let (_, i) = max_pool2d_with_indices(&x, 2, 2).unwrap();
    assert_eq!(i.flatten_all().unwrap().to_vec1::<u32>().unwrap(), [0, 1]);
}

#[test]
fn nan_counts_as_the_maximum_and_minus_infinity_keeps_the_first_position() {
    let x = Tensor::new(
        &[
            [[[1f32, f32::NAN], [3., 2.]]],
            [[[f32::NEG_INFINITY; 2]; 2]],
        ],
        &Device::Cpu,
    )
    .unwrap();
    let (v, i) = max_pool2d_with_indices(&x, 2, 2).unwrap();
    let v = v.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(v[0].is_nan());
    assert_eq!(v[1], f32::NEG_INFINITY);
    assert_eq!(i.flatten_all().unwrap().to_vec1::<u32>().unwrap(), [1, 0]);
}

#[test]
fn pool_accepts_non_contiguous_input() {
    let x = tensor(3, &[2, 3, 6, 8]);
    let xt = x.transpose(2, 3).unwrap();
    assert!(!xt.is_contiguous());
    let (v, _) = max_pool2d_with_indices(&xt, 2, 2).unwrap();
    let (ev, _) = naive_pool(&values(&xt.contiguous().unwrap()), [2, 3, 8, 6], 2, 2);
    assert_eq!(values(&v), ev);
}

#[test]
fn pool_gradient_goes_only_to_the_argmax() {
    // A unique maximum receives the whole gradient (candle's own MaxPool2D gives it 0.25).
    let x = candle_core::Var::new(&[[[[1f64, 4.], [2., 3.]]]], &Device::Cpu).unwrap();
    let (v, _) = max_pool2d_with_indices(x.as_tensor(), 2, 2).unwrap();
    let g = v.sum_all().unwrap().backward().unwrap();
    assert_eq!(values(g.get(&x).unwrap()), [0., 1., 0., 0.]);
}

#[test]
fn pool_gradient_matches_finite_differences() {
    for (dims, k, s) in [
        ([2, 2, 5, 7], 2, 2),
        ([1, 2, 7, 7], 3, 2),
        ([2, 1, 4, 4], 1, 1),
    ] {
        check_gradients(
            &[tensor(4, &dims)],
            |t| Ok(max_pool2d_with_indices(&t[0], k, s)?.0),
            1e-6,
        );
    }
}

#[test]
fn unpool_scatters_into_zeros() {
    let dims = [2, 3, 6, 4];
    let x = tensor(5, &dims);
    let (v, i) = max_pool2d_with_indices(&x, 2, 2).unwrap();
    let up = max_unpool2d(&v, &i, (6, 4)).unwrap();
    assert_eq!(up.dims(), &dims);
    let idx = i.flatten_all().unwrap().to_vec1::<u32>().unwrap();
    assert_eq!(values(&up), naive_unpool(&values(&v), &idx, 6, 24));
}

#[test]
fn unpool_to_a_larger_odd_output_keeps_the_border_zero() {
    let x = tensor(6, &[1, 2, 7, 5]);
    let (v, i) = max_pool2d_with_indices(&x, 2, 2).unwrap();
    let up = max_unpool2d(&v, &i, (7, 5)).unwrap();
    let up = values(&up);
    for p in 0..2 {
        assert!(
            (0..5).all(|c| up[p * 35 + 6 * 5 + c] == 0.0),
            "last row must stay zero"
        );
    }
}

#[test]
fn unpool_gradient_matches_finite_differences() {
    let (_, i) = max_pool2d_with_indices(&tensor(7, &[2, 3, 6, 6]), 2, 2).unwrap();
    check_gradients(
        &[tensor(8, &[2, 3, 3, 3])],
        |t| max_unpool2d(&t[0], &i, (6, 6)),
        1e-6,
    );
}

#[test]
fn unpool_of_non_contiguous_values_matches_contiguous() {
    let x = tensor(9, &[1, 2, 4, 4]);
    let i = Tensor::from_vec(vec![0u32, 3, 5, 15, 1, 2, 8, 9], (1, 2, 2, 2), &Device::Cpu).unwrap();
    let xt = x.narrow(2, 1, 2).unwrap().narrow(3, 0, 2).unwrap();
    let a = max_unpool2d(&xt, &i, (4, 4)).unwrap();
    let b = max_unpool2d(&xt.contiguous().unwrap(), &i, (4, 4)).unwrap();
    assert_close(&values(&a), &values(&b), 0.0, "non-contiguous");
}

fn op_error(e: candle_core::Error) -> String {
    let msg = e.to_string();
    assert!(msg.contains("max_"), "message must name the op: {msg}");
    msg
}

#[test]
fn bad_inputs_are_errors_naming_the_op_and_shape() {
    let x3 = Tensor::zeros((2, 4, 4), DType::F32, &Device::Cpu).unwrap();
    let msg = op_error(max_pool2d_with_indices(&x3, 2, 2).unwrap_err());
    assert!(msg.contains("[2, 4, 4]"), "{msg}");
    let small = Tensor::zeros((1, 1, 1, 3), DType::F32, &Device::Cpu).unwrap();
    op_error(max_pool2d_with_indices(&small, 2, 2).unwrap_err());
    let x = Tensor::zeros((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap();
    op_error(max_pool2d_with_indices(&x, 0, 2).unwrap_err());
    op_error(max_pool2d_with_indices(&x, 2, 0).unwrap_err());
    let ints = Tensor::zeros((1, 1, 4, 4), DType::U32, &Device::Cpu).unwrap();
    op_error(max_pool2d_with_indices(&ints, 2, 2).unwrap_err());

    let v = Tensor::zeros((1, 1, 2, 2), DType::F32, &Device::Cpu).unwrap();
    let wrong_shape = Tensor::zeros((1, 1, 2, 3), DType::U32, &Device::Cpu).unwrap();
    let msg = op_error(max_unpool2d(&v, &wrong_shape, (4, 4)).unwrap_err());
    assert!(msg.contains("[1, 1, 2, 3]"), "{msg}");
    let wrong_dtype = Tensor::zeros((1, 1, 2, 2), DType::F32, &Device::Cpu).unwrap();
    op_error(max_unpool2d(&v, &wrong_dtype, (4, 4)).unwrap_err());
    let out_of_range = Tensor::new(&[[[[0u32, 1], [2, 16]]]], &Device::Cpu).unwrap();
    let msg = op_error(max_unpool2d(&v, &out_of_range, (4, 4)).unwrap_err());
    assert!(msg.contains("16"), "{msg}");
}
