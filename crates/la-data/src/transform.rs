//! The transform trait and the simplest random transforms: horizontal flip and grayscale.

use std::fmt::Debug;

use image::RgbImage;
use rand::{Rng, RngCore};

use crate::error::{Error, Result};

/// One step of an augmentation pipeline: takes an image, returns the transformed image. Any
/// randomness comes from `rng`, which the loader seeds per item and epoch so that runs
/// reproduce.
pub trait Transform: Send + Sync + Debug {
    /// Transforms `image`.
    fn apply(&self, image: RgbImage, rng: &mut dyn RngCore) -> Result<RgbImage>;
}

/// Checks that a probability is in `[0, 1]`.
pub(crate) fn check_probability(field: &'static str, p: f32) -> Result<f32> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(Error::config(field, p, "a probability in [0, 1]"))
    }
}

/// Mirrors the image left-right with probability `p` (torchvision's `RandomHorizontalFlip`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomHorizontalFlip {
    p: f32,
}

impl RandomHorizontalFlip {
    /// Flips with probability `p` (the paper: 0.5).
    pub fn new(p: f32) -> Result<Self> {
        Ok(RandomHorizontalFlip {
            p: check_probability("horizontal flip probability", p)?,
        })
    }
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, mut image: RgbImage, rng: &mut dyn RngCore) -> Result<RgbImage> {
        if rng.random::<f32>() < self.p {
            image::imageops::flip_horizontal_in_place(&mut image);
        }
        Ok(image)
    }
}

/// Replaces the image by its luma, in all three channels, with probability `p`
/// (torchvision's `RandomGrayscale`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomGrayscale {
    p: f32,
}

impl RandomGrayscale {
    /// Converts with probability `p` (the paper: 0.2).
    pub fn new(p: f32) -> Result<Self> {
        Ok(RandomGrayscale {
            p: check_probability("grayscale probability", p)?,
        })
    }
}

impl Transform for RandomGrayscale {
    fn apply(&self, mut image: RgbImage, rng: &mut dyn RngCore) -> Result<RgbImage> {
        if rng.random::<f32>() < self.p {
            for p in image.pixels_mut() {
                p.0 = [luma(p.0); 3];
            }
        }
        Ok(image)
    }
}

/// ITU-R 601-2 luma with Pillow's fixed-point rounding (`convert("L")`):
/// `(19595 R + 38470 G + 7471 B + 2^15) >> 16`.
pub(crate) fn luma([r, g, b]: [u8; 3]) -> u8 {
    ((19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 0x8000) >> 16) as u8
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn ramp() -> RgbImage {
        RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8 * 70, 200]))
    }

    #[test]
    fn flip_mirrors_or_keeps_and_follows_its_probability() {
        let mut rng = StdRng::seed_from_u64(1);
        let flip = RandomHorizontalFlip::new(0.5).unwrap();
        let (mut flipped, n) = (0, 2000);
        for _ in 0..n {
            let out = flip.apply(ramp(), &mut rng).unwrap();
            if out.get_pixel(0, 1) == ramp().get_pixel(4, 1) {
                flipped += 1;
                for (x, y, p) in out.enumerate_pixels() {
                    assert_eq!(p, ramp().get_pixel(4 - x, y));
                }
            } else {
                assert_eq!(out, ramp());
            }
        }
        // Binomial(2000, 0.5): 5 standard deviations is 112.
        assert!((flipped - 1000i32).abs() < 112, "{flipped}");
        assert!(RandomHorizontalFlip::new(1.5).is_err());
    }

    #[test]
    fn luma_matches_pillow_values() {
        // Values printed by Pillow: Image.new("RGB", (1, 1), c).convert("L").getpixel((0, 0)).
        assert_eq!(luma([255, 0, 0]), 76);
        assert_eq!(luma([0, 255, 0]), 150);
        assert_eq!(luma([0, 0, 255]), 29);
        assert_eq!(luma([255, 255, 255]), 255);
        assert_eq!(luma([10, 20, 30]), 18);
    }

    #[test]
    fn grayscale_always_or_never() {
        let mut rng = StdRng::seed_from_u64(2);
        let all = RandomGrayscale::new(1.0)
            .unwrap()
            .apply(ramp(), &mut rng)
            .unwrap();
        for (p, q) in all.pixels().zip(ramp().pixels()) {
            assert_eq!(p.0, [luma(q.0); 3]);
        }
        let none = RandomGrayscale::new(0.0)
            .unwrap()
            .apply(ramp(), &mut rng)
            .unwrap();
        assert_eq!(none, ramp());
    }
}
