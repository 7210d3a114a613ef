//! `batch_norm2d`: 2-d batch normalisation in training and evaluation modes, with an optional
//! fused ReLU, as one op with a hand-written backward pass.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod generic;

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, Var};

use crate::cpu::{Float, dispatch_float, slice};
use crate::{OpError, check};
use cpu::{Backward, Dims, Stats};

const OP: &str = "batch_norm2d";

/// Options of [`batch_norm2d`], PyTorch's defaults by `Default`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root. By default, 1e-5.
    pub eps: f64,
    /// Weight of the new batch statistics in the running estimates. By default, 0.1.
    pub momentum: f64,
    /// Whether a ReLU follows the normalisation in the same op. By default, false.
    pub relu: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: 0.1,
            relu: false,
        }
    }
}

/// Where the statistics come from.
#[derive(Debug, Clone, Copy)]
pub enum BatchNormMode<'a> {
    /// Normalise with the batch's own mean and biased variance, then update the running
    /// estimates: `running = (1 - momentum) * running + momentum * batch`, with the unbiased
    /// variance, exactly as PyTorch.
    Train {
        /// Running mean, (C).
        running_mean: &'a Var,
        /// Running variance, (C).
        running_var: &'a Var,
    },
    /// Normalise with the running estimates.
    Eval {
        /// Running mean, (C).
        running_mean: &'a Tensor,
        /// Running variance, (C).
        running_var: &'a Tensor,
    },
}

/// Batch normalisation of `xs` (N, C, H, W) with per-channel `weight` and `bias` (C), followed
/// by a ReLU when `config.relu`. f32 or f64. Gradients flow to `xs`, `weight` and `bias`.
///
/// ```
/// # use candle_core::{Device, Tensor, Var};
/// use la_ops::{BatchNormConfig, BatchNormMode, batch_norm2d};
/// let x = Tensor::new(&[[[[1f32, 3.]]], [[[5., 7.]]]], &Device::Cpu)?;
/// let (w, b) = (Tensor::new(&[1f32], &Device::Cpu)?, Tensor::new(&[0f32], &Device::Cpu)?);
/// let (rm, rv) = (Var::new(&[0f32], &Device::Cpu)?, Var::new(&[1f32], &Device::Cpu)?);
/// let mode = BatchNormMode::Train { running_mean: &rm, running_var: &rv };
/// let y = batch_norm2d(&x, &w, &b, mode, BatchNormConfig { eps: 0.0, ..Default::default() })?;
/// // Mean 4, biased variance 5; running mean 0.9*0 + 0.1*4, running variance 0.9 + 0.1*20/3.
/// let s = 5f32.sqrt();
/// let expected = [-3. / s, -1. / s, 1. / s, 3. / s];
/// for (got, want) in y.flatten_all()?.to_vec1::<f32>()?.iter().zip(expected) {
///     assert!((got - want).abs() < 1e-6);
/// }
/// assert_eq!(rm.to_vec1::<f32>()?, [0.4]);
/// assert!((rv.to_vec1::<f32>()?[0] - (0.9 + 2. / 3.)).abs() < 1e-6);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn batch_norm2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    mode: BatchNormMode,
    config: BatchNormConfig,
) -> Result<Tensor> {
    let dims = validate(xs, weight, bias, mode)?;
    if !xs.device().is_cpu() {
        return other_device(xs, weight, bias, mode, config, dims);
    }
    let train = matches!(mode, BatchNormMode::Train { .. });
    let fixed = if train {
        None
    } else {
        let (m, v) = running(mode);
        Some(Stats::from_running(to_f64(m)?, to_f64(v)?, config.eps))
    };
    let op = BatchNorm2d {
        dims,
        config,
        stats: Arc::new(fixed.map(OnceLock::from).unwrap_or_default()),
        train,
    };
    let stats = op.stats.clone();
    let ys = xs
        .contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?;
    if let BatchNormMode::Train {
        running_mean,
        running_var,
    } = mode
    {
        let s = stats
            .get()
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: no batch statistics")))?;
        update_running(running_mean, running_var, s, dims, config.momentum)?;
    }
    Ok(ys)
}

/// Checks the input, parameters and running statistics; returns the input's sizes.
fn validate(xs: &Tensor, weight: &Tensor, bias: &Tensor, mode: BatchNormMode) -> Result<Dims> {
    let [n, c, h, w] = check::dims4(OP, "input", xs)?;
    check::float(OP, "input", xs)?;
    let (running_mean, running_var) = running(mode);
    for (name, t) in [
        ("weight", weight),
        ("bias", bias),
        ("running mean", running_mean),
        ("running variance", running_var),
    ] {
        check::shape_is(OP, name, t, &[c])?;
        check::dtype_is(OP, name, t, xs.dtype(), "the dtype of the input")?;
        check::same_device(OP, name, t, xs)?;
    }
    if matches!(mode, BatchNormMode::Train { .. }) && n * h * w < 2 {
        return Err(OpError::Shape {
            op: OP,
            input: "input",
            got: xs.dims().to_vec(),
            expected: "more than one value per channel in training mode".into(),
        }
        .into());
    }
    Ok(Dims { n, c, plane: h * w })
}

/// The running mean and variance of either mode.
fn running<'a>(mode: BatchNormMode<'a>) -> (&'a Tensor, &'a Tensor) {
    match mode {
        BatchNormMode::Train {
            running_mean,
            running_var,
        } => (running_mean.as_tensor(), running_var.as_tensor()),
        BatchNormMode::Eval {
            running_mean,
            running_var,
        } => (running_mean, running_var),
    }
}

/// Tensors not on the CPU: the CUDA kernels (feature `cuda`), else the generic path.
fn other_device(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    mode: BatchNormMode,
    config: BatchNormConfig,
    dims: Dims,
) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if xs.device().is_cuda() {
        return cuda::batch_norm2d(xs, weight, bias, mode, config, dims);
    }
    generic::norm(xs, weight, bias, mode, config, dims)
}

fn to_f64(t: &Tensor) -> Result<Vec<f64>> {
    t.to_dtype(DType::F64)?.to_vec1()
}

fn update_running(mean: &Var, var: &Var, s: &Stats, d: Dims, momentum: f64) -> Result<()> {
    let unbiased = d.count() / (d.count() - 1.0);
    let blend = |running: Vec<f64>, batch: &[f64], scale: f64| -> Vec<f64> {
        running
            .iter()
            .zip(batch)
            .map(|(r, b)| (1.0 - momentum) * r + momentum * b * scale)
            .collect()
    };
    let new_mean = blend(to_f64(mean)?, &s.mean, 1.0);
    let new_var = blend(to_f64(var)?, &s.var, unbiased);
    let to_var =
        |v: Vec<f64>, like: &Var| Tensor::from_vec(v, d.c, like.device())?.to_dtype(like.dtype());
    mean.set(&to_var(new_mean, mean)?)?;
    var.set(&to_var(new_var, var)?)
}

/// The op: statistics are computed by the forward pass in training mode (or given in
/// evaluation mode) and kept for the backward pass and the running-estimate update.
struct BatchNorm2d {
    dims: Dims,
    config: BatchNormConfig,
    stats: Arc<OnceLock<Stats>>,
    train: bool,
}

impl CustomOp3 for BatchNorm2d {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(OP, s1, forward(self, (s1, l1), (s2, l2), (s3, l3)))?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let stats = self
            .stats
            .get()
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: backward before forward")))?;
        let op = BatchNorm2dBackward {
            dims: self.dims,
            relu: self.config.relu,
            train: self.train,
            weight: to_f64(weight)?,
            stats: stats.clone(),
            param_grads: Arc::default(),
        };
        let param_grads = op.param_grads.clone();
        let dx = xs.apply_op3_no_bwd(res, &grad.contiguous()?, &op)?;
        let (dw, db) = param_grads
            .get()
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: no parameter gradients")))?;
        let as_param =
            |v: &Vec<f64>| Tensor::from_slice(v, self.dims.c, xs.device())?.to_dtype(xs.dtype());
        Ok((Some(dx), Some(as_param(dw)?), Some(as_param(db)?)))
    }
}

/// The backward pass as an op of (input, output, output gradient): its result is the input
/// gradient; the weight and bias gradients, from the same sweep, are kept here.
struct BatchNorm2dBackward {
    dims: Dims,
    relu: bool,
    train: bool,
    weight: Vec<f64>,
    stats: Stats,
    param_grads: Arc<OnceLock<(Vec<f64>, Vec<f64>)>>,
}

impl CustomOp3 for BatchNorm2dBackward {
    fn name(&self) -> &'static str {
        "batch_norm2d_backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dx = dispatch_float!(OP, s1, backward(self, (s1, l1), (s2, l2), (s3, l3)))?;
        Ok((dx, l1.shape().clone()))
    }
}

fn forward<T: Float>(
    op: &BatchNorm2d,
    x: (&CpuStorage, &Layout),
    w: (&CpuStorage, &Layout),
    b: (&CpuStorage, &Layout),
) -> Result<CpuStorage> {
    let xs = slice::<T>(OP, x.0, x.1)?;
    let stats = op
        .stats
        .get_or_init(|| cpu::batch_stats(xs, op.dims, op.config.eps));
    let ys = cpu::normalize(
        xs,
        op.dims,
        stats,
        slice::<T>(OP, w.0, w.1)?,
        slice::<T>(OP, b.0, b.1)?,
        op.config.relu,
    );
    Ok(T::to_cpu_storage_owned(ys))
}

fn backward<T: Float>(
    op: &BatchNorm2dBackward,
    xs: (&CpuStorage, &Layout),
    res: (&CpuStorage, &Layout),
    grad: (&CpuStorage, &Layout),
) -> Result<CpuStorage> {
    let bw = Backward {
        xs: slice::<T>(OP, xs.0, xs.1)?,
        res: slice::<T>(OP, res.0, res.1)?,
        grad: slice::<T>(OP, grad.0, grad.1)?,
        weight: &op.weight,
        dims: op.dims,
        relu: op.relu,
        train: op.train,
    };
    let (dx, dw, db) = bw.run(&op.stats);
    let _ = op.param_grads.set((dw, db));
    Ok(T::to_cpu_storage_owned(dx))
}
