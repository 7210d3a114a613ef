//! The embedding Local Aggregation trains: encoder code, merged over the plane, optionally
//! projected, then L2-normalised.

use std::path::Path;

use candle_core::{Tensor, Var};
use la_ops::l2_normalize_rows;

use crate::backbone::Backbone;
use crate::checkpoint::load_into;
use crate::init::Init;
use crate::params::{HasParams, Param, ParamGroup, Role, param};
use crate::{Error, Result};

/// How the (N, C, h, w) code becomes one vector per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merger {
    /// Mean over h and w: C values.
    Mean,
    /// All C * h * w values, channel-major.
    Flatten,
}

/// Options of an [`Embedder`].
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedderConfig {
    /// How the code is merged. By default, [`Merger::Mean`].
    pub merger: Merger,
    /// Output size of a linear projection after the merger, or `None` for no projection.
    /// By default, `Some(128)`, the paper's embedding size.
    pub projection: Option<usize>,
    /// Height and width of the input images; only [`Merger::Flatten`] depends on it.
    /// By default, (224, 224).
    pub image_hw: (usize, usize),
    /// Seed of the projection's initial weights. By default, 0.
    pub seed: u64,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        EmbedderConfig {
            merger: Merger::Mean,
            projection: Some(128),
            image_hw: (224, 224),
            seed: 0,
        }
    }
}

/// Name prefix of the projection head's variables.
pub const HEAD_PREFIX: &str = "head";

#[derive(Debug, Clone)]
struct Linear {
    weight: Var,
    bias: Var,
}

/// Backbone + merger + optional projection; `forward_t` gives unit-length rows.
#[derive(Debug)]
pub struct Embedder {
    backbone: Box<dyn Backbone>,
    merger: Merger,
    head: Option<Linear>,
    dim: usize,
}

impl Embedder {
    /// Wraps `backbone` (the VGG [`Encoder`](crate::Encoder), or any other [`Backbone`]); a
    /// projection is initialised as PyTorch's `nn.Linear` (weights and biases
    /// U(-1/sqrt(in), 1/sqrt(in)), as the reference implementations' new heads are) from
    /// `config.seed`. (torchvision's N(0, 0.01) for VGG's classifier gave tiny projections,
    /// whose normalisation then had huge gradients, and learned measurably worse.)
    pub fn new(backbone: impl Backbone + 'static, config: &EmbedderConfig) -> Result<Self> {
        let merged = merged_dim(&backbone, config)?;
        let device = match backbone.variables().first() {
            Some(p) => p.var.device().clone(),
            None => candle_core::Device::Cpu,
        };
        let mut init = Init::new(config.seed, &device);
        let head = match config.projection {
            None => None,
            Some(0) => {
                return Err(Error::Config {
                    field: "projection",
                    value: "0".into(),
                    expected: "a positive embedding size, or none".into(),
                });
            }
            Some(out) => {
                let (weight, bias) = init.torch_default_linear(out, merged)?;
                Some(Linear {
                    weight: Var::from_tensor(&weight)?,
                    bias: Var::from_tensor(&bias)?,
                })
            }
        };
        Ok(Embedder {
            backbone: Box::new(backbone),
            merger: config.merger,
            dim: config.projection.unwrap_or(merged),
            head,
        })
    }

    /// Unit-length embeddings (N, D) of a batch.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let code = self.backbone.features(xs, train)?;
        let merged = match self.merger {
            Merger::Mean => code.mean((2, 3))?,
            Merger::Flatten => code.flatten_from(1)?,
        };
        let projected = match &self.head {
            None => merged,
            Some(h) => merged
                .matmul(&h.weight.as_tensor().t()?)?
                .broadcast_add(h.bias.as_tensor())?,
        };
        Ok(l2_normalize_rows(&projected)?)
    }

    /// Size of an embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The backbone.
    pub fn backbone(&self) -> &dyn Backbone {
        self.backbone.as_ref()
    }

    /// Loads backbone and projection from a checkpoint written by [`crate::save`] of an
    /// embedder with the same configuration.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        let model = format!(
            "embedder on {} (dim {})",
            self.backbone.describe(),
            self.dim
        );
        load_into(&self.variables(), path.as_ref(), &model, |_| false)
    }
}

fn merged_dim(backbone: &dyn Backbone, config: &EmbedderConfig) -> Result<usize> {
    let c = backbone.channels();
    match config.merger {
        Merger::Mean => Ok(c),
        Merger::Flatten => {
            let reduction = backbone.reduction();
            let (h, w) = config.image_hw;
            if h == 0 || w == 0 || h % reduction != 0 || w % reduction != 0 {
                return Err(Error::Config {
                    field: "image_hw",
                    value: format!("{h}x{w}"),
                    expected: format!("positive multiples of {reduction} to flatten the code"),
                });
            }
            Ok(c * (h / reduction) * (w / reduction))
        }
    }
}

impl HasParams for Embedder {
    fn variables(&self) -> Vec<Param> {
        let mut v = self.backbone.variables();
        if let Some(h) = &self.head {
            v.push(param(
                HEAD_PREFIX,
                "weight",
                &h.weight,
                ParamGroup::Head,
                Role::Weight,
            ));
            v.push(param(
                HEAD_PREFIX,
                "bias",
                &h.bias,
                ParamGroup::Head,
                Role::Bias,
            ));
        }
        v
    }
}
