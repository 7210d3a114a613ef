//! Tensor operations that candle 0.11 lacks or runs slowly on CPU, written as candle custom ops
//! so that they compose with candle's autograd.
//!
//! Every op checks its inputs first and returns an error naming the op and the offending input
//! (an [`OpError`] inside `candle_core::Error`), never a panic.
#![deny(missing_docs)]

mod batch_norm;
mod check;
mod conv;
mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod error;
pub mod generic;
mod normalize;
mod pool;
mod runtime;
mod topk;
mod unpool;

pub use batch_norm::{BatchNormConfig, BatchNormMode, batch_norm2d};
pub use conv::{conv_transpose2d, conv2d, conv2d_weight_grad};
pub use error::OpError;
pub use normalize::l2_normalize_rows;
pub use pool::max_pool2d_with_indices;
pub use runtime::tune_cpu_runtime;
pub use topk::topk;
pub use unpool::max_unpool2d;
