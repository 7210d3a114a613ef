//! The encoder: VGG-bn `features` whose pools also return where each maximum came from.

use candle_core::Tensor;
use la_ops::max_pool2d_with_indices;
use la_vgg::{FeatureLayer, VggConfig, feature_tensor_name};

use crate::init::Init;
use crate::layers::{Conv, Norm};
use crate::params::{HasParams, Param, ParamGroup};
use crate::{Error, Result};

/// Prefix of the encoder's variables in checkpoints: `encoder.features.{i}.weight`, ..; the
/// part after it is torchvision's name, so ImageNet weights map one to one.
pub const ENCODER_PREFIX: &str = "encoder.";

/// What one pool hands to the matching unpool of the decoder.
#[derive(Debug, Clone)]
pub struct PoolIndices {
    /// Flat position of each maximum in its input plane, u32, the shape of the pool output.
    pub indices: Tensor,
    /// Height and width of the pool's input: the unpool's output size.
    pub input_hw: (usize, usize),
}

/// The encoder's result: the code and, in order, every pool's indices.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// (N, C, H/32, W/32) for VGG16-bn (C = 512 at full width).
    pub code: Tensor,
    /// One entry per pool, first pool first.
    pub pools: Vec<PoolIndices>,
}

#[derive(Debug, Clone)]
enum Stage {
    Block { conv: Conv, norm: Norm },
    Pool,
}

/// VGG-bn features: conv3x3 + BatchNorm + ReLU blocks and 2x2 max-pools with indices.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: VggConfig,
    layers: Vec<FeatureLayer>,
    stages: Vec<Stage>,
    frozen: bool,
}

impl Encoder {
    pub(crate) fn new(config: &VggConfig, init: &mut Init) -> Result<Self> {
        let layers = config.features()?;
        let stages = layers
            .iter()
            .map(|layer| match *layer {
                FeatureLayer::Conv {
                    index,
                    in_channels,
                    out_channels,
                } => Ok(Stage::Block {
                    conv: Conv::encoder(name(index), in_channels, out_channels, init)?,
                    norm: Norm::new(name(index + 1), out_channels, true, init)?,
                }),
                FeatureLayer::Pool { .. } => Ok(Stage::Pool),
            })
            .collect::<Result<_>>()?;
        Ok(Encoder {
            config: config.clone(),
            layers,
            stages,
            frozen: false,
        })
    }

    /// Encodes a batch (N, C_in, H, W), H and W multiples of 2^pools (32 for VGG16), in
    /// training mode (batch statistics, running estimates updated) or evaluation mode.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<EncoderOutput> {
        self.check_input(xs)?;
        let mut x = xs.clone();
        let mut pools = Vec::with_capacity(self.config.pools());
        // The last block's norm (and pool), not applied yet: the next convolution applies them
        // in its own op, so that backward keeps only the convolutions' outputs.
        let mut pending: Option<(&Norm, bool)> = None;
        for stage in &self.stages {
            match stage {
                Stage::Block { conv, norm } => {
                    x = match pending.take() {
                        Some((prev, pool)) => {
                            let (_, _, h, w) = x.dims4()?;
                            let r = conv.forward_after(&x, prev, pool, train, self.frozen)?;
                            pools.extend(r.pool_indices.map(|indices| PoolIndices {
                                indices,
                                input_hw: (h, w),
                            }));
                            r.out
                        }
                        None => conv.forward(&x, self.frozen)?,
                    };
                    pending = Some((norm, false));
                }
                Stage::Pool => match &mut pending {
                    Some((_, pool @ false)) => *pool = true,
                    _ => {
                        x = self.finish(x, pending.take(), train, &mut pools)?;
                        x = pool(&x, &mut pools)?;
                    }
                },
            }
        }
        let code = self.finish(x, pending, train, &mut pools)?;
        Ok(EncoderOutput { code, pools })
    }

    /// Applies a pending norm (and pool) with the separate ops.
    fn finish(
        &self,
        x: Tensor,
        pending: Option<(&Norm, bool)>,
        train: bool,
        pools: &mut Vec<PoolIndices>,
    ) -> Result<Tensor> {
        let Some((norm, with_pool)) = pending else {
            return Ok(x);
        };
        let x = norm.forward_t(&x, train, self.frozen)?;
        if with_pool { pool(&x, pools) } else { Ok(x) }
    }

    fn check_input(&self, xs: &Tensor) -> Result<()> {
        let multiple = 1 << self.config.pools();
        let ok = match xs.dims() {
            &[_, c, h, w] => {
                c == self.config.in_channels && h % multiple == 0 && w % multiple == 0 && h > 0
            }
            _ => false,
        };
        if ok {
            return Ok(());
        }
        Err(Error::Input {
            got: xs.dims().to_vec(),
            expected: format!(
                "(N, {}, H, W) with H and W positive multiples of {multiple}",
                self.config.in_channels
            ),
        })
    }

    /// The backbone's configuration.
    pub fn config(&self) -> &VggConfig {
        &self.config
    }

    /// The numbered feature layers the encoder was built from (the decoder mirrors them).
    pub fn layers(&self) -> &[FeatureLayer] {
        &self.layers
    }

    /// Channels of the code.
    pub fn code_channels(&self) -> usize {
        self.layers.last().map_or(0, FeatureLayer::out_channels)
    }

    /// A frozen encoder computes no gradients for its parameters (batch-norm statistics
    /// still follow the mode of each forward pass). By default, not frozen.
    pub fn set_frozen(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    /// Whether [`Encoder::set_frozen`] froze it.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }
}

fn name(index: usize) -> String {
    format!(
        "{ENCODER_PREFIX}{}",
        feature_tensor_name(index, "").trim_end_matches('.')
    )
}

impl HasParams for Encoder {
    fn variables(&self) -> Vec<Param> {
        let mut out = Vec::new();
        for stage in &self.stages {
            if let Stage::Block { conv, norm } = stage {
                conv.variables(ParamGroup::Encoder, &mut out);
                norm.variables(ParamGroup::Encoder, &mut out);
            }
        }
        out
    }
}

/// A 2x2, stride-2 max-pool whose indices join `pools`.
fn pool(x: &Tensor, pools: &mut Vec<PoolIndices>) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (values, indices) = max_pool2d_with_indices(x, 2, 2)?;
    pools.push(PoolIndices {
        indices,
        input_hw: (h, w),
    });
    Ok(values)
}
