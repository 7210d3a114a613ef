//! The SegNet-style auto-encoder: encoder, decoder, and what a trainer needs around them.

use std::path::Path;

use candle_core::{Device, Tensor};
use la_vgg::VggConfig;

use crate::Result;
use crate::checkpoint::{load_into, set_all};
use crate::decoder::Decoder;
use crate::encoder::{ENCODER_PREFIX, Encoder};
use crate::init::Init;
use crate::params::{HasParams, Param};

/// Builds an [`AutoEncoder`] or an encoder alone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelConfig {
    /// The VGG-bn backbone. By default, VGG16-bn at full width on RGB images.
    pub vgg: VggConfig,
    /// Seed of the initial weights. By default, 0.
    pub seed: u64,
}

/// Encoder + decoder; `forward_t` reconstructs its input.
#[derive(Debug, Clone)]
pub struct AutoEncoder {
    encoder: Encoder,
    decoder: Decoder,
}

impl AutoEncoder {
    /// A freshly initialised auto-encoder: encoder as torchvision's VGG (Kaiming normal,
    /// fan-out, biases 0; batch norm weight 1, bias 0), decoder as PyTorch's defaults, all
    /// drawn from `config.seed`.
    pub fn new(config: &ModelConfig, device: &Device) -> Result<Self> {
        let mut init = Init::new(config.seed, device);
        let encoder = Encoder::new(&config.vgg, &mut init)?;
        let decoder = Decoder::new(encoder.layers(), &mut init)?;
        Ok(AutoEncoder { encoder, decoder })
    }

    /// The reconstruction of `xs` (N, C, H, W): same shape.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let encoded = self.encoder.forward_t(xs, train)?;
        self.decoder.forward_t(&encoded.code, &encoded.pools, train)
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The encoder, e.g. to freeze it.
    pub fn encoder_mut(&mut self) -> &mut Encoder {
        &mut self.encoder
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Splits the model into its encoder (for Local Aggregation) and decoder.
    pub fn into_parts(self) -> (Encoder, Decoder) {
        (self.encoder, self.decoder)
    }

    /// Loads every variable from a checkpoint written by [`crate::save`]; strict: a missing,
    /// mis-shaped or unknown tensor is an error listing all of them.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        load_into(&self.variables(), path.as_ref(), &self.describe(), |_| {
            false
        })
    }

    fn describe(&self) -> String {
        format!("auto-encoder on {}", self.encoder.config())
    }
}

impl Encoder {
    /// A freshly initialised encoder alone (the same values as the encoder of an
    /// [`AutoEncoder`] built from the same config).
    pub fn init(config: &ModelConfig, device: &Device) -> Result<Self> {
        Encoder::new(&config.vgg, &mut Init::new(config.seed, device))
    }

    /// Loads ImageNet weights (torchvision or timm names) checked by la-vgg.
    pub fn load_pretrained(&self, path: impl AsRef<Path>) -> Result<()> {
        let weights = la_vgg::load_weights(path, self.config(), &Device::Cpu)?;
        set_all(&self.variables(), |name| {
            weights.get(name.strip_prefix(ENCODER_PREFIX)?).cloned()
        })
    }

    /// Loads the encoder from a checkpoint of an [`AutoEncoder`] (its decoder is skipped) or
    /// of an encoder alone.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        let model = format!("encoder {}", self.config());
        load_into(&self.variables(), path.as_ref(), &model, |name| {
            !name.starts_with(ENCODER_PREFIX)
        })
    }
}

impl HasParams for AutoEncoder {
    fn variables(&self) -> Vec<Param> {
        let mut v = self.encoder.variables();
        v.extend(self.decoder.variables());
        v
    }
}
