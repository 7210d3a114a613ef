//! Resizing with fast_image_resize: a (fractional) source region to an output size, with the
//! bilinear convolution filter that Pillow's `resize(..., BILINEAR)` (and so torchvision's
//! `Resize` on PIL images) uses, antialiasing included when shrinking.

use std::cell::RefCell;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::error::{Error, Result};

/// A rectangle of a source image in pixel coordinates; may be fractional.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Region {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

impl Region {
    /// The whole of a `width` x `height` image.
    pub fn full(width: u32, height: u32) -> Self {
        Region {
            left: 0.0,
            top: 0.0,
            width: f64::from(width),
            height: f64::from(height),
        }
    }

    /// The source area that torchvision's `Resize(side)` then `CenterCrop(side)` keep of a
    /// `width` x `height` image.
    pub fn resize_then_centre_crop(width: u32, height: u32, side: u32) -> Self {
        let (short, long) = (width.min(height), width.max(height));
        let new_long = (u64::from(side) * u64::from(long) / u64::from(short)) as u32;
        let (rw, rh) = if width <= height {
            (side, new_long)
        } else {
            (new_long, side)
        };
        // Python's round() rounds halves to even.
        let offset =
            |resized: u32| ((f64::from(resized) - f64::from(side)) / 2.0).round_ties_even();
        let (sx, sy) = (
            f64::from(width) / f64::from(rw),
            f64::from(height) / f64::from(rh),
        );
        Region {
            left: offset(rw) * sx,
            top: offset(rh) * sy,
            width: f64::from(side) * sx,
            height: f64::from(side) * sy,
        }
    }
}

thread_local! {
    // The resizer keeps scratch buffers; one per thread avoids re-allocating them per image.
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// Resizes `region` of `src` to `width` x `height`.
pub(crate) fn resize_region(
    src: &RgbImage,
    region: Region,
    width: u32,
    height: u32,
) -> Result<RgbImage> {
    if region == Region::full(src.width(), src.height())
        && (src.width(), src.height()) == (width, height)
    {
        return Ok(src.clone());
    }
    let err = |reason: String| Error::Resize {
        width: src.width(),
        height: src.height(),
        reason,
    };
    let view = ImageRef::new(src.width(), src.height(), src.as_raw(), PixelType::U8x3)
        .map_err(|e| err(e.to_string()))?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(region.left, region.top, region.width, region.height);
    RESIZER
        .with_borrow_mut(|resizer| resizer.resize(&view, &mut dst, &options))
        .map_err(|e| err(e.to_string()))?;
    RgbImage::from_raw(width, height, dst.into_vec())
        .ok_or_else(|| err("the resizer returned a buffer of the wrong size".into()))
}

/// Resizes the shorter side of `src` to `side` and crops the centred `side` x `side` square,
/// in one pass (only the kept pixels are computed) with torchvision's arithmetic:
/// `Resize(side)` makes the longer side `floor(side * long / short)`, `CenterCrop(side)` starts
/// at `round((resized - side) / 2)`, and the square is resampled from exactly the source area
/// those two steps would use.
///
/// ```
/// let image = image::RgbImage::from_pixel(64, 48, image::Rgb([10, 20, 30]));
/// let square = la_data::resize_centre_square(&image, 32)?;
/// assert_eq!(square.dimensions(), (32, 32));
/// assert_eq!(square.get_pixel(5, 7), &image::Rgb([10, 20, 30]));
/// # Ok::<(), la_data::Error>(())
/// ```
pub fn resize_centre_square(src: &RgbImage, side: u32) -> Result<RgbImage> {
    if side == 0 || src.width() == 0 || src.height() == 0 {
        return Err(Error::ImageSize {
            what: format!("resize to {side}x{side}"),
            width: src.width(),
            height: src.height(),
            expected: "a non-empty image and a side of at least 1".into(),
        });
    }
    let region = Region::resize_then_centre_crop(src.width(), src.height(), side);
    resize_region(src, region, side, side)
}

/// Fits the whole of `src` into a `max_side` x `max_side` square, its proportions kept (each
/// side rounded down, at least 1 pixel) and never enlarged, with the same bilinear
/// antialiased filter: for thumbnails.
///
/// ```
/// let photo = image::RgbImage::from_pixel(640, 480, image::Rgb([10, 20, 30]));
/// let thumb = la_data::resize_to_fit(&photo, 128)?;
/// assert_eq!(thumb.dimensions(), (128, 96));
/// assert_eq!(thumb.get_pixel(60, 40), &image::Rgb([10, 20, 30]));
/// assert_eq!(la_data::resize_to_fit(&thumb, 200)?.dimensions(), (128, 96));
/// # Ok::<(), la_data::Error>(())
/// ```
pub fn resize_to_fit(src: &RgbImage, max_side: u32) -> Result<RgbImage> {
    let (w, h) = src.dimensions();
    if max_side == 0 || w == 0 || h == 0 {
        return Err(Error::ImageSize {
            what: format!("fit into {max_side}x{max_side}"),
            width: w,
            height: h,
            expected: "a non-empty image and a side of at least 1".into(),
        });
    }
    let longest = w.max(h);
    if longest <= max_side {
        return Ok(src.clone());
    }
    let scale = |v: u32| ((u64::from(v) * u64::from(max_side)) / u64::from(longest)).max(1) as u32;
    resize_region(src, Region::full(w, h), scale(w), scale(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_to_fit_keeps_proportions_and_never_enlarges() {
        let tall = RgbImage::new(100, 1000);
        assert_eq!(resize_to_fit(&tall, 128).unwrap().dimensions(), (12, 128));
        let thin = RgbImage::new(1, 5000);
        assert_eq!(resize_to_fit(&thin, 64).unwrap().dimensions(), (1, 64));
        let small = RgbImage::from_pixel(32, 28, image::Rgb([1, 2, 3]));
        assert_eq!(resize_to_fit(&small, 128).unwrap(), small);
        assert!(resize_to_fit(&small, 0).is_err());
    }

    /// Naive bilinear (triangle filter with antialiasing) resize of one row, the way Pillow
    /// computes its convolution coefficients (ImagingResample, `support = 1 * scale`).
    fn naive_row(src: &[f64], out_len: usize, left: f64, width: f64) -> Vec<f64> {
        let scale = width / out_len as f64;
        let fscale = scale.max(1.0);
        let support = fscale;
        (0..out_len)
            .map(|x| {
                let centre = left + (x as f64 + 0.5) * scale;
                let lo = ((centre - support).floor().max(0.0)) as usize;
                let hi = ((centre + support).ceil() as usize).min(src.len());
                let (mut acc, mut norm) = (0.0, 0.0);
                for (i, v) in src.iter().enumerate().take(hi).skip(lo) {
                    let t = ((i as f64 + 0.5 - centre) / fscale).abs();
                    let w = (1.0 - t).max(0.0);
                    acc += w * v;
                    norm += w;
                }
                acc / norm
            })
            .collect()
    }

    #[test]
    fn horizontal_ramp_matches_a_naive_triangle_filter() {
        // A ramp in x only, constant in y: the vertical pass is the identity, so each output
        // row equals the naive one-dimensional resample of the source row.
        let src = RgbImage::from_fn(40, 30, |x, _| {
            image::Rgb([(x * 6) as u8, 7, (255 - x * 6) as u8])
        });
        let out = resize_region(&src, Region::full(40, 30), 15, 30).unwrap();
        let row: Vec<f64> = (0..40).map(|x| f64::from(x * 6)).collect();
        let expected = naive_row(&row, 15, 0.0, 40.0);
        for (x, e) in expected.iter().enumerate() {
            let got = f64::from(out.get_pixel(x as u32, 11)[0]);
            assert!((got - e).abs() <= 1.0, "x={x}: {got} vs {e}");
            assert_eq!(out.get_pixel(x as u32, 11)[1], 7);
        }
    }

    #[test]
    fn centre_square_takes_the_middle_of_the_long_side() {
        // 60x20: left third red, middle third green, right third blue. The centre square is
        // exactly the green part.
        let src = RgbImage::from_fn(60, 20, |x, _| match x / 20 {
            0 => image::Rgb([255, 0, 0]),
            1 => image::Rgb([0, 255, 0]),
            _ => image::Rgb([0, 0, 255]),
        });
        assert_eq!(
            Region::resize_then_centre_crop(60, 20, 20),
            Region {
                left: 20.0,
                top: 0.0,
                width: 20.0,
                height: 20.0
            }
        );
        // 64x48 -> Resize(32) gives 42x32 (not 42.67), the crop starts at round(5.0) = 5.
        let r = Region::resize_then_centre_crop(64, 48, 32);
        let sx = 64.0 / 42.0;
        assert_eq!(
            r,
            Region {
                left: 5.0 * sx,
                top: 0.0,
                width: 32.0 * sx,
                height: 32.0 * 1.5
            }
        );
        // 43 - 32 = 11: round(5.5) = 6 (ties to even); 45 - 32 = 13: round(6.5) = 6.
        assert_eq!(Region::resize_then_centre_crop(43, 32, 32).left, 6.0);
        assert_eq!(Region::resize_then_centre_crop(45, 32, 32).left, 6.0);
        let out = resize_centre_square(&src, 20).unwrap();
        assert!(out.pixels().all(|p| p == &image::Rgb([0, 255, 0])));
    }

    #[test]
    fn zero_side_is_an_error() {
        let src = RgbImage::new(4, 4);
        assert!(matches!(
            resize_centre_square(&src, 0),
            Err(Error::ImageSize { .. })
        ));
    }
}

#[cfg(test)]
mod reference_tests {
    use serde_json::Value;

    use super::*;

    fn image(record: &Value) -> RgbImage {
        let w = record["width"].as_u64().unwrap() as u32;
        let h = record["height"].as_u64().unwrap() as u32;
        let rgb = record["rgb"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        RgbImage::from_raw(w, h, rgb).unwrap()
    }

    fn worst_and_mean(a: &RgbImage, b: &RgbImage) -> (u8, f64) {
        assert_eq!(a.dimensions(), b.dimensions());
        let diffs: Vec<u8> = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| x.abs_diff(*y))
            .collect();
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        (*diffs.iter().max().unwrap(), mean)
    }

    /// Pillow's BILINEAR resize of the same image (scripts/make_fixtures.py, `resize`).
    #[test]
    fn matches_pillow_bilinear() {
        let reference: Value =
            serde_json::from_str(include_str!("../tests/fixtures/reference.json")).unwrap();
        let src = image(&reference["resize"]["input"]);
        let expected = image(&reference["resize"]["output"]);
        let got = resize_region(&src, Region::full(40, 30), 17, 13).unwrap();
        let (worst, mean) = worst_and_mean(&got, &expected);
        assert!(worst <= 1 && mean < 0.5, "worst {worst}, mean {mean}");
    }

    /// torchvision's Resize(32) + CenterCrop(32) (`resize_crop`).
    #[test]
    fn matches_torchvision_resize_then_centre_crop() {
        let reference: Value =
            serde_json::from_str(include_str!("../tests/fixtures/reference.json")).unwrap();
        let src = image(&reference["resize_crop"]["input"]);
        let expected = image(&reference["resize_crop"]["output"]);
        let got = resize_centre_square(&src, 32).unwrap();
        let (worst, mean) = worst_and_mean(&got, &expected);
        assert!(worst <= 1 && mean < 0.5, "worst {worst}, mean {mean}");
    }
}
