//! Batch normalisation built from candle tensor ops only (candle's autograd gives the backward
//! pass), for devices without la-ops kernels.

use candle_core::{Result, Tensor};

use super::cpu::Dims;
use super::{BatchNormConfig, BatchNormMode};

/// [`batch_norm2d`](crate::batch_norm2d) from candle tensor ops: the same statistics (biased
/// variance to normalise, unbiased in the running estimates) and the same running-estimate
/// update.
pub fn batch_norm2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    mode: BatchNormMode,
    config: BatchNormConfig,
) -> Result<Tensor> {
    let dims = super::validate(xs, weight, bias, mode)?;
    norm(xs, weight, bias, mode, config, dims)
}

/// The normalisation once the inputs are validated.
pub(crate) fn norm(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    mode: BatchNormMode,
    config: BatchNormConfig,
    dims: Dims,
) -> Result<Tensor> {
    let per_channel = (1, dims.c, 1, 1);
    let (mean, var) = match mode {
        BatchNormMode::Train {
            running_mean,
            running_var,
        } => {
            let mean = xs.mean_keepdim((0, 2, 3))?;
            let var = xs.broadcast_sub(&mean)?.sqr()?.mean_keepdim((0, 2, 3))?;
            let (m, count) = (config.momentum, dims.count());
            let blend = |running: &Tensor, batch: &Tensor, scale: f64| -> Result<Tensor> {
                running.affine(1.0 - m, 0.0)?
                    + batch.detach().flatten_all()?.affine(m * scale, 0.0)?
            };
            running_mean.set(&blend(running_mean.as_tensor(), &mean, 1.0)?)?;
            running_var.set(&blend(
                running_var.as_tensor(),
                &var,
                count / (count - 1.0),
            )?)?;
            (mean, var)
        }
        BatchNormMode::Eval {
            running_mean,
            running_var,
        } => (
            running_mean.reshape(per_channel)?,
            running_var.reshape(per_channel)?,
        ),
    };
    let ys = xs
        .broadcast_sub(&mean)?
        .broadcast_div(&var.affine(1.0, config.eps)?.sqrt()?)?
        .broadcast_mul(&weight.reshape(per_channel)?)?
        .broadcast_add(&bias.reshape(per_channel)?)?;
    if config.relu { ys.relu() } else { Ok(ys) }
}
