//! batch_norm2d against naive loops, PyTorch figures and finite differences.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{assert_close, check_gradients, tensor, tensor_f32, values};
use la_ops::{BatchNormConfig, BatchNormMode, batch_norm2d};

/// Batch normalisation written independently: per-channel loops over (n, h, w).
/// Returns (output, batch mean, biased batch variance).
fn naive(
    x: &Tensor,
    w: &[f64],
    b: &[f64],
    stats: Option<(&[f64], &[f64])>,
    eps: f64,
    relu: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (n, c, h, wd) = x.dims4().unwrap();
    let xv = values(x);
    let at = |i: usize, ch: usize, p: usize| xv[(i * c + ch) * h * wd + p];
    let mut y = vec![0.0; xv.len()];
    let (mut means, mut vars) = (vec![], vec![]);
    for ch in 0..c {
        let all: Vec<f64> = (0..n)
            .flat_map(|i| (0..h * wd).map(move |p| (i, p)))
            .map(|(i, p)| at(i, ch, p))
            .collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64;
        means.push(mean);
        vars.push(var);
        let (m, v) = stats.map(|(m, v)| (m[ch], v[ch])).unwrap_or((mean, var));
        for i in 0..n {
            for p in 0..h * wd {
                let out = (at(i, ch, p) - m) / (v + eps).sqrt() * w[ch] + b[ch];
                y[(i * c + ch) * h * wd + p] = if relu { out.max(0.0) } else { out };
            }
        }
    }
    (y, means, vars)
}

fn params(c: usize) -> (Tensor, Tensor) {
    (tensor(77, &[c]).affine(0.5, 1.0).unwrap(), tensor(78, &[c]))
}

fn train_mode<'a>(rm: &'a Var, rv: &'a Var) -> BatchNormMode<'a> {
    BatchNormMode::Train {
        running_mean: rm,
        running_var: rv,
    }
}

#[test]
fn training_forward_matches_naive_loops_with_and_without_relu() {
    for (dims, relu) in [
        ([4, 3, 5, 6], false),
        ([2, 5, 3, 3], true),
        ([1, 2, 7, 1], true),
    ] {
        let x = tensor(1, &dims).affine(3.0, 2.0).unwrap();
        let (w, b) = params(dims[1]);
        let rm = Var::zeros(dims[1], DType::F64, &Device::Cpu).unwrap();
        let rv = Var::ones(dims[1], DType::F64, &Device::Cpu).unwrap();
        let cfg = BatchNormConfig {
            relu,
            ..Default::default()
        };
        let y = batch_norm2d(&x, &w, &b, train_mode(&rm, &rv), cfg).unwrap();
        let (ey, mean, var) = naive(&x, &values(&w), &values(&b), None, 1e-5, relu);
        assert_close(&values(&y), &ey, 1e-10, "output");
        // Running estimates: momentum 0.1 and the unbiased variance.
        let count = (dims[0] * dims[2] * dims[3]) as f64;
        let erm: Vec<f64> = mean.iter().map(|m| 0.1 * m).collect();
        let erv: Vec<f64> = var
            .iter()
            .map(|v| 0.9 + 0.1 * v * count / (count - 1.0))
            .collect();
        assert_close(&values(rm.as_tensor()), &erm, 1e-12, "running mean");
        assert_close(&values(rv.as_tensor()), &erv, 1e-12, "running variance");
    }
}

#[test]
fn statistics_stay_accurate_when_the_mean_dwarfs_the_spread() {
    let x = tensor_f32(2, &[8, 2, 16, 16]).affine(1.0, 1000.0).unwrap();
    let (w, b) = (
        Tensor::ones(2, DType::F32, &Device::Cpu).unwrap(),
        Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
    );
    let rm = Var::zeros(2, DType::F32, &Device::Cpu).unwrap();
    let rv = Var::zeros(2, DType::F32, &Device::Cpu).unwrap();
    let y = batch_norm2d(&x, &w, &b, train_mode(&rm, &rv), BatchNormConfig::default()).unwrap();
    let (ey, _, _) = naive(&x, &[1.0, 1.0], &[0.0, 0.0], None, 1e-5, false);
    assert_close(&values(&y), &ey, 2e-3, "output");
}

#[test]
fn evaluation_uses_the_running_estimates_and_leaves_them_alone() {
    let x = tensor(3, &[3, 4, 2, 5]);
    let (w, b) = params(4);
    let rm = tensor(4, &[4]);
    let rv = tensor(5, &[4]).abs().unwrap().affine(1.0, 0.5).unwrap();
    let mode = BatchNormMode::Eval {
        running_mean: &rm,
        running_var: &rv,
    };
    let y = batch_norm2d(
        &x,
        &w,
        &b,
        mode,
        BatchNormConfig {
            relu: true,
            ..Default::default()
        },
    )
    .unwrap();
    let (ey, _, _) = naive(
        &x,
        &values(&w),
        &values(&b),
        Some((&values(&rm), &values(&rv))),
        1e-5,
        true,
    );
    assert_close(&values(&y), &ey, 1e-12, "eval output");
}

// import torch
// x = torch.arange(12, dtype=torch.float32).reshape(2, 2, 3, 1) ** 1.5
// bn = torch.nn.BatchNorm2d(2); bn.train(); y = bn(x)
// print(y.flatten().tolist(), bn.running_mean.tolist(), bn.running_var.tolist())
#[test]
fn matches_pytorch_batchnorm2d_figures() {
    let x = Tensor::arange(0f32, 12., &Device::Cpu)
        .unwrap()
        .reshape((2, 2, 3, 1))
        .unwrap()
        .powf(1.5)
        .unwrap();
    let (w, b) = (
        Tensor::ones(2, DType::F32, &Device::Cpu).unwrap(),
        Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
    );
    let rm = Var::zeros(2, DType::F32, &Device::Cpu).unwrap();
    let rv = Var::ones(2, DType::F32, &Device::Cpu).unwrap();
    let y = batch_norm2d(&x, &w, &b, train_mode(&rm, &rv), BatchNormConfig::default()).unwrap();
    let torch_y = [
        -1.104464054107666,
        -0.9934124946594238,
        -0.7903628349304199,
        -1.203911542892456,
        -0.9745535850524902,
        -0.7143981456756592,
        0.5276538729667664,
        0.9522396922111511,
        1.4083458185195923,
        0.5796681642532349,
        0.9578166007995605,
        1.3553780317306519,
    ];
    assert_close(&values(&y), &torch_y, 1e-5, "output");
    assert_close(
        &values(rm.as_tensor()),
        &[0.9945507049560547, 1.9913691282272339],
        1e-5,
        "running mean",
    );
    assert_close(
        &values(rv.as_tensor()),
        &[10.630427360534668, 18.833393096923828],
        1e-5,
        "running var",
    );
}

#[test]
fn training_gradients_match_finite_differences() {
    for (dims, relu) in [([3, 2, 3, 4], false), ([2, 3, 2, 2], true)] {
        let c = dims[1];
        let (w, b) = params(c);
        let inputs = [tensor(6, &dims), w, b];
        check_gradients(
            &inputs,
            |t| {
                let rm = Var::zeros(c, DType::F64, &Device::Cpu)?;
                let rv = Var::ones(c, DType::F64, &Device::Cpu)?;
                let cfg = BatchNormConfig {
                    relu,
                    ..Default::default()
                };
                batch_norm2d(&t[0], &t[1], &t[2], train_mode(&rm, &rv), cfg)
            },
            1e-6,
        );
    }
}

#[test]
fn evaluation_gradients_match_finite_differences() {
    let (w, b) = params(3);
    let (rm, rv) = (
        tensor(7, &[3]),
        tensor(8, &[3]).abs().unwrap().affine(1.0, 0.3).unwrap(),
    );
    check_gradients(
        &[tensor(9, &[2, 3, 3, 2]), w, b],
        |t| {
            let mode = BatchNormMode::Eval {
                running_mean: &rm,
                running_var: &rv,
            };
            batch_norm2d(
                &t[0],
                &t[1],
                &t[2],
                mode,
                BatchNormConfig {
                    relu: true,
                    ..Default::default()
                },
            )
        },
        1e-6,
    );
}

#[test]
fn f32_training_matches_the_f64_reference() {
    let x = tensor_f32(10, &[4, 8, 9, 9]);
    let (w, b) = (
        params(8).0.to_dtype(DType::F32).unwrap(),
        params(8).1.to_dtype(DType::F32).unwrap(),
    );
    let rm = Var::zeros(8, DType::F32, &Device::Cpu).unwrap();
    let rv = Var::ones(8, DType::F32, &Device::Cpu).unwrap();
    let y = batch_norm2d(
        &x,
        &w,
        &b,
        train_mode(&rm, &rv),
        BatchNormConfig {
            relu: true,
            ..Default::default()
        },
    )
    .unwrap();
    let (ey, _, _) = naive(&x, &values(&w), &values(&b), None, 1e-5, true);
    assert_close(&values(&y), &ey, 1e-5, "f32");
}

#[test]
fn non_contiguous_input_gives_the_same_result() {
    let x = tensor(11, &[3, 2, 4, 5]).transpose(2, 3).unwrap();
    let (w, b) = params(2);
    let (rm, rv) = (tensor(1, &[2]), tensor(2, &[2]).abs().unwrap());
    let mode = BatchNormMode::Eval {
        running_mean: &rm,
        running_var: &rv,
    };
    let a = batch_norm2d(&x, &w, &b, mode, BatchNormConfig::default()).unwrap();
    let c = batch_norm2d(
        &x.contiguous().unwrap(),
        &w,
        &b,
        mode,
        BatchNormConfig::default(),
    )
    .unwrap();
    assert_close(&values(&a), &values(&c), 0.0, "non-contiguous");
}

#[test]
fn bad_inputs_are_errors_naming_the_op_and_shapes() {
    let cpu = &Device::Cpu;
    let x = Tensor::zeros((2, 3, 4, 4), DType::F32, cpu).unwrap();
    let ok = Tensor::zeros(3, DType::F32, cpu).unwrap();
    let rm = Var::zeros(3, DType::F32, cpu).unwrap();
    let rv = Var::ones(3, DType::F32, cpu).unwrap();
    let cfg = BatchNormConfig::default();
    let err = |r: candle_core::Result<Tensor>| r.unwrap_err().to_string();
    let msg = err(batch_norm2d(
        &x,
        &Tensor::zeros(4, DType::F32, cpu).unwrap(),
        &ok,
        train_mode(&rm, &rv),
        cfg,
    ));
    assert!(
        msg.contains("batch_norm2d") && msg.contains("weight") && msg.contains("[4]"),
        "{msg}"
    );
    let msg = err(batch_norm2d(
        &x,
        &ok,
        &Tensor::zeros(3, DType::F64, cpu).unwrap(),
        train_mode(&rm, &rv),
        cfg,
    ));
    assert!(msg.contains("bias") && msg.contains("F64"), "{msg}");
    let msg = err(batch_norm2d(
        &x.flatten_from(2).unwrap(),
        &ok,
        &ok,
        train_mode(&rm, &rv),
        cfg,
    ));
    assert!(msg.contains("[2, 3, 16]"), "{msg}");
    let one = Tensor::zeros((1, 3, 1, 1), DType::F32, cpu).unwrap();
    let msg = err(batch_norm2d(&one, &ok, &ok, train_mode(&rm, &rv), cfg));
    assert!(msg.contains("more than one value"), "{msg}");
    let bad_rv = Var::ones(2, DType::F32, cpu).unwrap();
    let msg = err(batch_norm2d(&x, &ok, &ok, train_mode(&rm, &bad_rv), cfg));
    assert!(msg.contains("running variance"), "{msg}");
}
