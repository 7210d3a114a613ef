//! Correctness on the GPU: every la-ops op (forward and gradients) and the model-level pieces
//! built on them, run on the CPU and on the GPU from the same inputs and compared with
//! [`relative_error`] against stated tolerances.

mod model;
mod ops;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::report::{Table, relative_error};

/// f64 products and reductions agree to rounding.
pub const TOL_F64: f64 = 1e-12;
/// f32: different summation orders on either side (exact f32 GEMMs, no TF32).
pub const TOL_F32: f64 = 1e-5;

/// Runs every check, adding one row per comparison.
pub fn run(dev: &Device, seed: u64, table: &mut Table) -> Result<()> {
    let mut rng = Inputs::new(seed);
    ops::run(dev, &mut rng, table)?;
    model::run(dev, &mut rng, table)
}

/// The tolerance for a dtype.
pub fn tol(dtype: DType) -> f64 {
    if dtype == DType::F64 {
        TOL_F64
    } else {
        TOL_F32
    }
}

/// Seeded random inputs, made on the CPU.
pub struct Inputs(StdRng);

impl Inputs {
    pub fn new(seed: u64) -> Self {
        Inputs(StdRng::seed_from_u64(seed))
    }

    /// Uniform values in [-1, 1).
    pub fn tensor(&mut self, dims: &[usize], dtype: DType) -> Result<Tensor> {
        let n = dims.iter().product();
        let v: Vec<f64> = (0..n).map(|_| self.0.random_range(-1.0..1.0)).collect();
        Ok(Tensor::from_vec(v, dims, &Device::Cpu)?.to_dtype(dtype)?)
    }

    /// Uniform integers in 0..bound.
    pub fn below(&mut self, n: usize, bound: u32) -> Vec<u32> {
        (0..n).map(|_| self.0.random_range(0..bound)).collect()
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.0
    }
}

/// Every element as f64, copied to the CPU.
pub fn values(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?)
}

/// The output of an op and the gradients of `sum(output * w)` for each input.
struct Run {
    out: Vec<f64>,
    grads: Vec<Vec<f64>>,
}

/// Runs `f` on variables holding `inputs` moved to `dev`; `w` are the fixed output weights.
fn run_on(
    dev: &Device,
    inputs: &[Tensor],
    w: &Tensor,
    f: &impl Fn(&[Tensor], &Device) -> candle_core::Result<Tensor>,
) -> Result<Run> {
    let vars = inputs
        .iter()
        .map(|t| Var::from_tensor(&t.to_device(dev)?))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&tensors, dev)?;
    let loss = (&out * &w.to_device(dev)?)?.sum_all()?;
    let store = loss.backward()?;
    let grads = vars
        .iter()
        .map(|v| match store.get(v) {
            Some(g) => values(g),
            None => anyhow::bail!("an input of shape {:?} received no gradient", v.dims()),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Run {
        out: values(&out)?,
        grads,
    })
}

/// Compares `f` on the CPU and on `dev` (forward, and the gradients of every input): two rows,
/// `name forward` and `name gradients` (the largest error over the inputs).
pub fn compare(
    table: &mut Table,
    name: &str,
    inputs: &[Tensor],
    dev: &Device,
    tol: f64,
    f: impl Fn(&[Tensor], &Device) -> candle_core::Result<Tensor>,
) -> Result<()> {
    let cpu = Device::Cpu;
    let probe = f(inputs, &cpu)?;
    let w = Inputs::new(inputs.len() as u64).tensor(probe.dims(), probe.dtype())?;
    let want = run_on(&cpu, inputs, &w, &f)?;
    let got = run_on(dev, inputs, &w, &f)?;
    table.error(
        "ops",
        format!("{name} forward"),
        relative_error(&got.out, &want.out),
        tol,
    );
    let grad_err = got
        .grads
        .iter()
        .zip(&want.grads)
        .map(|(g, w)| relative_error(g, w))
        .fold(0.0, |a: f64, e| if e.is_nan() { e } else { a.max(e) });
    table.error("ops", format!("{name} gradients"), grad_err, tol);
    Ok(())
}

/// Compares two index tensors exactly: a row with the number of differing entries.
pub fn same_indices(table: &mut Table, name: String, got: &Tensor, want: &Tensor) -> Result<()> {
    let g: Vec<u32> = got.flatten_all()?.to_vec1()?;
    let w: Vec<u32> = want.flatten_all()?.to_vec1()?;
    let wrong = if g.len() == w.len() {
        g.iter().zip(&w).filter(|(a, b)| a != b).count()
    } else {
        usize::MAX
    };
    table.push(crate::report::Row {
        section: "ops",
        name,
        value: format!("{wrong} of {} differ", w.len()),
        limit: "0".into(),
        status: if wrong == 0 {
            crate::report::Status::Pass
        } else {
            crate::report::Status::Fail
        },
    });
    Ok(())
}
