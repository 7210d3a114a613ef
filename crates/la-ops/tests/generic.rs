//! The generic path (`la_ops::generic`, candle tensor ops only: what devices without la-ops
//! kernels run) against the CPU kernels: forward results, gradients of every input and running
//! statistics agree. Both are independent implementations, so each checks the other.

mod common;

use candle_core::{D, DType, Device, Result, Tensor, Var};
use common::{assert_close, tensor, values};
use la_ops::{BatchNormConfig, BatchNormMode, generic};

/// Runs `f` on fresh variables holding `inputs` and returns its output and the gradient of
/// `sum(output * w)` (fixed random weights) with respect to each input.
fn forward_and_grads(
    inputs: &[Tensor],
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&tensors).unwrap();
    let w = tensor(4_242, out.dims());
    let grads = (&out * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let g = vars
        .iter()
        .map(|v| values(grads.get(v).expect("input received no gradient")))
        .collect();
    (values(&out), g)
}

/// Asserts that the kernel op and the generic op agree in value and in every gradient.
fn assert_same(
    inputs: &[Tensor],
    kernel: impl Fn(&[Tensor]) -> Result<Tensor>,
    generic: impl Fn(&[Tensor]) -> Result<Tensor>,
    tol: f64,
    what: &str,
) {
    let (y1, g1) = forward_and_grads(inputs, kernel);
    let (y2, g2) = forward_and_grads(inputs, generic);
    assert_close(&y2, &y1, tol, &format!("{what}: forward"));
    for (i, (a, b)) in g2.iter().zip(&g1).enumerate() {
        assert_close(a, b, tol, &format!("{what}: gradient of input {i}"));
    }
}

#[test]
fn pool_values_indices_and_gradients_agree() {
    // Odd sizes, overlapping windows (3, 2) and a kernel larger than the stride.
    for (dims, k, s) in [
        ([2, 3, 7, 9], 2, 2),
        ([1, 2, 9, 8], 3, 2),
        ([2, 1, 6, 6], 3, 1),
    ] {
        let x = tensor(1, &dims);
        let (v1, i1) = la_ops::max_pool2d_with_indices(&x, k, s).unwrap();
        let (v2, i2) = generic::max_pool2d_with_indices(&x, k, s).unwrap();
        assert_eq!(values(&v1), values(&v2), "values {dims:?} k={k} s={s}");
        assert_eq!(
            i1.flatten_all().unwrap().to_vec1::<u32>().unwrap(),
            i2.flatten_all().unwrap().to_vec1::<u32>().unwrap(),
            "indices {dims:?} k={k} s={s}"
        );
        assert_same(
            &[x],
            |t| Ok(la_ops::max_pool2d_with_indices(&t[0], k, s)?.0),
            |t| Ok(generic::max_pool2d_with_indices(&t[0], k, s)?.0),
            1e-12,
            "pool",
        );
    }
}

#[test]
fn unpool_and_its_gradient_agree() {
    let x = tensor(2, &[2, 3, 8, 6]);
    let (pooled, indices) = la_ops::max_pool2d_with_indices(&x, 2, 2).unwrap();
    assert_same(
        &[pooled],
        |t| la_ops::max_unpool2d(&t[0], &indices, (8, 6)),
        |t| generic::max_unpool2d(&t[0], &indices, (8, 6)),
        1e-12,
        "unpool",
    );
}

#[test]
fn unpool_rejects_the_same_out_of_range_index() {
    let x = tensor(3, &[1, 1, 1, 2]);
    let idx = Tensor::new(&[[[[0u32, 9]]]], &Device::Cpu).unwrap();
    for e in [
        la_ops::max_unpool2d(&x, &idx, (2, 2)).unwrap_err(),
        generic::max_unpool2d(&x, &idx, (2, 2)).unwrap_err(),
    ] {
        let msg = e.to_string();
        assert!(
            msg.contains("max_unpool2d") && msg.contains("index 9"),
            "{msg}"
        );
    }
}

#[test]
fn convolutions_and_their_gradients_agree() {
    for (x_dims, w_dims, pad) in [
        ([2, 3, 6, 5], [4, 3, 3, 3], 1),
        ([1, 2, 5, 5], [3, 2, 3, 3], 0),
        ([2, 4, 4, 3], [2, 4, 1, 1], 0),
    ] {
        let x = tensor(4, &x_dims);
        let w = tensor(5, &w_dims);
        let b = tensor(6, &[w_dims[0]]);
        assert_same(
            &[x, w, b],
            |t| la_ops::conv2d(&t[0], &t[1], Some(&t[2]), pad),
            |t| generic::conv2d(&t[0], &t[1], Some(&t[2]), pad),
            1e-10,
            "conv2d",
        );
    }
    // Transposed: weight (C_in, C_out, kh, kw).
    for (x_dims, w_dims, pad) in [
        ([2, 3, 5, 4], [3, 2, 3, 3], 1),
        ([1, 2, 3, 3], [2, 3, 3, 3], 0),
    ] {
        let x = tensor(7, &x_dims);
        let w = tensor(8, &w_dims);
        let b = tensor(9, &[w_dims[1]]);
        assert_same(
            &[x, w, b],
            |t| la_ops::conv_transpose2d(&t[0], &t[1], Some(&t[2]), pad),
            |t| generic::conv_transpose2d(&t[0], &t[1], Some(&t[2]), pad),
            1e-10,
            "conv_transpose2d",
        );
    }
}

#[test]
fn weight_gradients_agree() {
    let x = tensor(10, &[3, 2, 6, 5]);
    let grad = tensor(11, &[3, 4, 6, 5]);
    let a = la_ops::conv2d_weight_grad(&x, &grad, (3, 3), 1).unwrap();
    let b = generic::conv2d_weight_grad(&x, &grad, (3, 3), 1).unwrap();
    assert_eq!(a.dims(), b.dims());
    assert_close(&values(&b), &values(&a), 1e-10, "conv2d_weight_grad");
}

fn bn_config(relu: bool) -> BatchNormConfig {
    BatchNormConfig {
        relu,
        ..Default::default()
    }
}

#[test]
fn batch_norm_training_agrees_with_running_statistics() {
    let dims = [3, 4, 5, 3];
    let x = tensor(12, &dims);
    let (w, b) = (tensor(13, &[4]), tensor(14, &[4]));
    for relu in [false, true] {
        // The same starting running estimates for both paths, updated by each forward.
        let stats = |seed| {
            let m = Var::from_tensor(&tensor(seed, &[4])).unwrap();
            let v = Var::from_tensor(&tensor(seed + 1, &[4]).abs().unwrap()).unwrap();
            (m, v)
        };
        let ((m1, v1), (m2, v2)) = (stats(15), stats(15));
        assert_same(
            &[x.clone(), w.clone(), b.clone()],
            |t| {
                let mode = BatchNormMode::Train {
                    running_mean: &m1,
                    running_var: &v1,
                };
                la_ops::batch_norm2d(&t[0], &t[1], &t[2], mode, bn_config(relu))
            },
            |t| {
                let mode = BatchNormMode::Train {
                    running_mean: &m2,
                    running_var: &v2,
                };
                generic::batch_norm2d(&t[0], &t[1], &t[2], mode, bn_config(relu))
            },
            1e-10,
            "batch_norm2d train",
        );
        assert_close(&values(&m2), &values(&m1), 1e-12, "running mean");
        assert_close(&values(&v2), &values(&v1), 1e-12, "running variance");
    }
}

#[test]
fn batch_norm_evaluation_agrees() {
    let x = tensor(16, &[2, 3, 4, 4]);
    let (w, b) = (tensor(17, &[3]), tensor(18, &[3]));
    let rm = tensor(19, &[3]);
    let rv = tensor(20, &[3]).abs().unwrap();
    for relu in [false, true] {
        let mode = BatchNormMode::Eval {
            running_mean: &rm,
            running_var: &rv,
        };
        assert_same(
            &[x.clone(), w.clone(), b.clone()],
            |t| la_ops::batch_norm2d(&t[0], &t[1], &t[2], mode, bn_config(relu)),
            |t| generic::batch_norm2d(&t[0], &t[1], &t[2], mode, bn_config(relu)),
            1e-10,
            "batch_norm2d eval",
        );
    }
}

#[test]
fn topk_agrees_on_distinct_values() {
    // Distinct values (a permutation), so that both orders are fully determined.
    let (rows, cols) = (5, 301);
    let perm: Vec<f64> = (0..rows * cols)
        .map(|i| ((i * 7_919) % (rows * cols)) as f64 - 700.0)
        .collect();
    let x = Tensor::from_vec(perm, (rows, cols), &Device::Cpu).unwrap();
    for k in [1, 17, 301] {
        for x in [x.clone(), x.to_dtype(DType::F32).unwrap()] {
            let (v1, i1) = la_ops::topk(&x, k).unwrap();
            let (v2, i2) = generic::topk(&x, k).unwrap();
            assert_eq!(values(&v1), values(&v2), "values k={k}");
            assert_eq!(
                i1.to_vec2::<u32>().unwrap(),
                i2.to_vec2::<u32>().unwrap(),
                "indices k={k}"
            );
        }
    }
    assert!(generic::topk(&x, 0).is_err() && generic::topk(&x, cols + 1).is_err());
}

#[test]
fn row_normalisation_and_its_gradient_agree() {
    let x = tensor(21, &[3, 4, 7]);
    assert_same(
        &[x],
        |t| la_ops::l2_normalize_rows(&t[0]),
        |t| generic::l2_normalize_rows(&t[0]),
        1e-12,
        "l2_normalize_rows",
    );
    // A zero row stays zero on both paths.
    let z = Tensor::zeros((2, 3), DType::F64, &Device::Cpu).unwrap();
    let y = generic::l2_normalize_rows(&z).unwrap();
    assert_eq!(values(&y), vec![0.0; 6]);
    let s = generic::l2_normalize_rows(&tensor(22, &[2, 5]))
        .unwrap()
        .sqr()
        .unwrap()
        .sum(D::Minus1)
        .unwrap();
    assert_close(&values(&s), &[1.0, 1.0], 1e-12, "unit rows");
}

#[test]
fn unordered_topk_selects_the_same_set() {
    let x = tensor(31, &[4, 50]);
    for k in [1, 9, 50] {
        let (_, i1) = la_ops::topk_unordered(&x, k).unwrap();
        let (_, i2) = generic::topk_unordered(&x, k).unwrap();
        let sorted = |i: &Tensor| -> Vec<Vec<u32>> {
            let mut rows = i.to_vec2::<u32>().unwrap();
            rows.iter_mut().for_each(|r| r.sort());
            rows
        };
        assert_eq!(sorted(&i1), sorted(&i2), "k={k}");
    }
    assert!(generic::topk_unordered(&x, 0).is_err() && generic::topk_unordered(&x, 51).is_err());
}

#[test]
fn transpose_and_its_gradient_agree() {
    assert_same(
        &[tensor(32, &[37, 300])],
        |t| la_ops::transpose_contiguous(&t[0]),
        |t| generic::transpose_contiguous(&t[0]),
        0.0,
        "transpose_contiguous",
    );
}

#[test]
fn bank_dots_gradients_agree_on_both_backward_paths() {
    let bank = tensor(33, &[40, 6]);
    for k in [2, 12] {
        let idx: Vec<u32> = (0..3 * k as u32).map(|i| (i * 7) % 40).collect();
        let cols = Tensor::from_vec(idx, (3, k), &Device::Cpu).unwrap();
        let (bank, cols) = (&bank, &cols);
        let dots = |f: fn(&Tensor, &Tensor, Option<&Tensor>, &Tensor) -> Result<Tensor>| {
            move |t: &[Tensor]| {
                let values = t[0].matmul(&bank.t()?)?.gather(cols, 1)?;
                f(&t[0], bank, Some(cols), &values)
            }
        };
        assert_same(
            &[tensor(34, &[3, 6])],
            dots(la_ops::bank_dots),
            dots(generic::bank_dots),
            1e-12,
            "bank_dots",
        );
    }
}

/// The fused op and the tensor-op path agree, value and gradient, including a row without
/// masked entries.
#[test]
fn softmax_mass_and_its_gradient_agree() {
    let mask = Tensor::new(
        &[
            [1f64, 0., 0., 1., 0., 0.],
            [0., 0., 0., 0., 0., 0.],
            [1., 1., 1., 1., 1., 1.],
            [0., 1., 0., 0., 0., 1.],
        ],
        &Device::Cpu,
    )
    .unwrap();
    assert_same(
        &[tensor(35, &[4, 6]).affine(0.5, 0.0).unwrap()],
        |t| la_ops::neg_log_softmax_mass(&t[0], &mask, 0.07, 1e-7),
        |t| generic::neg_log_softmax_mass(&t[0], &mask, 0.07, 1e-7),
        1e-9,
        "neg_log_softmax_mass",
    );
}

#[test]
fn row_mixing_agrees() {
    let v = tensor(36, &[3, 5]);
    let (a, b) = (tensor(37, &[8, 5]), tensor(37, &[8, 5]));
    la_ops::mix_rows_in_place(&a, &[6, 1, 3], &v, 0.3).unwrap();
    generic::mix_rows_in_place(&b, &[6, 1, 3], &v, 0.3).unwrap();
    assert_close(&values(&b), &values(&a), 1e-15, "mix_rows_in_place");
    assert!(generic::mix_rows_in_place(&b, &[8, 1, 3], &v, 0.3).is_err());
}
