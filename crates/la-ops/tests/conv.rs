//! conv2d and conv_transpose2d against naive loops and finite differences.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{assert_close, check_gradients, tensor, tensor_f32, values};
use la_ops::{conv_transpose2d, conv2d};

/// x[img, ci, r - p, c - p] of an (n, channels, h, w) tensor's values, 0 in the padding.
fn padded(xv: &[f64], [channels, h, w]: [usize; 3], [img, ci, r, c]: [usize; 4], p: usize) -> f64 {
    let (Some(r), Some(c)) = (r.checked_sub(p), c.checked_sub(p)) else {
        return 0.0;
    };
    if r >= h || c >= w {
        return 0.0;
    }
    xv[((img * channels + ci) * h + r) * w + c]
}

/// Direct convolution: y[n,co,i,j] = b[co] + sum x[n,ci,i+a-p,j+b-p] w[co,ci,a,b].
fn naive_conv(x: &Tensor, w: &Tensor, b: Option<&Tensor>, p: usize) -> Vec<f64> {
    let (n, ci_n, h, wd) = x.dims4().unwrap();
    let (co_n, _, kh, kw) = w.dims4().unwrap();
    let (xv, wv) = (values(x), values(w));
    let bv = b.map(values).unwrap_or(vec![0.0; co_n]);
    let (oh, ow) = (h + 2 * p + 1 - kh, wd + 2 * p + 1 - kw);
    let mut y = vec![];
    for img in 0..n {
        for co in 0..co_n {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = bv[co];
                    for ci in 0..ci_n {
                        for a in 0..kh {
                            for bb in 0..kw {
                                let xa = padded(&xv, [ci_n, h, wd], [img, ci, i + a, j + bb], p);
                                acc += xa * wv[((co * ci_n + ci) * kh + a) * kw + bb];
                            }
                        }
                    }
                    y.push(acc);
                }
            }
        }
    }
    y
}

/// Transposed convolution as a scatter: each input pixel stamps its weighted kernel.
fn naive_conv_transpose(x: &Tensor, w: &Tensor, b: Option<&Tensor>, p: usize) -> Vec<f64> {
    let (n, ci_n, h, wd) = x.dims4().unwrap();
    let (_, co_n, kh, kw) = w.dims4().unwrap();
    let (xv, wv) = (values(x), values(w));
    let (oh, ow) = (h + kh - 1 - 2 * p, wd + kw - 1 - 2 * p);
    let mut y = vec![0.0; n * co_n * oh * ow];
    for img in 0..n {
        for ci in 0..ci_n {
            for i in 0..h {
                for j in 0..wd {
                    let xval = xv[((img * ci_n + ci) * h + i) * wd + j];
                    for co in 0..co_n {
                        for a in 0..kh {
                            for bb in 0..kw {
                                let (r, c) = (
                                    (i + a) as isize - p as isize,
                                    (j + bb) as isize - p as isize,
                                );
                                if r < 0 || c < 0 || r >= oh as isize || c >= ow as isize {
                                    continue;
                                }
                                y[((img * co_n + co) * oh + r as usize) * ow + c as usize] +=
                                    xval * wv[((ci * co_n + co) * kh + a) * kw + bb];
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(b) = b {
        let bv = values(b);
        for (k, v) in y.iter_mut().enumerate() {
            *v += bv[(k / (oh * ow)) % co_n];
        }
    }
    y
}

/// (input dims, weight dims, padding) cases: 3x3, 1x1, odd sizes, non-square kernels.
const CONV_CASES: &[([usize; 4], [usize; 4], usize)] = &[
    ([2, 3, 5, 6], [4, 3, 3, 3], 1),
    ([1, 2, 7, 4], [3, 2, 3, 3], 0),
    ([2, 4, 4, 4], [2, 4, 1, 1], 0),
    ([1, 3, 3, 5], [2, 3, 1, 1], 1),
    ([2, 2, 6, 5], [3, 2, 2, 3], 2),
    ([1, 1, 2, 2], [2, 1, 3, 3], 1),
    // Small images are grouped several to a task; 5 images leave a remainder group.
    ([5, 2, 9, 9], [3, 2, 3, 3], 1),
    // More than 4 output channels: the filter gradient goes through im2col + GEMM.
    ([2, 3, 5, 6], [6, 3, 3, 3], 1),
];

/// dW[o, c, i, j] = sum over n, y, x of g[n, o, y, x] * x_padded[n, c, y + i, x + j].
fn naive_filter_grad(x: &Tensor, g: &Tensor, kernel: (usize, usize), p: usize) -> Vec<f64> {
    let (xv, gv) = (values(x), values(g));
    let [n, c, h, w] = x.dims().try_into().unwrap();
    let [_, o, oh, ow] = g.dims().try_into().unwrap();
    let (kh, kw) = kernel;
    let mut dw = vec![0.0; o * c * kh * kw];
    for (ni, oi, ci, i, j, y, xx) in filter_grad_terms(n, o, c, kh, kw, oh, ow) {
        let xa = padded(&xv, [c, h, w], [ni, ci, y + i, xx + j], p);
        dw[((oi * c + ci) * kh + i) * kw + j] += gv[((ni * o + oi) * oh + y) * ow + xx] * xa;
    }
    dw
}

/// Every index tuple of the naive filter gradient's seven nested loops.
fn filter_grad_terms(
    n: usize,
    o: usize,
    c: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize, usize, usize, usize)> {
    (0..n).flat_map(move |ni| {
        (0..o).flat_map(move |oi| {
            (0..c).flat_map(move |ci| {
                (0..kh).flat_map(move |i| {
                    (0..kw).flat_map(move |j| {
                        (0..oh).flat_map(move |y| (0..ow).map(move |x| (ni, oi, ci, i, j, y, x)))
                    })
                })
            })
        })
    })
}

#[test]
fn conv2d_matches_naive_loops() {
    for (k, &(xd, wd, p)) in CONV_CASES.iter().enumerate() {
        let (x, w, b) = (
            tensor(k as u64, &xd),
            tensor(50 + k as u64, &wd),
            tensor(99, &[wd[0]]),
        );
        let y = conv2d(&x, &w, Some(&b), p).unwrap();
        assert_close(
            &values(&y),
            &naive_conv(&x, &w, Some(&b), p),
            1e-12,
            "with bias",
        );
        let y = conv2d(&x, &w, None, p).unwrap();
        assert_close(
            &values(&y),
            &naive_conv(&x, &w, None, p),
            1e-12,
            "without bias",
        );
    }
}

#[test]
fn conv2d_in_f32_matches_f64_reference() {
    let (x, w) = (tensor_f32(1, &[3, 8, 9, 9]), tensor_f32(2, &[16, 8, 3, 3]));
    let y = conv2d(&x, &w, None, 1).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    assert_close(&values(&y), &naive_conv(&x, &w, None, 1), 1e-5, "f32");
}

#[test]
fn conv_transpose2d_matches_a_scatter_reference() {
    for (k, &(xd, [a, b, kh, kw], p)) in CONV_CASES.iter().enumerate() {
        if p >= kh.min(kw) {
            continue;
        }
        // Transposed weights are (C_in, C_out, kh, kw).
        let wd = [xd[1], a.max(b), kh, kw];
        let (x, w, bias) = (
            tensor(k as u64, &xd),
            tensor(7 + k as u64, &wd),
            tensor(3, &[wd[1]]),
        );
        let y = conv_transpose2d(&x, &w, Some(&bias), p).unwrap();
        assert_close(
            &values(&y),
            &naive_conv_transpose(&x, &w, Some(&bias), p),
            1e-12,
            "convT",
        );
    }
}

#[test]
fn large_images_are_split_into_tiles_without_seams() {
    // 64 channels x 48 x 48 makes the column matrix larger than one tile.
    let (x, w) = (
        tensor_f32(11, &[2, 64, 48, 48]),
        tensor_f32(12, &[8, 64, 3, 3]),
    );
    let y = conv2d(&x, &w, None, 1).unwrap();
    assert_close(&values(&y), &naive_conv(&x, &w, None, 1), 1e-4, "tiled");
    let wt = tensor_f32(13, &[64, 4, 3, 3]);
    let y = conv_transpose2d(&x, &wt, None, 1).unwrap();
    assert_close(
        &values(&y),
        &naive_conv_transpose(&x, &wt, None, 1),
        1e-4,
        "tiled convT",
    );
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    for (k, &(xd, wd, p)) in CONV_CASES.iter().enumerate() {
        let inputs = [
            tensor(k as u64, &xd),
            tensor(20 + k as u64, &wd),
            tensor(40, &[wd[0]]),
        ];
        check_gradients(&inputs, |t| conv2d(&t[0], &t[1], Some(&t[2]), p), 1e-6);
    }
}

#[test]
fn conv_transpose2d_gradients_match_finite_differences() {
    for (xd, wd, p) in [
        ([2, 3, 4, 5], [3, 2, 3, 3], 1),
        ([1, 2, 3, 3], [2, 3, 3, 3], 0),
        ([2, 4, 3, 3], [4, 2, 1, 1], 0),
    ] {
        let inputs = [tensor(1, &xd), tensor(2, &wd), tensor(3, &[wd[1]])];
        check_gradients(
            &inputs,
            |t| conv_transpose2d(&t[0], &t[1], Some(&t[2]), p),
            1e-6,
        );
    }
}

#[test]
fn no_gradient_is_computed_for_an_input_that_needs_none() {
    let x = tensor(1, &[2, 3, 5, 5]);
    let w = Var::from_tensor(&tensor(2, &[4, 3, 3, 3])).unwrap();
    let grads = conv2d(&x, w.as_tensor(), None, 1)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(grads.get(&x).is_none());
    assert!(grads.get(w.as_tensor()).is_some());
    // A frozen weight likewise gets none while the input does.
    let xv = Var::from_tensor(&x).unwrap();
    let w = tensor(2, &[4, 3, 3, 3]);
    let grads = conv2d(xv.as_tensor(), &w, None, 1)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(grads.get(&w).is_none());
    assert!(grads.get(xv.as_tensor()).is_some());
}

#[test]
fn non_contiguous_inputs_give_the_same_result() {
    let x = tensor(3, &[2, 3, 6, 5]);
    let w = tensor(4, &[3, 4, 3, 3]).transpose(0, 1).unwrap();
    let xt = x.transpose(2, 3).unwrap();
    let a = conv2d(&xt, &w, None, 1).unwrap();
    let b = conv2d(&xt.contiguous().unwrap(), &w.contiguous().unwrap(), None, 1).unwrap();
    assert_close(&values(&a), &values(&b), 0.0, "non-contiguous");
}

#[test]
fn bad_inputs_are_errors_naming_the_op_and_shapes() {
    let cpu = &Device::Cpu;
    let x = Tensor::zeros((1, 3, 8, 8), DType::F32, cpu).unwrap();
    let err = |r: candle_core::Result<Tensor>| r.unwrap_err().to_string();
    let msg = err(conv2d(
        &x,
        &Tensor::zeros((4, 2, 3, 3), DType::F32, cpu).unwrap(),
        None,
        1,
    ));
    assert!(
        msg.contains("conv2d") && msg.contains("[4, 2, 3, 3]"),
        "{msg}"
    );
    let msg = err(conv2d(
        &x,
        &Tensor::zeros((4, 3, 3, 3), DType::F64, cpu).unwrap(),
        None,
        1,
    ));
    assert!(msg.contains("conv2d") && msg.contains("F64"), "{msg}");
    let w = Tensor::zeros((4, 3, 3, 3), DType::F32, cpu).unwrap();
    let msg = err(conv2d(
        &x,
        &w,
        Some(&Tensor::zeros(5, DType::F32, cpu).unwrap()),
        1,
    ));
    assert!(msg.contains("bias") && msg.contains("[5]"), "{msg}");
    let msg = err(conv2d(&x.flatten_all().unwrap(), &w, None, 1));
    assert!(msg.contains("conv2d") && msg.contains("[192]"), "{msg}");
    let tiny = Tensor::zeros((1, 3, 2, 2), DType::F32, cpu).unwrap();
    let msg = err(conv2d(&tiny, &w, None, 0));
    assert!(
        msg.contains("conv2d") && msg.contains("[1, 3, 2, 2]"),
        "{msg}"
    );
    let wt = Tensor::zeros((3, 4, 3, 3), DType::F32, cpu).unwrap();
    let msg = err(conv_transpose2d(&x, &wt, None, 3));
    assert!(
        msg.contains("conv_transpose2d") && msg.contains("padding"),
        "{msg}"
    );
    let msg = err(conv_transpose2d(&x, &w, None, 1));
    assert!(msg.contains("conv_transpose2d"), "{msg}");
}

#[test]
fn filter_gradient_matches_naive_loops_for_few_and_many_output_channels() {
    // 3 output channels take the direct kernel, 7 the GEMM; width 37 leaves a partial SIMD
    // chunk in every row.
    for (k, (c_out, p)) in [(3, 1), (7, 1), (1, 0), (4, 2)].into_iter().enumerate() {
        let x = tensor(k as u64, &[3, 2, 5, 37]);
        let oh = 5 + 2 * p - 2;
        let g = tensor(10 + k as u64, &[3, c_out, oh, 37 + 2 * p - 2]);
        let dw = la_ops::conv2d_weight_grad(&x, &g, (3, 3), p).unwrap();
        assert_eq!(dw.dims(), &[c_out, 2, 3, 3]);
        assert_close(
            &values(&dw),
            &naive_filter_grad(&x, &g, (3, 3), p),
            1e-12,
            &format!("dW c_out={c_out} p={p}"),
        );
    }
}

#[test]
fn weight_gradient_function_matches_autograd() {
    let (x, w) = (
        tensor(1, &[2, 3, 5, 4]),
        Var::from_tensor(&tensor(2, &[4, 3, 3, 2])).unwrap(),
    );
    let y = conv2d(&x, w.as_tensor(), None, 1).unwrap();
    let g = tensor(3, y.dims());
    let auto = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
    let direct = la_ops::conv2d_weight_grad(&x, &g, (3, 2), 1).unwrap();
    assert_close(
        &values(&direct),
        &values(auto.get(w.as_tensor()).unwrap()),
        1e-12,
        "dW",
    );
    let msg = la_ops::conv2d_weight_grad(&x, &g, (3, 3), 1)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("grad"), "{msg}");
}
