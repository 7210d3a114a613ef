//! Pretrained variants, one per depth, as timm's `default_cfgs`.

use std::path::PathBuf;

use crate::hf_cache::DEFAULT_REVISION;
use crate::{Depth, Error, HfCache, VggConfig};

/// ImageNet channel means (RGB), timm's `IMAGENET_DEFAULT_MEAN`.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB), timm's `IMAGENET_DEFAULT_STD`.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A pretrained VGG-bn checkpoint and the preprocessing it was trained with.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Variant {
    /// timm's model name, e.g. `vgg16_bn`.
    pub name: &'static str,
    /// The plan it was trained with (at full width, on RGB input).
    pub depth: Depth,
    /// Hugging Face hub repository: timm's `hf_hub_id` plus the pretrained tag.
    pub hub_repo: &'static str,
    /// The weights file in that repository.
    pub file: &'static str,
    /// The original torchvision release the hub copy was converted from.
    pub origin_url: &'static str,
    /// Input normalisation: channel means.
    pub mean: [f32; 3],
    /// Input normalisation: channel standard deviations.
    pub std: [f32; 3],
    /// Training input size, `(channels, height, width)`.
    pub input_size: (usize, usize, usize),
    /// Fraction of the resized image kept by the centre crop at evaluation.
    pub crop_pct: f32,
}

const fn imagenet(
    name: &'static str,
    depth: Depth,
    hub_repo: &'static str,
    origin_url: &'static str,
) -> Variant {
    Variant {
        name,
        depth,
        hub_repo,
        file: "model.safetensors",
        origin_url,
        mean: IMAGENET_MEAN,
        std: IMAGENET_STD,
        input_size: (3, 224, 224),
        crop_pct: 0.875,
    }
}

/// The batch-norm variants timm publishes (`vgg*_bn.tv_in1k`: torchvision's ImageNet-1k
/// weights, `features.{i}.*` names unchanged, classifier renamed `pre_logits.*` / `head.*`).
pub const VARIANTS: [Variant; 4] = [
    imagenet(
        "vgg11_bn",
        Depth::Vgg11,
        "timm/vgg11_bn.tv_in1k",
        "https://download.pytorch.org/models/vgg11_bn-6002323d.pth",
    ),
    imagenet(
        "vgg13_bn",
        Depth::Vgg13,
        "timm/vgg13_bn.tv_in1k",
        "https://download.pytorch.org/models/vgg13_bn-abd245e5.pth",
    ),
    imagenet(
        "vgg16_bn",
        Depth::Vgg16,
        "timm/vgg16_bn.tv_in1k",
        "https://download.pytorch.org/models/vgg16_bn-6c64b313.pth",
    ),
    imagenet(
        "vgg19_bn",
        Depth::Vgg19,
        "timm/vgg19_bn.tv_in1k",
        "https://download.pytorch.org/models/vgg19_bn-c79401a0.pth",
    ),
];

impl Variant {
    /// The variant trained with this depth.
    pub fn for_depth(depth: Depth) -> &'static Variant {
        let index = match depth {
            Depth::Vgg11 => 0,
            Depth::Vgg13 => 1,
            Depth::Vgg16 => 2,
            Depth::Vgg19 => 3,
        };
        &VARIANTS[index]
    }

    /// The variant called `name` (`vgg16_bn`, or any spelling [`Depth`] parses: `16`, `vgg16`).
    pub fn by_name(name: &str) -> Result<&'static Variant, Error> {
        let depth: Depth = name.parse().map_err(|_| Error::Config {
            field: "variant",
            value: name.to_string(),
            expected: format!("one of {}", VARIANTS.map(|v| v.name).join(", ")),
        })?;
        Ok(Variant::for_depth(depth))
    }

    /// The weights file in the local Hugging Face `cache` (`HfCache::from_env()` for the
    /// standard one), without any network access. The error says how to provide it.
    pub fn cached_weights(&self, cache: &HfCache) -> Result<PathBuf, Error> {
        cache.resolve(self.hub_repo, DEFAULT_REVISION, self.file)
    }

    /// The configuration the weights fit: this depth, full width, 3 input channels.
    pub fn config(&self) -> VggConfig {
        VggConfig {
            depth: self.depth,
            ..VggConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_variant_per_depth_named_after_it() {
        for depth in Depth::ALL {
            let v = Variant::for_depth(depth);
            assert_eq!(v.depth, depth);
            assert_eq!(v.name, format!("{depth}_bn"));
            assert_eq!(v.hub_repo, format!("timm/{depth}_bn.tv_in1k"));
            assert!(
                v.origin_url.contains(&format!("/{depth}_bn-")),
                "{}",
                v.origin_url
            );
            assert_eq!(Variant::by_name(v.name).unwrap(), v);
        }
        let err = Variant::by_name("resnet50").unwrap_err().to_string();
        assert!(
            err.contains("resnet50") && err.contains("vgg16_bn"),
            "{err}"
        );
    }
}
