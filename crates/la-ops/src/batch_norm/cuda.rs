//! CUDA path of batch normalisation: the statistics stay on the device (a (3C) f64 tensor of
//! mean, biased variance and 1/sqrt(var + eps)) for the backward pass and the running-estimate
//! update, so a training step never waits for the GPU here.

use std::sync::{Arc, OnceLock};

use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::{CpuStorage, CudaStorage, CustomOp3, InplaceOp2, Layout, Result, Shape, Tensor};

use super::cpu::Dims;
use super::{BatchNormConfig, BatchNormMode, OP};
use crate::cuda::{
    GpuFloat, Module, alloc, device, dispatch_gpu, func, grid_1d, grid_channels, grid_planes,
    launch, storage, tensor, view, with_view,
};

type Input<'a> = (&'a CudaStorage, &'a Layout);

/// [`batch_norm2d`](crate::batch_norm2d) on CUDA tensors, inputs already validated.
pub(super) fn batch_norm2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    mode: BatchNormMode,
    config: BatchNormConfig,
    dims: Dims,
) -> Result<Tensor> {
    let running = match mode {
        BatchNormMode::Train { .. } => None,
        BatchNormMode::Eval {
            running_mean,
            running_var,
        } => Some((running_mean.contiguous()?, running_var.contiguous()?)),
    };
    let op = BatchNormCuda {
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
        let (m, count) = (config.momentum, dims.count());
        let update = |part, scale| UpdateRunning {
            c: dims.c,
            part,
            momentum: m,
            scale,
        };
        running_mean.as_tensor().inplace_op2(s, &update(0, 1.0))?;
        running_var
            .as_tensor()
            .inplace_op2(s, &update(1, count / (count - 1.0)))?;
    }
    Ok(ys)
}

/// The forward op; `running` holds the estimates in evaluation mode (None: training).
struct BatchNormCuda {
    dims: Dims,
    config: BatchNormConfig,
    running: Option<(Tensor, Tensor)>,
    stats: Arc<OnceLock<Tensor>>,
}

impl CustomOp3 for BatchNormCuda {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        candle_core::bail!("{OP}: internal error, the CUDA op received CPU tensors")
    }

    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
        s3: &CudaStorage,
        l3: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        let out = dispatch_gpu!(OP, s1, forward(self, (s1, l1), (s2, l2), (s3, l3)))?;
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
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: backward before forward")))?;
        let op = BatchNormBackwardCuda {
            dims: self.dims,
            relu: self.config.relu,
            train: self.running.is_none(),
            weight: weight.contiguous()?,
            stats,
            param_grads: Arc::default(),
        };
        let param_grads = op.param_grads.clone();
        let dx = xs.apply_op3_no_bwd(res, &grad.contiguous()?, &op)?;
        let (dw, db) = param_grads
            .get()
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: no parameter gradients")))?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

fn forward<T: GpuFloat>(
    op: &BatchNormCuda,
    x: Input<'_>,
    w: Input<'_>,
    b: Input<'_>,
) -> Result<CudaStorage> {
    let dev = device(x.0);
    let xs = view::<T>(OP, x.0, x.1)?;
    let Dims { n, c, plane } = op.dims;
    let eps = op.config.eps;
    let mut stats = alloc::<f64>(dev, 3 * c)?;
    match &op.running {
        None => {
            let cfg = grid_channels(c, plane);
            let splits = cfg.grid_dim.0 as usize;
            let mut partial = alloc::<f64>(dev, 2 * splits * c)?;
            let f = func::<T>(dev, Module::BatchNorm, "bn_stats_partial")?;
            let mut bld = f.builder();
            bld.arg(&xs).arg(&mut partial).arg(&n).arg(&c).arg(&plane);
            launch(&mut bld, cfg)?;
            drop(bld);
            let count = op.dims.count();
            let f = func::<T>(dev, Module::BatchNorm, "bn_stats_finalize")?;
            let mut bld = f.builder();
            bld.arg(&xs).arg(&partial).arg(&splits).arg(&c).arg(&plane);
            bld.arg(&count).arg(&eps).arg(&mut stats);
            launch(&mut bld, grid_1d(c))?;
        }
        Some((mean, var)) => with_view::<T, _>(OP, mean, |m| {
            with_view::<T, _>(OP, var, |v| {
                let f = func::<T>(dev, Module::BatchNorm, "bn_stats_running")?;
                let mut bld = f.builder();
                bld.arg(m).arg(v).arg(&c).arg(&eps).arg(&mut stats);
                launch(&mut bld, grid_1d(c))
            })
        })?,
    }
    let mut ys = alloc::<T>(dev, xs.len())?;
    {
        let (ws, bs) = (view::<T>(OP, w.0, w.1)?, view::<T>(OP, b.0, b.1)?);
        let (planes, relu) = (n * c, i32::from(op.config.relu));
        let f = func::<T>(dev, Module::BatchNorm, "bn_normalize")?;
        let mut bld = f.builder();
        bld.arg(&xs).arg(&ws).arg(&bs).arg(&stats).arg(&mut ys);
        bld.arg(&c).arg(&plane).arg(&planes).arg(&relu);
        launch(&mut bld, grid_planes(planes, plane))?;
    }
    let _ = op.stats.set(tensor(stats, dev, 3 * c));
    Ok(storage(ys, dev))
}

/// The backward pass as an op of (input, output, output gradient): its result is the input
/// gradient; the weight and bias gradients, from the same sweep, are kept here.
struct BatchNormBackwardCuda {
    dims: Dims,
    relu: bool,
    train: bool,
    weight: Tensor,
    stats: Tensor,
    param_grads: Arc<OnceLock<(Tensor, Tensor)>>,
}

impl CustomOp3 for BatchNormBackwardCuda {
    fn name(&self) -> &'static str {
        "batch_norm2d_backward"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        candle_core::bail!("{OP}: internal error, the CUDA op received CPU tensors")
    }

    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
        s3: &CudaStorage,
        l3: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        let dx = dispatch_gpu!(OP, s1, backward(self, (s1, l1), (s2, l2), (s3, l3)))?;
        Ok((dx, l1.shape().clone()))
    }
}

fn backward<T: GpuFloat>(
    op: &BatchNormBackwardCuda,
    x: Input<'_>,
    res: Input<'_>,
    grad: Input<'_>,
) -> Result<CudaStorage> {
    let dev = device(x.0);
    let xs = view::<T>(OP, x.0, x.1)?;
    let rs = view::<T>(OP, res.0, res.1)?;
    let gs = view::<T>(OP, grad.0, grad.1)?;
    let Dims { n, c, plane } = op.dims;
    let (planes, relu, train) = (n * c, i32::from(op.relu), i32::from(op.train));
    let count = op.dims.count();
    let cfg = grid_channels(c, plane);
    let splits = cfg.grid_dim.0 as usize;
    let mut partial = alloc::<f64>(dev, 2 * splits * c)?;
    let mut coef = alloc::<f64>(dev, 3 * c)?;
    let mut dweight = alloc::<T>(dev, c)?;
    let mut dbias = alloc::<T>(dev, c)?;
    with_view::<f64, _>(OP, &op.stats, |stats| {
        let f = func::<T>(dev, Module::BatchNorm, "bn_backward_partial")?;
        let mut bld = f.builder();
        bld.arg(&xs).arg(&rs).arg(&gs).arg(stats).arg(&mut partial);
        bld.arg(&n).arg(&c).arg(&plane).arg(&relu);
        launch(&mut bld, cfg)?;
        drop(bld);
        with_view::<T, _>(OP, &op.weight, |w| {
            let f = func::<T>(dev, Module::BatchNorm, "bn_backward_finalize")?;
            let mut bld = f.builder();
            bld.arg(&partial).arg(&splits).arg(w).arg(stats).arg(&c);
            bld.arg(&count)
                .arg(&train)
                .arg(&mut dweight)
                .arg(&mut dbias)
                .arg(&mut coef);
            launch(&mut bld, grid_1d(c))
        })
    })?;
    let mut dx = alloc::<T>(dev, xs.len())?;
    {
        let f = func::<T>(dev, Module::BatchNorm, "bn_backward_dx")?;
        let mut bld = f.builder();
        bld.arg(&xs).arg(&rs).arg(&gs).arg(&coef).arg(&mut dx);
        bld.arg(&c).arg(&plane).arg(&planes).arg(&relu);
        launch(&mut bld, grid_planes(planes, plane))?;
    }
    let _ = op
        .param_grads
        .set((tensor(dweight, dev, c), tensor(dbias, dev, c)));
    Ok(storage(dx, dev))
}

/// The running-estimate update, in place on the running tensor, from the (3C) statistics.
struct UpdateRunning {
    c: usize,
    /// 0 for the mean, 1 for the variance.
    part: usize,
    momentum: f64,
    /// 1 for the mean, n / (n - 1) for the (unbiased) variance.
    scale: f64,
}

impl InplaceOp2 for UpdateRunning {
    fn name(&self) -> &'static str {
        "batch_norm2d_running_update"
    }

    fn cpu_fwd(&self, _: &mut CpuStorage, _: &Layout, _: &CpuStorage, _: &Layout) -> Result<()> {
        candle_core::bail!("{OP}: internal error, the CUDA update received CPU tensors")
    }

    fn cuda_fwd(
        &self,
        s1: &mut CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<()> {
        dispatch_gpu!(OP, &*s1, update(self, s1, l1, (s2, l2)))
    }
}

fn update<T: GpuFloat>(
    u: &UpdateRunning,
    running: &mut CudaStorage,
    layout: &Layout,
    stats: Input<'_>,
) -> Result<()> {
    let dev = device(stats.0).clone();
    let stats = view::<f64>(OP, stats.0, stats.1)?;
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{OP}: the running statistics must be contiguous");
    };
    let mut r = running.as_cuda_slice_mut::<T>()?.slice_mut(start..end);
    let f = func::<T>(&dev, Module::BatchNorm, "bn_update_running")?;
    let mut bld = f.builder();
    bld.arg(&mut r).arg(&stats).arg(&u.c).arg(&u.part);
    bld.arg(&u.momentum).arg(&u.scale);
    launch(&mut bld, grid_1d(u.c))
}
