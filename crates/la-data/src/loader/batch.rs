//! One batch of the loader: images, item indices and labels.

use candle_core::{Device, Tensor};

use crate::error::Result;

/// One batch: normalised images `(N, 3, H, W)` f32, and for each image its item index (the
/// memory bank row) and label.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The images, normalised.
    pub images: Tensor,
    /// The item index of each image.
    pub indices: Vec<usize>,
    /// The label of each image, where known.
    pub labels: Vec<Option<usize>>,
}

impl Batch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True if the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The item indices as a `u32` tensor of shape `(N,)`, for indexing the memory bank.
    pub fn indices_tensor(&self, device: &Device) -> Result<Tensor> {
        let v: Vec<u32> = self.indices.iter().map(|&i| i as u32).collect();
        Ok(Tensor::from_vec(v, self.indices.len(), device)?)
    }
}
