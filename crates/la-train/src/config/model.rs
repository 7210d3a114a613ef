//! The network: backbone, starting weights, how its feature map becomes the embedding.

use std::path::PathBuf;

use la_vgg::Depth;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The network that turns images into feature maps. A new kind (a ResNet, say) is a new
/// variant here and a [`la_segnet::Backbone`] implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackboneSpec {
    /// The `features` of a VGG-bn network (the SegNet auto-encoder's encoder).
    Vgg {
        /// Depth: 11, 13, 16 or 19 weight layers.
        depth: Depth,
        /// Divides every layer's width (1 = the paper's network; pretrained weights need 1).
        width_divisor: usize,
    },
}

impl Default for BackboneSpec {
    /// VGG11-bn at an eighth of the width: measured with the quality harness
    /// (docs/quality.md), it learns better than VGG16 at a quarter of the width from scratch
    /// and trains several times faster on a CPU.
    fn default() -> Self {
        BackboneSpec::Vgg {
            depth: Depth::Vgg11,
            width_divisor: 8,
        }
    }
}

/// Which pretrained weights start the encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Weights {
    /// Random initialisation (torchvision's scheme). The default: nothing to download.
    #[default]
    None,
    /// ImageNet weights from the Hugging Face cache (`cargo xtask fetch-weights`).
    Imagenet,
    /// A safetensors file of VGG-bn weights (torchvision or timm names).
    Path(PathBuf),
}

/// How the code becomes the embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MergerSpec {
    /// Mean over the plane. The default.
    #[default]
    Mean,
    /// All values of the code.
    Flatten,
}

/// How the network's convolutions multiply on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// f32 products. The default.
    #[default]
    F32,
    /// Inputs, weights and gradients rounded to bfloat16 and their products summed in f32,
    /// where the CPU has AVX512-BF16 (recent AMD EPYC and Intel Xeon) and the layer's shape
    /// suits the direct kernels; f32 elsewhere. Trains faster; docs/quality.md compares the
    /// clusters.
    Bf16,
}

impl From<Precision> for la_ops::ConvPrecision {
    fn from(p: Precision) -> Self {
        match p {
            Precision::F32 => la_ops::ConvPrecision::F32,
            Precision::Bf16 => la_ops::ConvPrecision::Bf16,
        }
    }
}

/// The network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSpec {
    /// The backbone. By default, [`BackboneSpec::default`].
    pub backbone: BackboneSpec,
    /// The encoder's starting weights. By default, none (random).
    pub weights: Weights,
    /// How the code is merged. By default, the mean.
    pub merger: MergerSpec,
    /// Size of the linear projection of the merged code, 0 for none. By default, 128 (the
    /// paper's embedding size).
    pub projection: usize,
    /// How the convolutions multiply on the CPU. By default, f32.
    pub precision: Precision,
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec {
            backbone: BackboneSpec::default(),
            weights: Weights::None,
            merger: MergerSpec::Mean,
            projection: 128,
            precision: Precision::F32,
        }
    }
}

impl ModelSpec {
    /// The VGG depth and width divisor of the backbone.
    pub fn vgg(&self) -> (Depth, usize) {
        match self.backbone {
            BackboneSpec::Vgg {
                depth,
                width_divisor,
            } => (depth, width_divisor),
        }
    }

    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<()> {
        let (depth, width_divisor) = self.vgg();
        let vgg = la_vgg::VggConfig {
            depth,
            width_divisor,
            in_channels: 3,
        };
        if vgg.validate().is_err() {
            return Err(Error::config(
                "model.backbone.width_divisor",
                width_divisor,
                &format!("a divisor of every layer width of {depth}: 1, 2, 4, 8, 16, 32 or 64"),
            ));
        }
        if width_divisor != 1 && self.weights != Weights::None {
            return Err(Error::config(
                "model.weights",
                describe(&self.weights),
                "none when model.backbone.width_divisor is not 1 (pretrained weights are full width: add --width-divisor 1)",
            ));
        }
        Ok(())
    }
}

/// The weights as a user writes them.
fn describe(w: &Weights) -> String {
    match w {
        Weights::None => "none".into(),
        Weights::Imagenet => "imagenet".into(),
        Weights::Path(p) => p.display().to_string(),
    }
}
