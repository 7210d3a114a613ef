//! The VGG-bn backbone as data, and its pretrained weights.
//!
//! - **Plans**: torchvision's `cfgs` as constants ([`VGG11`] .. [`VGG19`], entries [`Layer`]);
//!   [`VggConfig`] picks a depth, a width divisor (tiny test models) and the input channels.
//! - **One builder loop**, [`VggConfig::features`], numbers the layers as torchvision's
//!   `features` sequence does (conv at `i`, batch norm at `i + 1`, ReLU at `i + 2`, a pool
//!   takes one index). Tensor names ([`tensor_specs`]: `features.{i}.weight`, ..) and the stage
//!   list ([`VggConfig::feature_info`], as timm's `feature_info`) are derived from it.
//! - **Strict loading** ([`load_weights`]) of torchvision or timm safetensors checkpoints:
//!   every tensor present with its shape, f16 / bf16 / f32 / f64 converted to f32, the
//!   classifier and `num_batches_tracked` skipped, every mismatch listed in one error.
//! - **Pretrained variants** ([`VARIANTS`], as timm's `default_cfgs`): hub repository, file,
//!   mean / std, input size.
//! - **The Hugging Face cache** ([`HfCache`]): where a hub file lives locally, no network.
//!   With the `hub` feature (off by default), `hub::fetch` downloads into that cache.
//!
//! # Example
//!
//! ```
//! use std::collections::HashMap;
//! use candle_core::{DType, Device, Tensor};
//! use la_vgg::{Depth, FeatureLayer, VggConfig, load_weights, tensor_specs};
//!
//! let config = VggConfig { depth: Depth::Vgg16, width_divisor: 16, ..Default::default() };
//! let layers = config.features()?;
//! assert_eq!(layers.len(), 18); // 13 conv blocks, 5 pools
//! assert_eq!(
//!     layers[16],
//!     FeatureLayer::Conv { index: 40, in_channels: 32, out_channels: 32 }
//! );
//!
//! // Write a checkpoint with every expected tensor, then load it back.
//! let device = Device::Cpu;
//! let specs = tensor_specs(&config)?;
//! let tensors: HashMap<String, Tensor> = specs
//!     .iter()
//!     .map(|s| Ok((s.name.clone(), Tensor::zeros(s.shape.as_slice(), DType::F16, &device)?)))
//!     .collect::<candle_core::Result<_>>()?;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tiny.safetensors");
//! candle_core::safetensors::save(&tensors, &path)?;
//!
//! let weights = load_weights(&path, &config, &device)?;
//! let kernel = weights.get("features.40.weight").expect("checked by load_weights");
//! assert_eq!(kernel.dims(), &[32, 32, 3, 3]);
//! assert_eq!(kernel.dtype(), DType::F32);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod config;
mod error;
mod hf_cache;
#[cfg(feature = "hub")]
pub mod hub;
mod load;
mod names;
mod plan;
mod st_file;
mod variant;

pub use config::{FeatureInfo, FeatureLayer, VggConfig};
pub use error::{Error, Problem};
pub use hf_cache::{DEFAULT_REVISION, HfCache};
pub use load::{VggWeights, load_weights, load_weights_with_prefix};
pub use names::{
    NameKind, TensorRole, TensorSpec, classify_name, feature_tensor_name, tensor_specs,
};
pub use plan::{Depth, Layer, VGG11, VGG13, VGG16, VGG19};
pub use variant::{IMAGENET_MEAN, IMAGENET_STD, VARIANTS, Variant};
