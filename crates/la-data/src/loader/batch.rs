//! One batch of the loader: images, item indices and labels.

use candle_core::{Device, Tensor};

use crate::error::Result;

/// One batch: normalised images `(views * N, 3, H, W)` f32 (all first views of the N items,
/// then all second views, ...), and for each item its index (the memory bank row) and label.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The images, normalised.
    pub images: Tensor,
    /// Augmented copies of each item in `images`.
    pub views: usize,
    /// The item index of each image.
    pub indices: Vec<usize>,
    /// The label of each image, where known.
    pub labels: Vec<Option<usize>>,
}

impl Batch {
    /// Number of items (each seen `views` times in `images`).
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// The images of view `v`, `(N, 3, H, W)`.
    pub fn view(&self, v: usize) -> Result<Tensor> {
        Ok(self.images.narrow(0, v * self.len(), self.len())?)
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
