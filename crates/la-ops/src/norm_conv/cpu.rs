//! CPU passes of [`norm_conv2d`](super::norm_conv2d), assembled from the batch norm, pool and
//! convolution kernels: the forward pass builds the convolution's input in a scratch buffer;
//! the backward pass rebuilds it from the saved statistics.

use candle_core::{CpuStorage, Device, Layout, Result, Tensor};

use super::{NormConv, OP};
use crate::batch_norm::cpu::{Backward, Dims, ReluGate, Stats, batch_stats, normalize, to_f64};
use crate::conv::{ChannelSum, WeightForm, cpu as conv_cpu, input_and_filter_grads};
use crate::cpu::{Float, slice, storage_slice};
use crate::pool::cpu::pool_planes;
use crate::unpool::{gather_planes, scatter_add_planes};

type Input<'a> = (&'a CpuStorage, &'a Layout);

/// The parameters split: batch-norm weight, batch-norm bias, convolution bias.
fn split<'a, T>(op: &NormConv, params: &'a [T]) -> (&'a [T], &'a [T], Option<&'a [T]>) {
    let c = op.dims.c;
    let bias = op.conv_bias.then(|| &params[2 * c..]);
    (&params[..c], &params[c..2 * c], bias)
}

/// The convolution of the normalised, rectified and pooled `ys`; keeps the statistics and the
/// pool's indices in the op.
pub(super) fn forward<T: Float>(
    op: &NormConv,
    ys: Input<'_>,
    weight: Input<'_>,
    params: Input<'_>,
) -> Result<CpuStorage> {
    let y = slice::<T>(OP, ys.0, ys.1)?;
    let (nw, nb, bias) = split(op, slice::<T>(OP, params.0, params.1)?);
    let stats = match &op.running {
        None => batch_stats(y, op.dims, op.config.eps),
        Some((m, v)) => Stats::from_running(to_f64(m)?, to_f64(v)?, op.config.eps),
    };
    let mut xs = normalize(y, op.dims, &stats, nw, nb, op.config.relu);
    if let Some(p) = op.pool {
        let (values, indices) =
            pool_planes(&xs, p, op.conv.c_in * op.dims.n * p.out_hw.0 * p.out_hw.1);
        let shape = (op.dims.n, op.dims.c, p.out_hw.0, p.out_hw.1);
        let _ = op
            .indices
            .set(Tensor::from_vec(indices, shape, &Device::Cpu)?);
        xs = values;
    }
    let out = conv_cpu::forward(
        &xs,
        op.dims.n,
        &op.conv,
        (slice::<T>(OP, weight.0, weight.1)?, WeightForm::Direct),
        bias,
    );
    let _ = op.stats.set(stats.to_tensor()?);
    Ok(T::to_cpu_storage_owned(out))
}

/// Gradients of `ys`, the convolution weight and the concatenated parameters, each only where
/// autograd needs it.
pub(super) fn backward<T: Float>(
    op: &NormConv,
    ys: &Tensor,
    weight: &Tensor,
    params: &Tensor,
    grad: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let stats = op
        .stats
        .get()
        .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: backward before forward")))?;
    let stats = Stats::from_tensor(stats, op.dims.c)?;
    let (want_dy, want_params) = (ys.track_op(), params.track_op());
    let ys = ys.contiguous()?;
    let pv = params.to_vec1::<T>()?;
    let (nw, nb, _) = split(op, &pv);
    let xs = conv_input(op, &ys, &stats, nw, nb)?;
    let grad = grad.contiguous()?;
    let norm_grads = want_dy || want_params;
    let (dxs, dw) = input_and_filter_grads(
        &op.conv,
        &xs,
        (weight, WeightForm::Direct),
        &grad,
        (norm_grads, weight.track_op()),
    )?;
    drop(xs);
    let Some(dxs) = dxs else {
        return Ok((None, dw, None));
    };
    let dn = match (op.indices.get(), op.pool) {
        (Some(i), Some(p)) => scatter_add_planes(&dxs, i, p.in_hw)?,
        _ => dxs,
    };
    let (ys_storage, ys_layout) = ys.storage_and_layout();
    let (dn_storage, dn_layout) = dn.storage_and_layout();
    let f64s = |v: &[T]| v.iter().map(|x| x.f64()).collect::<Vec<_>>();
    let (dy, dnw, dnb) = Backward {
        xs: storage_slice::<T>(OP, &ys_storage, ys_layout)?,
        gate: ReluGate::Input(&f64s(nb)),
        grad: storage_slice::<T>(OP, &dn_storage, dn_layout)?,
        weight: &f64s(nw),
        dims: op.dims,
        relu: op.config.relu,
        train: op.running.is_none(),
    }
    .run(&stats);
    let dy = Tensor::from_vec(dy, ys.shape(), &Device::Cpu)?;
    let dparams = if want_params {
        let c = op.dims.c;
        let mut parts = vec![
            Tensor::from_slice(&dnw, c, &Device::Cpu)?.to_dtype(T::DTYPE)?,
            Tensor::from_slice(&dnb, c, &Device::Cpu)?.to_dtype(T::DTYPE)?,
        ];
        if op.conv_bias {
            parts.push(grad.apply_op1_no_bwd(&ChannelSum)?);
        }
        Some(Tensor::cat(&parts, 0)?)
    } else {
        None
    };
    Ok((want_dy.then_some(dy), dw, dparams))
}

/// The convolution's input, exactly as the forward pass computed it: the normalisation is
/// elementwise, so reading the forward pool's positions from `ys` and normalising them gives
/// the pooled values, and only those are normalised again.
fn conv_input<T: Float>(
    op: &NormConv,
    ys: &Tensor,
    stats: &Stats,
    weight: &[T],
    bias: &[T],
) -> Result<Tensor> {
    let (source, dims) = match (op.indices.get(), op.pool) {
        (Some(indices), Some(p)) => {
            let plane = p.out_hw.0 * p.out_hw.1;
            (gather_planes(ys, indices)?, Dims { plane, ..op.dims })
        }
        _ => (ys.clone(), op.dims),
    };
    let (storage, layout) = source.storage_and_layout();
    let x = storage_slice::<T>(OP, &storage, layout)?;
    let xs = normalize(x, dims, stats, weight, bias, op.config.relu);
    Tensor::from_vec(xs, source.shape(), &Device::Cpu)
}
