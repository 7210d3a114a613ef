//! CUDA kernels of batch normalisation: the statistics stay on the device (a (3C) f64 tensor of
//! mean, biased variance and 1/sqrt(var + eps)) for the backward pass and the running-estimate
//! update, so a training step never waits for the GPU here.

use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::{CudaStorage, Layout, Result};

use super::cpu::Dims;
use super::{BatchNorm2d, BatchNorm2dBackward, OP, UpdateRunning};
use crate::cuda::{
    GpuFloat, Module, alloc, device, func, grid_1d, grid_channels, grid_planes, launch, storage,
    tensor, view, with_view,
};

type Input<'a> = (&'a CudaStorage, &'a Layout);

/// The forward pass; keeps the (3C) statistics in `op.stats`.
pub(super) fn forward<T: GpuFloat>(
    op: &BatchNorm2d,
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

/// The input gradient; keeps the weight and bias gradients in `op.param_grads`.
pub(super) fn backward<T: GpuFloat>(
    op: &BatchNorm2dBackward,
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

/// The running-estimate update of `u`, in place.
pub(super) fn update<T: GpuFloat>(
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
