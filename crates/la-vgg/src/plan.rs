//! The VGG layer plans as data: torchvision's `cfgs` table, one constant per depth.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// One entry of a VGG plan, as in torchvision's `cfgs` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// A 3x3 convolution (padding 1) with this many output channels at full width; in the
    /// batch-norm variants it is followed by a BatchNorm2d and a ReLU.
    Conv(usize),
    /// A 2x2 max-pool with stride 2 (`'M'` in torchvision's lists).
    Pool,
}

use Layer::{Conv, Pool};

/// VGG11, configuration "A": 8 convolutions, 5 pools.
#[rustfmt::skip]
pub const VGG11: &[Layer] = &[
    Conv(64), Pool,
    Conv(128), Pool,
    Conv(256), Conv(256), Pool,
    Conv(512), Conv(512), Pool,
    Conv(512), Conv(512), Pool,
];

/// VGG13, configuration "B": 10 convolutions, 5 pools.
#[rustfmt::skip]
pub const VGG13: &[Layer] = &[
    Conv(64), Conv(64), Pool,
    Conv(128), Conv(128), Pool,
    Conv(256), Conv(256), Pool,
    Conv(512), Conv(512), Pool,
    Conv(512), Conv(512), Pool,
];

/// VGG16, configuration "D": 13 convolutions, 5 pools. The encoder of the SegNet auto-encoder.
#[rustfmt::skip]
pub const VGG16: &[Layer] = &[
    Conv(64), Conv(64), Pool,
    Conv(128), Conv(128), Pool,
    Conv(256), Conv(256), Conv(256), Pool,
    Conv(512), Conv(512), Conv(512), Pool,
    Conv(512), Conv(512), Conv(512), Pool,
];

/// VGG19, configuration "E": 16 convolutions, 5 pools.
#[rustfmt::skip]
pub const VGG19: &[Layer] = &[
    Conv(64), Conv(64), Pool,
    Conv(128), Conv(128), Pool,
    Conv(256), Conv(256), Conv(256), Conv(256), Pool,
    Conv(512), Conv(512), Conv(512), Conv(512), Pool,
    Conv(512), Conv(512), Conv(512), Conv(512), Pool,
];

/// The number of weight layers of a VGG network: which of the four plans to build. In
/// configuration files it is the number itself (`depth = 16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u32", into = "u32")]
#[non_exhaustive]
pub enum Depth {
    /// [`VGG11`].
    Vgg11,
    /// [`VGG13`].
    Vgg13,
    /// [`VGG16`], the default.
    Vgg16,
    /// [`VGG19`].
    Vgg19,
}

impl Depth {
    /// Every depth, shallowest first.
    pub const ALL: [Depth; 4] = [Depth::Vgg11, Depth::Vgg13, Depth::Vgg16, Depth::Vgg19];

    /// The layer plan of this depth.
    pub fn layers(self) -> &'static [Layer] {
        match self {
            Depth::Vgg11 => VGG11,
            Depth::Vgg13 => VGG13,
            Depth::Vgg16 => VGG16,
            Depth::Vgg19 => VGG19,
        }
    }

    /// The number of weight layers, 11, 13, 16 or 19 (convolutions plus the three
    /// classifier layers, as in the paper's naming).
    pub fn weight_layers(self) -> usize {
        match self {
            Depth::Vgg11 => 11,
            Depth::Vgg13 => 13,
            Depth::Vgg16 => 16,
            Depth::Vgg19 => 19,
        }
    }

    /// The depth with this number of weight layers, if there is one.
    pub fn from_weight_layers(n: usize) -> Option<Depth> {
        Depth::ALL.into_iter().find(|d| d.weight_layers() == n)
    }
}

impl TryFrom<u32> for Depth {
    type Error = Error;

    /// 11, 13, 16 or 19.
    fn try_from(n: u32) -> Result<Self, Error> {
        Depth::from_weight_layers(n as usize).ok_or_else(|| Error::Config {
            field: "depth",
            value: n.to_string(),
            expected: "11, 13, 16 or 19".to_string(),
        })
    }
}

impl From<Depth> for u32 {
    fn from(d: Depth) -> u32 {
        d.weight_layers() as u32
    }
}

impl Default for Depth {
    /// [`Depth::Vgg16`], the encoder of the paper.
    fn default() -> Self {
        Depth::Vgg16
    }
}

impl fmt::Display for Depth {
    /// `vgg11`, `vgg13`, `vgg16` or `vgg19`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vgg{}", self.weight_layers())
    }
}

impl FromStr for Depth {
    type Err = Error;

    /// Accepts `16`, `vgg16` and `vgg16_bn` (case-insensitive), and likewise for 11, 13, 19.
    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        let digits = lower.strip_prefix("vgg").unwrap_or(&lower);
        let digits = digits.strip_suffix("_bn").unwrap_or(digits);
        digits
            .parse()
            .ok()
            .and_then(Depth::from_weight_layers)
            .ok_or_else(|| Error::Config {
                field: "depth",
                value: s.to_string(),
                expected: "11, 13, 16 or 19 (optionally written vgg16 or vgg16_bn)".to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_parses_and_prints() {
        for d in Depth::ALL {
            assert_eq!(d.to_string().parse::<Depth>().unwrap(), d);
            assert_eq!(format!("{d}_bn").parse::<Depth>().unwrap(), d);
            assert_eq!(d.weight_layers().to_string().parse::<Depth>().unwrap(), d);
        }
        assert_eq!("VGG16_BN".parse::<Depth>().unwrap(), Depth::Vgg16);
        let err = "vgg17".parse::<Depth>().unwrap_err().to_string();
        assert!(
            err.contains("vgg17") && err.contains("11, 13, 16 or 19"),
            "{err}"
        );
    }

    #[test]
    fn depth_is_a_number_in_configuration_files() {
        assert_eq!(serde_json::to_string(&Depth::Vgg11).unwrap(), "11");
        assert_eq!(serde_json::from_str::<Depth>("19").unwrap(), Depth::Vgg19);
        let err = serde_json::from_str::<Depth>("17").unwrap_err().to_string();
        assert!(err.contains("11, 13, 16 or 19"), "{err}");
    }

    #[test]
    fn weight_layers_count_convolutions_plus_three_classifier_layers() {
        for d in Depth::ALL {
            let convs = d.layers().iter().filter(|l| matches!(l, Conv(_))).count();
            assert_eq!(convs + 3, d.weight_layers(), "{d}");
        }
    }
}
