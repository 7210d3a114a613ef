//! `norm_conv2d` against the composition of the separate ops it fuses (batch norm + ReLU,
//! max-pool, convolution: each tested against naive loops in its own file), and against finite
//! differences.

mod common;

use candle_core::{DType, Device, Result, Tensor, Var};
use common::{assert_close, check_gradients, tensor, values};
use la_ops::{
    BatchNormConfig, BatchNormMode, NormPrologue, batch_norm2d, conv2d, max_pool2d_with_indices,
    norm_conv2d,
};

/// Batch-norm weight and bias of `c` channels, away from zero.
fn norm_params(c: usize, seed: u64) -> (Tensor, Tensor) {
    let w = tensor(seed, &[c]).affine(0.5, 1.0).unwrap();
    (w, tensor(seed + 1, &[c]))
}

/// One case: input (N, C, H, W), C_out, kernel, padding, pool, ReLU, training mode.
#[derive(Clone, Copy)]
struct Case {
    dims: [usize; 4],
    c_out: usize,
    k: usize,
    pad: usize,
    pool: bool,
    relu: bool,
    train: bool,
}

const CASES: [Case; 4] = [
    Case {
        dims: [2, 3, 6, 6],
        c_out: 4,
        k: 3,
        pad: 1,
        pool: true,
        relu: true,
        train: true,
    },
    Case {
        dims: [3, 2, 5, 4],
        c_out: 3,
        k: 3,
        pad: 1,
        pool: false,
        relu: true,
        train: true,
    },
    Case {
        dims: [2, 2, 5, 7],
        c_out: 2,
        k: 1,
        pad: 0,
        pool: true,
        relu: false,
        train: true,
    },
    Case {
        dims: [2, 3, 4, 4],
        c_out: 2,
        k: 3,
        pad: 1,
        pool: true,
        relu: true,
        train: false,
    },
];

/// The running estimates of a case, as variables (updated in training mode).
fn running(c: usize, dtype: DType) -> (Var, Var) {
    let rm = Var::from_tensor(&tensor(20, &[c]).to_dtype(dtype).unwrap()).unwrap();
    let rv = Var::from_tensor(
        &tensor(21, &[c])
            .abs()
            .unwrap()
            .affine(1.0, 0.5)
            .unwrap()
            .to_dtype(dtype)
            .unwrap(),
    )
    .unwrap();
    (rm, rv)
}

/// (fused or composed) output and pool indices of a case on inputs t = [ys, norm weight, norm
/// bias, conv weight, conv bias], with the running estimates `rm`, `rv`.
fn run(
    case: Case,
    t: &[Tensor],
    (rm, rv): (&Var, &Var),
    fused: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let mode = match case.train {
        true => BatchNormMode::Train {
            running_mean: rm,
            running_var: rv,
        },
        false => BatchNormMode::Eval {
            running_mean: rm.as_tensor(),
            running_var: rv.as_tensor(),
        },
    };
    let config = BatchNormConfig {
        relu: case.relu,
        ..Default::default()
    };
    if fused {
        let prologue = NormPrologue {
            weight: &t[1],
            bias: &t[2],
            mode,
            config,
            pool: case.pool,
        };
        let r = norm_conv2d(&t[0], prologue, &t[3], Some(&t[4]), case.pad)?;
        return Ok((r.out, r.pool_indices));
    }
    let xs = batch_norm2d(&t[0], &t[1], &t[2], mode, config)?;
    let (xs, indices) = match case.pool {
        true => {
            let (v, i) = max_pool2d_with_indices(&xs, 2, 2)?;
            (v, Some(i))
        }
        false => (xs, None),
    };
    Ok((conv2d(&xs, &t[3], Some(&t[4]), case.pad)?, indices))
}

/// The inputs of a case in `dtype`.
fn inputs(case: Case, dtype: DType) -> Vec<Tensor> {
    let c = case.dims[1];
    let (nw, nb) = norm_params(c, 2);
    [
        tensor(1, &case.dims),
        nw,
        nb,
        tensor(4, &[case.c_out, c, case.k, case.k]),
        tensor(5, &[case.c_out]),
    ]
    .into_iter()
    .map(|t| t.to_dtype(dtype).unwrap())
    .collect()
}

#[test]
fn values_gradients_and_running_estimates_match_the_separate_ops() {
    for dtype in [DType::F64, DType::F32] {
        let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
        for case in CASES {
            let vars: Vec<Var> = inputs(case, dtype)
                .iter()
                .map(|t| Var::from_tensor(t).unwrap())
                .collect();
            let t: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            // A weighted sum, so that every output element has its own gradient.
            let mut results = Vec::new();
            for fused in [true, false] {
                let (rm, rv) = running(case.dims[1], dtype);
                let (out, indices) = run(case, &t, (&rm, &rv), fused).unwrap();
                let weights = tensor(9, out.dims()).to_dtype(dtype).unwrap();
                let grads = (&out * &weights)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let g: Vec<Vec<f64>> = vars
                    .iter()
                    .map(|v| values(grads.get(v).expect("a gradient for every input")))
                    .collect();
                let idx = indices.map(|i| i.flatten_all().unwrap().to_vec1::<u32>().unwrap());
                results.push((
                    values(&out),
                    g,
                    idx,
                    values(rm.as_tensor()),
                    values(rv.as_tensor()),
                ));
            }
            let (f, c) = (&results[0], &results[1]);
            assert_close(&f.0, &c.0, tol, "output");
            for (i, (gf, gc)) in f.1.iter().zip(&c.1).enumerate() {
                assert_close(gf, gc, tol, &format!("gradient of input {i}"));
            }
            assert_eq!(f.2, c.2, "pool indices");
            assert_close(&f.3, &c.3, tol, "running mean");
            assert_close(&f.4, &c.4, tol, "running variance");
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    for case in [CASES[0], CASES[3]] {
        let (rm, rv) = running(case.dims[1], DType::F64);
        check_gradients(
            &inputs(case, DType::F64),
            |t| Ok(run(case, t, (&rm, &rv), true)?.0),
            1e-6,
        );
    }
}

#[test]
fn bad_inputs_are_errors_naming_the_op_and_shapes() {
    let case = CASES[0];
    let t = inputs(case, DType::F64);
    let (rm, rv) = running(3, DType::F64);
    let mode = BatchNormMode::Train {
        running_mean: &rm,
        running_var: &rv,
    };
    let prologue = |weight| NormPrologue {
        weight,
        bias: &t[2],
        mode,
        config: BatchNormConfig::default(),
        pool: true,
    };
    let short = Tensor::ones(2, DType::F64, &Device::Cpu).unwrap();
    let e = norm_conv2d(&t[0], prologue(&short), &t[3], None, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch_norm2d") && e.contains("weight"), "{e}");
    let wrong = tensor(3, &[4, 5, 3, 3]);
    let e = norm_conv2d(&t[0], prologue(&t[1]), &wrong, None, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv2d") && e.contains("[4, 5, 3, 3]"), "{e}");
    let tiny = tensor(3, &[2, 3, 1, 1]);
    let e = norm_conv2d(&tiny, prologue(&t[1]), &t[3], None, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_pool2d_with_indices"), "{e}");
}
