//! What an [`Embedder`](crate::Embedder) needs of a network: images in, a feature map out.
//! A new backbone (a ResNet, say) is one new type implementing [`Backbone`].

use std::fmt::Debug;
use std::path::Path;

use candle_core::Tensor;

use crate::checkpoint::load_into;
use crate::params::HasParams;
use crate::{Encoder, Result};

/// A network that turns a batch of images into a feature map.
pub trait Backbone: HasParams + Debug + Send + Sync {
    /// The feature map (N, C, h, w) of images (N, 3, H, W); `train` selects batch statistics
    /// (and updates running ones) in normalisation layers.
    fn features(&self, xs: &Tensor, train: bool) -> Result<Tensor>;

    /// C, the channels of the feature map.
    fn channels(&self) -> usize;

    /// How many times smaller than the input the feature map is on each side.
    fn reduction(&self) -> usize;

    /// A short description for messages, e.g. `vgg16_bn (width 1/4, 3 input channels)`.
    fn describe(&self) -> String;

    /// Loads the backbone's variables from a checkpoint that holds them among others (an
    /// embedder's or a whole auto-encoder's): every variable must be there with its shape.
    fn load_from(&self, path: &Path) -> Result<()> {
        let ours: Vec<String> = self.variables().into_iter().map(|p| p.name).collect();
        load_into(&self.variables(), path, &self.describe(), |name| {
            !ours.iter().any(|o| o == name)
        })
    }
}

impl Backbone for Encoder {
    fn features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.forward_t(xs, train)?.code)
    }

    fn channels(&self) -> usize {
        self.code_channels()
    }

    fn reduction(&self) -> usize {
        1 << self.config().pools()
    }

    fn describe(&self) -> String {
        self.config().to_string()
    }
}
