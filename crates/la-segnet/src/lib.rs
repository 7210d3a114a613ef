//! The SegNet-style VGG-bn auto-encoder of the seed implementation, on candle and la-ops.
//!
//! - [`Encoder`]: torchvision's VGG-bn `features` (plan from la-vgg); each 2x2 pool also
//!   returns where its maxima were ([`PoolIndices`]).
//! - [`Decoder`]: the encoder mirrored: a transposed conv3x3 + batch norm + ReLU per encoder
//!   conv, a max-unpool per pool with the mirrored indices, and a bare transposed conv with
//!   bias producing the image.
//! - [`AutoEncoder`]: both, trained to reconstruct the input (stage 1).
//! - [`Embedder`]: the encoder's code merged over the plane ([`Merger`]), optionally
//!   projected, L2-normalised: the embedding Local Aggregation trains (stage 2).
//! - Variables are named as in PyTorch (`encoder.features.{i}.*` as torchvision,
//!   `decoder.layers.{k}.*` as the reference decoder's module list) and carry their
//!   [`ParamGroup`] and [`Role`] for optimisers (weight decay only on [`Role::Weight`]).
//! - Checkpoints: [`save`] writes safetensors atomically ([`write_atomic`], also used for the
//!   training checkpoints); loading is strict and lists every problem.
//!
//! Training mode is an argument of every forward pass (`forward_t(xs, train)`), not state.
//!
//! # Example
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use la_segnet::{AutoEncoder, HasParams, ModelConfig};
//! use la_vgg::VggConfig;
//!
//! let config = ModelConfig { vgg: VggConfig { width_divisor: 16, ..Default::default() }, seed: 0 };
//! let ae = AutoEncoder::new(&config, &Device::Cpu)?;
//! let x = Tensor::randn(0f32, 1., (2, 3, 32, 32), &Device::Cpu)?;
//! let y = ae.forward_t(&x, true)?;
//! assert_eq!(y.dims(), x.dims());
//! let loss = (y - &x)?.sqr()?.mean_all()?;
//! let grads = loss.backward()?;
//! assert!(ae.trainable().iter().all(|p| grads.get(&p.var).is_some()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod atomic;
mod autoencoder;
mod backbone;
mod checkpoint;
mod decoder;
mod embedder;
mod encoder;
mod error;
mod init;
mod layers;
mod params;

pub use atomic::write_atomic;
pub use autoencoder::{AutoEncoder, ModelConfig};
pub use backbone::Backbone;
pub use checkpoint::{load_state, non_finite, save, state, state_mismatches};
pub use decoder::{DECODER_PREFIX, Decoder};
pub use embedder::{Embedder, EmbedderConfig, HEAD_PREFIX, Merger};
pub use encoder::{ENCODER_PREFIX, Encoder, EncoderOutput, PoolIndices};
pub use error::{Error, Result};
pub use params::{HasParams, Param, ParamGroup, Role};
