//! `norm_conv2d`: a convolution of the batch norm + ReLU (+ 2x2 max-pool) of the previous
//! convolution's output, as one op that keeps only that output for its backward pass.
//!
//! Composed of separate ops, a VGG block keeps three tensors per layer for backward: the
//! convolution's output, the normalised and rectified one, and the pooled one. Here the
//! normalised (and pooled) input lives only while the op runs and is recomputed from the
//! saved statistics in backward (an elementwise pass), which cuts a training step's memory by
//! half or more at large images.

mod cpu;

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};

use crate::batch_norm::{self, BatchNormConfig, BatchNormMode, cpu::Dims};
use crate::conv::{self, Geometry};
use crate::cpu::dispatch_float;
use crate::pool::{self, cpu::PoolGeometry};

const OP: &str = "norm_conv2d";

/// The batch norm (and what follows it) that turns the previous convolution's output into the
/// input of [`norm_conv2d`]'s convolution.
#[derive(Debug, Clone, Copy)]
pub struct NormPrologue<'a> {
    /// Batch-norm weight, (C).
    pub weight: &'a Tensor,
    /// Batch-norm bias, (C).
    pub bias: &'a Tensor,
    /// Batch statistics (training, running estimates updated) or running estimates.
    pub mode: BatchNormMode<'a>,
    /// eps, momentum and whether a ReLU follows the normalisation.
    pub config: BatchNormConfig,
    /// Whether a 2x2, stride-2 max-pool follows (after the ReLU).
    pub pool: bool,
}

/// The result of [`norm_conv2d`].
#[derive(Debug, Clone)]
pub struct NormConvOutput {
    /// The convolution's output, (N, C_out, H', W').
    pub out: Tensor,
    /// With a pool: where each pooled value came from, as [`max_pool2d_with_indices`]
    /// returns it (u32, the shape of the pooled input).
    ///
    /// [`max_pool2d_with_indices`]: crate::max_pool2d_with_indices
    pub pool_indices: Option<Tensor>,
}

/// `conv2d(pool(relu(batch_norm(ys))), weight, bias, padding)` (pool and ReLU as `prologue`
/// says), with the values and gradients of those ops composed, but keeping only `ys` for the
/// backward pass. f32 or f64; gradients flow to `ys`, the batch-norm parameters and the
/// convolution's.
///
/// ```
/// # use candle_core::{Device, Tensor, Var};
/// use la_ops::{BatchNormConfig, BatchNormMode, NormPrologue, norm_conv2d};
/// let ys = Tensor::new(&[[[[1f32, 3.], [5., 7.]]]], &Device::Cpu)?;
/// let (g, b) = (Tensor::new(&[1f32], &Device::Cpu)?, Tensor::new(&[0f32], &Device::Cpu)?);
/// let (rm, rv) = (Var::new(&[0f32], &Device::Cpu)?, Var::new(&[1f32], &Device::Cpu)?);
/// let prologue = NormPrologue {
///     weight: &g,
///     bias: &b,
///     mode: BatchNormMode::Train { running_mean: &rm, running_var: &rv },
///     config: BatchNormConfig { eps: 0.0, relu: true, ..Default::default() },
///     pool: true,
/// };
/// // Normalised: (-3, -1, 1, 3) / sqrt(5); the pool keeps 3 / sqrt(5); a 1x1 weight of 2.
/// let w = Tensor::new(&[[[[2f32]]]], &Device::Cpu)?;
/// let r = norm_conv2d(&ys, prologue, &w, None, 0)?;
/// let got = r.out.flatten_all()?.to_vec1::<f32>()?;
/// assert!((got[0] - 6. / 5f32.sqrt()).abs() < 1e-6);
/// assert_eq!(r.pool_indices.unwrap().flatten_all()?.to_vec1::<u32>()?, [3]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn norm_conv2d(
    ys: &Tensor,
    prologue: NormPrologue,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<NormConvOutput> {
    let dims = batch_norm::validate(ys, prologue.weight, prologue.bias, prologue.mode)?;
    let pool = prologue
        .pool
        .then(|| pool::validate(ys, 2, 2))
        .transpose()?;
    conv::check_conv(ys, weight, bias)?;
    let (h, w) = pool.map_or((ys.dim(2)?, ys.dim(3)?), |p| p.out_hw);
    let g = Geometry::new(
        [dims.n, dims.c, h, w],
        weight.dims4()?.into(),
        (padding, padding),
    );
    if !ys.device().is_cpu() || g.out_h == 0 || g.out_w == 0 {
        return composed(ys, prologue, weight, bias, padding);
    }
    let running = match prologue.mode {
        BatchNormMode::Train { .. } => None,
        BatchNormMode::Eval {
            running_mean,
            running_var,
        } => Some((running_mean.contiguous()?, running_var.contiguous()?)),
    };
    let op = NormConv {
        dims,
        config: prologue.config,
        running,
        pool,
        conv: g,
        conv_bias: bias.is_some(),
        stats: Arc::default(),
        indices: Arc::default(),
    };
    let (stats, indices) = (op.stats.clone(), op.indices.clone());
    let mut params = vec![prologue.weight.contiguous()?, prologue.bias.contiguous()?];
    params.extend(bias.map(Tensor::contiguous).transpose()?);
    let params = Tensor::cat(&params, 0)?;
    let out = ys
        .contiguous()?
        .apply_op3(&weight.contiguous()?, &params, op)?;
    if let BatchNormMode::Train {
        running_mean,
        running_var,
    } = prologue.mode
    {
        let s = stats
            .get()
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: no batch statistics")))?;
        batch_norm::update_running(running_mean, running_var, s, dims, prologue.config.momentum)?;
    }
    Ok(NormConvOutput {
        out,
        pool_indices: indices.get().cloned(),
    })
}

/// The same computation from the separate ops (devices without this op's kernels, and
/// convolutions whose output would be empty, so that their error is the convolution's).
fn composed(
    ys: &Tensor,
    p: NormPrologue,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<NormConvOutput> {
    let xs = batch_norm::batch_norm2d(ys, p.weight, p.bias, p.mode, p.config)?;
    let (xs, pool_indices) = match p.pool {
        true => {
            let (values, indices) = pool::max_pool2d_with_indices(&xs, 2, 2)?;
            (values, Some(indices))
        }
        false => (xs, None),
    };
    Ok(NormConvOutput {
        out: conv::conv2d(&xs, weight, bias, padding)?,
        pool_indices,
    })
}

/// The op on (ys, convolution weight, parameters): the parameters are the batch norm's weight
/// and bias and the convolution's bias (if any), concatenated.
struct NormConv {
    dims: Dims,
    config: BatchNormConfig,
    /// The running estimates in evaluation mode; None: training, with batch statistics.
    running: Option<(Tensor, Tensor)>,
    pool: Option<PoolGeometry>,
    /// The convolution, on the (pooled) normalised input.
    conv: Geometry,
    conv_bias: bool,
    /// The (3C) statistics the forward pass used, as the batch norm keeps them.
    stats: Arc<OnceLock<Tensor>>,
    /// The pool's argmax positions.
    indices: Arc<OnceLock<Tensor>>,
}

impl CustomOp3 for NormConv {
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
        let out = dispatch_float!(OP, s1, cpu::forward(self, (s1, l1), (s2, l2), (s3, l3)))?;
        let g = &self.conv;
        Ok((out, Shape::from((self.dims.n, g.c_out, g.out_h, g.out_w))))
    }

    fn bwd(
        &self,
        ys: &Tensor,
        weight: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        match ys.dtype() {
            DType::F32 => cpu::backward::<f32>(self, ys, weight, params, grad),
            DType::F64 => cpu::backward::<f64>(self, ys, weight, params, grad),
            dtype => candle_core::bail!("{OP}: backward of a {dtype:?} input"),
        }
    }
}
