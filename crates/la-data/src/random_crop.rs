//! Random resized crop: a random rectangle of random area and aspect ratio, resized back to
//! the input's size (torchvision's `RandomResizedCrop`).

use image::RgbImage;
use rand::{Rng, RngCore};

use crate::error::{Error, Result};
use crate::resize::{Region, resize_region};
use crate::transform::Transform;

/// Crops a rectangle covering a fraction of the area drawn from `scale` with an aspect ratio
/// (width / height) drawn log-uniformly from `ratio`, at a uniformly random position, and
/// resizes it (bilinear) to the input's size. After 10 draws that do not fit, it falls back to
/// the centred crop with the aspect ratio clamped to `ratio`, as torchvision does.
/// The paper uses `scale = (0.2, 1.0)` and torchvision's default `ratio = (3/4, 4/3)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomResizedCrop {
    scale: (f32, f32),
    ratio: (f32, f32),
}

impl RandomResizedCrop {
    /// `scale` must satisfy `0 < min <= max <= 1`, `ratio` must satisfy `0 < min <= max`.
    pub fn new(scale: (f32, f32), ratio: (f32, f32)) -> Result<Self> {
        if !(scale.0 > 0.0 && scale.0 <= scale.1 && scale.1 <= 1.0) {
            return Err(Error::config(
                "crop scale",
                format!("{scale:?}"),
                "0 < min <= max <= 1",
            ));
        }
        if !(ratio.0 > 0.0 && ratio.0 <= ratio.1 && ratio.1.is_finite()) {
            return Err(Error::config(
                "crop ratio",
                format!("{ratio:?}"),
                "0 < min <= max, finite",
            ));
        }
        Ok(RandomResizedCrop { scale, ratio })
    }

    /// Draws the crop `(left, top, width, height)` for a `width` x `height` image.
    pub(crate) fn draw(
        &self,
        width: u32,
        height: u32,
        rng: &mut dyn RngCore,
    ) -> (u32, u32, u32, u32) {
        let area = f64::from(width) * f64::from(height);
        let (log_lo, log_hi) = (f64::from(self.ratio.0).ln(), f64::from(self.ratio.1).ln());
        for _ in 0..10 {
            let target = area * f64::from(rng.random_range(self.scale.0..=self.scale.1));
            let aspect = rng.random_range(log_lo..=log_hi).exp();
            let w = (target * aspect).sqrt().round() as u32;
            let h = (target / aspect).sqrt().round() as u32;
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = rng.random_range(0..=height - h);
                let left = rng.random_range(0..=width - w);
                return (left, top, w, h);
            }
        }
        self.fallback(width, height)
    }

    fn fallback(&self, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let in_ratio = f64::from(width) / f64::from(height);
        let (lo, hi) = (f64::from(self.ratio.0), f64::from(self.ratio.1));
        let (w, h) = if in_ratio < lo {
            (
                width,
                ((f64::from(width) / lo).round() as u32).clamp(1, height),
            )
        } else if in_ratio > hi {
            (
                ((f64::from(height) * hi).round() as u32).clamp(1, width),
                height,
            )
        } else {
            (width, height)
        };
        ((width - w) / 2, (height - h) / 2, w, h)
    }
}

impl Transform for RandomResizedCrop {
    fn apply(&self, image: RgbImage, rng: &mut dyn RngCore) -> Result<RgbImage> {
        let (width, height) = image.dimensions();
        let (left, top, w, h) = self.draw(width, height, rng);
        let region = Region {
            left: f64::from(left),
            top: f64::from(top),
            width: f64::from(w),
            height: f64::from(h),
        };
        resize_region(&image, region, width, height)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn crops_lie_inside_with_area_and_ratio_in_range() {
        let crop = RandomResizedCrop::new((0.2, 1.0), (0.75, 4.0 / 3.0)).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let (mut small, mut large) = (false, false);
        for _ in 0..1000 {
            let (l, t, w, h) = crop.draw(224, 160, &mut rng);
            assert!(l + w <= 224 && t + h <= 160 && w > 0 && h > 0);
            let frac = f64::from(w * h) / (224.0 * 160.0);
            let ratio = f64::from(w) / f64::from(h);
            // Rounding w and h to whole pixels moves area and ratio a little.
            assert!((0.19..=1.01).contains(&frac), "{frac}");
            assert!((0.74..=1.35).contains(&ratio), "{ratio}");
            small |= frac < 0.3;
            large |= frac > 0.9;
        }
        assert!(small && large, "the whole scale range is used");
    }

    #[test]
    fn fallback_is_a_centred_crop_with_a_clamped_ratio() {
        let crop = RandomResizedCrop::new((1.0, 1.0), (1.0, 1.0)).unwrap();
        // A square crop of the full area cannot fit in 300x100: every draw fails.
        let mut rng = StdRng::seed_from_u64(4);
        assert_eq!(crop.draw(300, 100, &mut rng), (100, 0, 100, 100));
        assert_eq!(crop.draw(100, 300, &mut rng), (0, 100, 100, 100));
    }

    #[test]
    fn output_keeps_the_input_size_and_a_full_crop_is_the_identity() {
        let image = RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut rng = StdRng::seed_from_u64(5);
        let any = RandomResizedCrop::new((0.2, 1.0), (0.75, 4.0 / 3.0)).unwrap();
        assert_eq!(
            any.apply(image.clone(), &mut rng).unwrap().dimensions(),
            (32, 32)
        );
        let full = RandomResizedCrop::new((1.0, 1.0), (1.0, 1.0)).unwrap();
        assert_eq!(full.apply(image.clone(), &mut rng).unwrap(), image);
        assert!(RandomResizedCrop::new((0.0, 1.0), (1.0, 1.0)).is_err());
        assert!(RandomResizedCrop::new((0.5, 0.4), (1.0, 1.0)).is_err());
    }
}
