//! Tensor operations that candle 0.11 lacks or runs slowly on CPU, written as candle custom ops
//! so that they compose with candle's autograd.
//!
//! Every op checks its inputs first and returns an error naming the op and the offending input
//! (an [`OpError`] inside `candle_core::Error`), never a panic.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use la_ops::{max_pool2d_with_indices, max_unpool2d};
//!
//! // A SegNet pool / unpool pair: the unpooled plane keeps each window's maximum in place.
//! let x = Var::new(&[[[[1f32, 3., 0., 0.], [2., 0., 0., 5.]]]], &Device::Cpu)?;
//! let (pooled, indices) = max_pool2d_with_indices(x.as_tensor(), 2, 2)?;
//! assert_eq!(indices.flatten_all()?.to_vec1::<u32>()?, [1, 7]);
//! let restored = max_unpool2d(&pooled, &indices, (2, 4))?;
//! assert_eq!(
//!     restored.flatten_all()?.to_vec1::<f32>()?,
//!     [0., 3., 0., 0., 0., 0., 0., 5.]
//! );
//! // The gradient reaches only each window's maximum.
//! let grad = restored.sum_all()?.backward()?;
//! let dx = grad.get(x.as_tensor()).expect("x takes part");
//! assert_eq!(dx.flatten_all()?.to_vec1::<f32>()?, [0., 1., 0., 0., 0., 0., 0., 1.]);
//! # Ok::<(), candle_core::Error>(())
//! ```
#![deny(missing_docs)]

mod backend;
mod bank_dots;
mod batch_norm;
mod check;
mod conv;
mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod error;
pub mod generic;
mod matmul;
mod mix_rows;
mod norm_conv;
mod normalize;
mod pool;
mod precision;
mod runtime;
mod softmax_mass;
mod topk;
mod topk_unordered;
mod transpose;
mod unpool;

pub use bank_dots::bank_dots;
pub use batch_norm::{BatchNormConfig, BatchNormMode, batch_norm2d};
pub use conv::{conv_transpose2d, conv2d, conv2d_weight_grad};
pub use error::OpError;
pub use matmul::matmul;
pub use mix_rows::mix_rows_in_place;
pub use norm_conv::{NormConvOutput, NormPrologue, norm_conv2d};
pub use normalize::l2_normalize_rows;
pub use pool::max_pool2d_with_indices;
pub use precision::{ConvPrecision, conv_precision, has_bf16_products, set_conv_precision};
pub use runtime::{release_freed_memory, run_in_worker_pool, tune_cpu_runtime};
pub use softmax_mass::neg_log_softmax_mass;
pub use topk::topk;
pub use topk_unordered::topk_unordered;
pub use transpose::transpose_contiguous;
pub use unpool::max_unpool2d;
