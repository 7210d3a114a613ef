//! Shared test helpers: seeded random tensors and a central finite-difference gradient check.
#![allow(dead_code)]

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// Uniform values in [-1, 1) from a fixed seed.
pub fn uniform(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// A random f64 tensor of the given dimensions.
pub fn tensor(seed: u64, dims: &[usize]) -> Tensor {
    let n = dims.iter().product();
    Tensor::from_vec(uniform(seed, n), dims, &Device::Cpu).unwrap()
}

/// A random f32 tensor of the given dimensions.
pub fn tensor_f32(seed: u64, dims: &[usize]) -> Tensor {
    tensor(seed, dims).to_dtype(DType::F32).unwrap()
}

/// The elements of any tensor as f64, row-major.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Asserts that two sequences agree elementwise within `tol * (1 + |expected|)`.
pub fn assert_close(got: &[f64], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: lengths differ");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= tol * (1.0 + e.abs()),
            "{what}: element {i} is {g}, expected {e}"
        );
    }
}

/// Checks the gradients candle's autograd gives for `f` against central finite differences
/// of the scalar `sum(f(inputs) * w)` with fixed random weights `w`, for every input.
pub fn check_gradients(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>, tol: f64) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&tensors).unwrap();
    let w = tensor(9_999, out.dims());
    let loss = |ts: &[Tensor]| -> f64 {
        (f(ts).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    let grads = (out * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let eps = 1e-6;
    for (k, var) in vars.iter().enumerate() {
        let analytic = values(grads.get(var).expect("input received no gradient"));
        let base = values(var.as_tensor());
        let numeric: Vec<f64> = (0..base.len())
            .map(|i| {
                let shifted = |delta: f64| {
                    let mut v = base.clone();
                    v[i] += delta;
                    let mut ts = inputs.to_vec();
                    ts[k] = Tensor::from_vec(v, var.dims(), &Device::Cpu).unwrap();
                    loss(&ts)
                };
                (shifted(eps) - shifted(-eps)) / (2.0 * eps)
            })
            .collect();
        assert_close(&analytic, &numeric, tol, &format!("gradient of input {k}"));
    }
}
