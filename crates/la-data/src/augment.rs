//! The augmentations Local Aggregation trains with, as one configuration.

use std::sync::Arc;

use crate::color_jitter::ColorJitter;
use crate::error::Result;
use crate::random_crop::RandomResizedCrop;
use crate::rotation::RandomRotation;
use crate::transform::{RandomGrayscale, RandomHorizontalFlip, Transform};

/// The training augmentations, applied in the order of the reference implementation
/// (Wu et al. 2018, reused by Zhuang et al. 2019): random resized crop, random grayscale,
/// colour jitter, horizontal flip, then the optional rotation.
///
/// `Default` gives the paper's values; change fields with
/// `Augmentations { rotation: Some(10.0), ..Default::default() }`. Serialisable: in a
/// configuration file missing fields keep their defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augmentations {
    /// Whether to augment at all; `false` gives no transforms. By default, true.
    pub enabled: bool,
    /// Area fraction range of the random crop. By default `(0.2, 1.0)`.
    pub crop_scale: (f32, f32),
    /// Aspect ratio range of the random crop. By default `(3/4, 4/3)`.
    pub crop_ratio: (f32, f32),
    /// Probability of converting to grayscale. By default 0.2.
    pub grayscale: f32,
    /// Colour jitter strengths: brightness, contrast, saturation, hue. By default 0.4 each.
    pub jitter: [f32; 4],
    /// Probability of a horizontal flip. By default 0.5.
    pub hflip: f32,
    /// Largest rotation angle in degrees, if any. By default, no rotation.
    pub rotation: Option<f32>,
}

impl Default for Augmentations {
    fn default() -> Self {
        Augmentations {
            enabled: true,
            crop_scale: (0.2, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            grayscale: 0.2,
            jitter: [0.4; 4],
            hflip: 0.5,
            rotation: None,
        }
    }
}

impl Augmentations {
    /// The augmentations of contrastive learning for square images of `side` pixels:
    /// SimCLR's colour distortion (brightness, contrast and saturation 0.8, hue 0.2,
    /// grayscale with probability 0.2), horizontal flips, and random resized crops that keep
    /// at least 20 x 20 pixels and at least the paper's 0.2 of the area, so a crop still
    /// shows the object on small images: the smallest area fraction is
    /// `max(0.2, (20 / side)^2)`, 0.39 at 32 pixels, 0.2 from 45 pixels up.
    ///
    /// ```
    /// use la_data::Augmentations;
    /// assert_eq!(Augmentations::for_side(224).crop_scale, (0.2, 1.0));
    /// assert!((Augmentations::for_side(32).crop_scale.0 - 0.390625).abs() < 1e-6);
    /// ```
    pub fn for_side(side: u32) -> Self {
        const MIN_CROP_PIXELS: f32 = 20.0;
        let keep = (MIN_CROP_PIXELS / side.max(1) as f32).powi(2);
        Augmentations {
            crop_scale: (keep.clamp(0.2, 1.0), 1.0),
            jitter: [0.8, 0.8, 0.8, 0.2],
            ..Default::default()
        }
    }

    /// No augmentation at all.
    pub fn none() -> Self {
        Augmentations {
            enabled: false,
            ..Default::default()
        }
    }

    /// Checks every field (also when disabled, so that a configuration stays valid when it
    /// is turned on); the error names the first bad one.
    pub fn check(&self) -> Result<()> {
        self.build().map(|_| ())
    }

    /// The validated transforms, in application order; none when disabled.
    pub fn transforms(&self) -> Result<Vec<Arc<dyn Transform>>> {
        let list = self.build()?;
        Ok(if self.enabled { list } else { Vec::new() })
    }

    fn build(&self) -> Result<Vec<Arc<dyn Transform>>> {
        let [b, c, s, h] = self.jitter;
        let mut list: Vec<Arc<dyn Transform>> = vec![
            Arc::new(RandomResizedCrop::new(self.crop_scale, self.crop_ratio)?),
            Arc::new(RandomGrayscale::new(self.grayscale)?),
            Arc::new(ColorJitter::new(b, c, s, h)?),
            Arc::new(RandomHorizontalFlip::new(self.hflip)?),
        ];
        if let Some(degrees) = self.rotation {
            list.push(Arc::new(RandomRotation::new(degrees)?));
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build_and_bad_values_are_refused() {
        assert_eq!(Augmentations::default().transforms().unwrap().len(), 4);
        let rotated = Augmentations {
            rotation: Some(15.0),
            ..Default::default()
        };
        assert_eq!(rotated.transforms().unwrap().len(), 5);
        assert!(Augmentations::none().transforms().unwrap().is_empty());
        for bad in [
            Augmentations {
                grayscale: 1.2,
                ..Default::default()
            },
            Augmentations {
                jitter: [0.4, 0.4, 0.4, 0.6],
                ..Default::default()
            },
            Augmentations {
                crop_scale: (0.0, 1.0),
                ..Default::default()
            },
            Augmentations {
                rotation: Some(-1.0),
                ..Default::default()
            },
        ] {
            assert!(bad.transforms().is_err(), "{bad:?}");
            let off = Augmentations {
                enabled: false,
                ..bad
            };
            assert!(off.check().is_err(), "checked when disabled too: {off:?}");
        }
    }
}
