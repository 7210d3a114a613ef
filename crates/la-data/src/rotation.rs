//! Random rotation about the centre (torchvision's `RandomRotation`, nearest neighbour,
//! same size, black outside the source).

use image::RgbImage;
use rand::{Rng, RngCore};

use crate::error::{Error, Result};
use crate::transform::Transform;

/// Rotates by an angle drawn uniformly from `[-degrees, degrees]` (positive is
/// counter-clockwise, as in torchvision and Pillow), keeping the size; pixels that come from
/// outside the source are black.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomRotation {
    degrees: f32,
}

impl RandomRotation {
    /// `degrees` must be in `[0, 180]`.
    pub fn new(degrees: f32) -> Result<Self> {
        if !(0.0..=180.0).contains(&degrees) {
            return Err(Error::config(
                "rotation degrees",
                degrees,
                "an angle in [0, 180]",
            ));
        }
        Ok(RandomRotation { degrees })
    }
}

impl Transform for RandomRotation {
    fn apply(&self, image: RgbImage, rng: &mut dyn RngCore) -> Result<RgbImage> {
        if self.degrees == 0.0 {
            return Ok(image);
        }
        let angle = rng.random_range(-self.degrees..=self.degrees);
        Ok(rotate(&image, angle))
    }
}

/// Rotates `image` by `degrees` counter-clockwise about its centre, nearest neighbour.
pub(crate) fn rotate(image: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = image.dimensions();
    let (sin, cos) = f64::from(degrees).to_radians().sin_cos();
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    RgbImage::from_fn(w, h, |x, y| {
        // Output pixel centre relative to the centre, mapped back into the source by the
        // inverse rotation (in image coordinates, y pointing down).
        let (dx, dy) = (f64::from(x) + 0.5 - cx, f64::from(y) + 0.5 - cy);
        let sx = cx + dx * cos - dy * sin;
        let sy = cy + dx * sin + dy * cos;
        let (ix, iy) = ((sx - 0.5).round(), (sy - 0.5).round());
        if ix >= 0.0 && iy >= 0.0 && ix < f64::from(w) && iy < f64::from(h) {
            *image.get_pixel(ix as u32, iy as u32)
        } else {
            image::Rgb([0, 0, 0])
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RgbImage {
        RgbImage::from_fn(6, 6, |x, y| image::Rgb([x as u8 * 10, y as u8 * 10, 1]))
    }

    #[test]
    fn quarter_turns_match_exact_pixel_permutations() {
        let image = sample();
        // Counter-clockwise by 90 degrees is image's clockwise rotate270.
        assert_eq!(rotate(&image, 90.0), image::imageops::rotate270(&image));
        assert_eq!(rotate(&image, -90.0), image::imageops::rotate90(&image));
        assert_eq!(rotate(&image, 180.0), image::imageops::rotate180(&image));
        assert_eq!(rotate(&image, 0.0), image);
    }

    #[test]
    fn corners_go_black_at_45_degrees() {
        let image = RgbImage::from_pixel(20, 20, image::Rgb([200, 100, 50]));
        let out = rotate(&image, 45.0);
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(10, 10).0, [200, 100, 50]);
        assert!(RandomRotation::new(181.0).is_err());
    }
}
