//! The generic path: every op built from candle tensor ops only, so that it runs on any device
//! candle supports (this is what tensors on Metal use; on the CPU and, with the `cuda`
//! feature, on CUDA the ops run la-ops' own kernels). Also a second, independent reference for
//! the kernels in tests.
//!
//! Each function validates its inputs as the kernel version does and has the same semantics,
//! except where its documentation says otherwise (ties, NaN, out-of-range indices may resolve
//! as candle's own ops do on the device).

pub use crate::bank_dots::generic::bank_dots;
pub use crate::batch_norm::generic::batch_norm2d;
pub use crate::conv::generic::{conv_transpose2d, conv2d, conv2d_weight_grad};
pub use crate::matmul::generic::matmul;
pub use crate::mix_rows::generic::mix_rows_in_place;
pub use crate::normalize::generic::l2_normalize_rows;
pub use crate::pool::generic::max_pool2d_with_indices;
pub use crate::softmax_mass::generic::neg_log_softmax_mass;
pub use crate::topk::generic::topk;
pub use crate::topk_unordered::generic::topk_unordered;
pub use crate::transpose::generic::transpose_contiguous;
pub use crate::unpool::generic::max_unpool2d;
