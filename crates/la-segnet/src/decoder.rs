//! The decoder: the encoder mirrored, unpooling with the encoder's indices.

use candle_core::Tensor;
use la_ops::max_unpool2d;
use la_vgg::FeatureLayer;

use crate::encoder::PoolIndices;
use crate::init::Init;
use crate::layers::{Conv, Norm};
use crate::params::{HasParams, Param, ParamGroup};
use crate::{Error, Result};

/// Prefix of the decoder's variables: `decoder.layers.{k}.weight`, where `k` numbers the
/// decoder's modules as the reference implementation's `ModuleList` does (transposed conv,
/// batch norm and ReLU take one number each, an unpool one).
pub const DECODER_PREFIX: &str = "decoder.layers.";

#[derive(Debug, Clone)]
enum Stage {
    /// Transposed conv3x3 + BatchNorm + ReLU; the last block has no norm and no ReLU.
    Block {
        conv: Conv,
        norm: Option<Norm>,
    },
    Unpool,
}

/// For each encoder conv, in reverse order, a transposed conv3x3 with the channels swapped
/// followed by batch norm and ReLU; for each pool a max-unpool; the last layer is a bare
/// transposed conv with bias producing the image channels.
#[derive(Debug, Clone)]
pub struct Decoder {
    stages: Vec<Stage>,
    pools: usize,
}

impl Decoder {
    /// Mirrors the encoder's `layers`.
    pub(crate) fn new(layers: &[FeatureLayer], init: &mut Init) -> Result<Self> {
        let first_conv = layers
            .iter()
            .position(|l| matches!(l, FeatureLayer::Conv { .. }));
        let mut k = 0;
        let mut stages = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate().rev() {
            match *layer {
                FeatureLayer::Conv {
                    in_channels,
                    out_channels,
                    ..
                } => {
                    let conv = Conv::decoder(name(k), out_channels, in_channels, init)?;
                    let norm = if Some(i) == first_conv {
                        None
                    } else {
                        Some(Norm::new(name(k + 1), in_channels, true, init)?)
                    };
                    stages.push(Stage::Block { conv, norm });
                    k += 3;
                }
                FeatureLayer::Pool { .. } => {
                    stages.push(Stage::Unpool);
                    k += 1;
                }
            }
        }
        let pools = stages.iter().filter(|s| matches!(s, Stage::Unpool)).count();
        Ok(Decoder { stages, pools })
    }

    /// Decodes `code` with the encoder's `pools` (in encoder order; used last first).
    pub fn forward_t(&self, code: &Tensor, pools: &[PoolIndices], train: bool) -> Result<Tensor> {
        if pools.len() != self.pools {
            return Err(Error::Input {
                got: vec![pools.len()],
                expected: format!("indices of {} pools", self.pools),
            });
        }
        let mut pools = pools.iter().rev();
        let mut x = code.clone();
        for stage in &self.stages {
            x = match stage {
                Stage::Block { conv, norm } => {
                    let y = conv.forward(&x, false)?;
                    match norm {
                        Some(norm) => norm.forward_t(&y, train, false)?,
                        None => y,
                    }
                }
                Stage::Unpool => {
                    let p = pools.next().expect("counted above");
                    max_unpool2d(&x, &p.indices, p.input_hw)?
                }
            };
        }
        Ok(x)
    }
}

fn name(k: usize) -> String {
    format!("{DECODER_PREFIX}{k}")
}

impl HasParams for Decoder {
    fn variables(&self) -> Vec<Param> {
        let mut out = Vec::new();
        for stage in &self.stages {
            if let Stage::Block { conv, norm } = stage {
                conv.variables(ParamGroup::Decoder, &mut out);
                if let Some(norm) = norm {
                    norm.variables(ParamGroup::Decoder, &mut out);
                }
            }
        }
        out
    }
}
