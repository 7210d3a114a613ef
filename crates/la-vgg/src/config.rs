//! [`VggConfig`] and the one builder loop that turns a plan into numbered feature layers.

use std::fmt;

use crate::{Depth, Error, Layer};

/// Which VGG-bn network to build: depth, width and input channels.
///
/// Call sites override single fields: `VggConfig { width_divisor: 16, ..Default::default() }`.
/// Every function that uses a config validates it first ([`VggConfig::validate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VggConfig {
    /// Which plan. By default, [`Depth::Vgg16`].
    pub depth: Depth,
    /// Every convolution has `width / width_divisor` output channels. By default, 1 (full
    /// width, the only width pretrained weights exist for); 16 gives the tiny models of the
    /// tests (64 -> 4 channels, 512 -> 32). Must divide every width of the plan.
    pub width_divisor: usize,
    /// Channels of the input image. By default, 3 (RGB).
    pub in_channels: usize,
}

impl Default for VggConfig {
    /// VGG16-bn at full width on RGB input: the encoder of the paper.
    fn default() -> Self {
        VggConfig {
            depth: Depth::Vgg16,
            width_divisor: 1,
            in_channels: 3,
        }
    }
}

impl fmt::Display for VggConfig {
    /// E.g. `vgg16_bn (full width, 3 input channels)` or `vgg11_bn (width 1/16, 1 input channel)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_bn (", self.depth)?;
        match self.width_divisor {
            1 => write!(f, "full width")?,
            d => write!(f, "width 1/{d}")?,
        }
        let plural = if self.in_channels == 1 { "" } else { "s" };
        write!(f, ", {} input channel{plural})", self.in_channels)
    }
}

/// One numbered layer of torchvision's `features` sequence, as the builder loop emits it.
///
/// In the batch-norm variants a convolution at `index` is followed by its BatchNorm2d at
/// `index + 1` and its ReLU at `index + 2`; a pool takes one index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureLayer {
    /// Conv3x3 (padding 1, with bias) + BatchNorm2d + ReLU.
    Conv {
        /// Position of the convolution in `features`.
        index: usize,
        /// Input channels.
        in_channels: usize,
        /// Output channels (also the channels of its batch norm).
        out_channels: usize,
    },
    /// 2x2 max-pool, stride 2.
    Pool {
        /// Position of the pool in `features`.
        index: usize,
        /// Channels passing through it.
        channels: usize,
    },
}

impl FeatureLayer {
    /// Position in `features` (of the convolution, for a conv block).
    pub fn index(&self) -> usize {
        match *self {
            FeatureLayer::Conv { index, .. } | FeatureLayer::Pool { index, .. } => index,
        }
    }

    /// Position of the batch norm of a conv block; `None` for a pool.
    pub fn bn_index(&self) -> Option<usize> {
        match *self {
            FeatureLayer::Conv { index, .. } => Some(index + 1),
            FeatureLayer::Pool { .. } => None,
        }
    }

    /// How many positions of `features` this layer takes: 3 for a conv block, 1 for a pool.
    pub fn span(&self) -> usize {
        match self {
            FeatureLayer::Conv { .. } => 3,
            FeatureLayer::Pool { .. } => 1,
        }
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        match *self {
            FeatureLayer::Conv { out_channels, .. } => out_channels,
            FeatureLayer::Pool { channels, .. } => channels,
        }
    }
}

/// One feature map a backbone can hand out, as timm's `feature_info`: the output of the layer
/// just before each pool, then the output of the last pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureInfo {
    /// Channels of this feature map.
    pub channels: usize,
    /// Down-sampling factor relative to the input (1, 2, 4, 8, 16, then 32).
    pub reduction: usize,
    /// Index in `features` of the layer producing it.
    pub module_index: usize,
}

impl VggConfig {
    /// Checks every field; the error names the field, its value and what was expected.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field, value: usize, expected: String| Error::Config {
            field,
            value: value.to_string(),
            expected,
        };
        if self.in_channels == 0 {
            return Err(invalid("in_channels", 0, "at least 1".into()));
        }
        let widths = self.depth.layers().iter().filter_map(|l| match l {
            Layer::Conv(w) => Some(*w),
            Layer::Pool => None,
        });
        for width in widths {
            if self.width_divisor == 0 || width % self.width_divisor != 0 {
                return Err(invalid(
                    "width_divisor",
                    self.width_divisor,
                    format!(
                        "a divisor of every width of {} (it does not divide {width}); one of 1, 2, 4, 8, 16, 32, 64",
                        self.depth
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The layers of `features` in order, numbered as torchvision numbers them.
    ///
    /// This is the one builder loop of the crate (torchvision's `make_layers`): tensor names
    /// ([`tensor_specs`](crate::tensor_specs)), the stage list ([`VggConfig::feature_info`]) and
    /// the SegNet encoder and decoder are all derived from its output.
    pub fn features(&self) -> Result<Vec<FeatureLayer>, Error> {
        self.validate()?;
        let mut layers = Vec::with_capacity(self.depth.layers().len());
        let mut index = 0;
        let mut channels = self.in_channels;
        for layer in self.depth.layers() {
            let built = match *layer {
                Layer::Conv(width) => FeatureLayer::Conv {
                    index,
                    in_channels: channels,
                    out_channels: width / self.width_divisor,
                },
                Layer::Pool => FeatureLayer::Pool { index, channels },
            };
            index += built.span();
            channels = built.out_channels();
            layers.push(built);
        }
        Ok(layers)
    }

    /// The feature maps a backbone can hand out, as timm's `VGG.feature_info`.
    pub fn feature_info(&self) -> Result<Vec<FeatureInfo>, Error> {
        let layers = self.features()?;
        let mut info = Vec::new();
        let mut reduction = 1;
        let mut channels = self.in_channels;
        for layer in &layers {
            if let FeatureLayer::Pool { index, .. } = *layer {
                // The ReLU of the block before the pool (or the input, if a plan began with one).
                let module_index = index.saturating_sub(1);
                info.push(FeatureInfo {
                    channels,
                    reduction,
                    module_index,
                });
                reduction *= 2;
            }
            channels = layer.out_channels();
        }
        let module_index = layers.last().map_or(0, |l| l.index() + l.span() - 1);
        info.push(FeatureInfo {
            channels,
            reduction,
            module_index,
        });
        Ok(info)
    }

    /// Channels of the encoder's output (512 / `width_divisor` for every plan).
    pub fn out_channels(&self) -> Result<usize, Error> {
        let layers = self.features()?;
        Ok(layers
            .last()
            .map_or(self.in_channels, FeatureLayer::out_channels))
    }

    /// Number of pools: the input side must be a multiple of `2^pools` (32 for every plan).
    pub fn pools(&self) -> usize {
        self.depth
            .layers()
            .iter()
            .filter(|l| **l == Layer::Pool)
            .count()
    }
}
