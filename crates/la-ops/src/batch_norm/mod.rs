//! `batch_norm2d`: 2-d batch normalisation in training and evaluation modes, with an optional
//! fused ReLU, as one op with a hand-written backward pass.

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod generic;
mod op;

use std::sync::{Arc, OnceLock};

use candle_core::{Result, Tensor, Var};

use crate::{OpError, check};
use cpu::Dims;

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
    if !crate::backend::has_kernels(xs.device()) {
        return generic::norm(xs, weight, bias, mode, config, dims);
    }
    let running = match mode {
        BatchNormMode::Train { .. } => None,
        BatchNormMode::Eval {
            running_mean,
            running_var,
        } => Some((running_mean.contiguous()?, running_var.contiguous()?)),
    };
    let op = BatchNorm2d {
        dims,
        config,
        running,
        stats: Arc::default(),
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
pub(crate) fn validate(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    mode: BatchNormMode,
) -> Result<Dims> {
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
pub(crate) fn running<'a>(mode: BatchNormMode<'a>) -> (&'a Tensor, &'a Tensor) {
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

/// `running = (1 - momentum) * running + momentum * batch`, in place, the variance unbiased,
/// from the (3C) statistics of the forward pass.
pub(crate) fn update_running(
    mean: &Var,
    var: &Var,
    stats: &Tensor,
    d: Dims,
    momentum: f64,
) -> Result<()> {
    let update = |part, scale| UpdateRunning {
        c: d.c,
        part,
        momentum,
        scale,
    };
    mean.as_tensor().inplace_op2(stats, &update(0, 1.0))?;
    let unbiased = d.count() / (d.count() - 1.0);
    var.as_tensor().inplace_op2(stats, &update(1, unbiased))
}

// The ops' state; their candle traits are implemented in `op`. The statistics of the forward
// pass travel as a (3C) f64 tensor on the input's device (mean, biased variance,
// 1/sqrt(var + eps)), so that on CUDA a training step never waits for the GPU.

/// The forward op on (input, weight, bias); `running` holds the estimates in evaluation mode
/// (None: training, with the batch's statistics).
struct BatchNorm2d {
    dims: Dims,
    config: BatchNormConfig,
    running: Option<(Tensor, Tensor)>,
    /// The statistics the forward pass used, for the backward pass and the running update.
    stats: Arc<OnceLock<Tensor>>,
}

/// The backward pass as an op of (input, output, output gradient): its result is the input
/// gradient; the weight and bias gradients, from the same sweep, are kept here.
struct BatchNorm2dBackward {
    dims: Dims,
    relu: bool,
    train: bool,
    weight: Tensor,
    stats: Tensor,
    param_grads: Arc<OnceLock<(Tensor, Tensor)>>,
}

/// The running-estimate update, in place on the running tensor, from the (3C) statistics:
/// `running = (1 - momentum) * running + momentum * scale * stats[part]`.
struct UpdateRunning {
    c: usize,
    /// 0 for the mean, 1 for the variance.
    part: usize,
    momentum: f64,
    /// 1 for the mean, n / (n - 1) for the (unbiased) variance.
    scale: f64,
}
