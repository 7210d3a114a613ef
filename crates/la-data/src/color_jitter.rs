//! Colour jitter: random brightness, contrast, saturation and hue, in random order, with
//! the arithmetic of torchvision's `ColorJitter` on PIL images (Pillow's `ImageEnhance` blends,
//! truncated to 8 bits, and Pillow's 8-bit HSV for the hue).

use image::RgbImage;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use crate::error::{Error, Result};
use crate::transform::{Transform, luma};

/// Random colour changes: each of brightness, contrast and saturation is scaled by a factor
/// drawn uniformly from `[max(0, 1 - s), 1 + s]` for its strength `s`, the hue is rotated by
/// a fraction of the colour circle drawn from `[-hue, hue]`, and the four are applied in a
/// random order (torchvision's `ColorJitter`). The paper's setting is 0.4 for all four.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorJitter {
    brightness: f32,
    contrast: f32,
    saturation: f32,
    hue: f32,
}

impl ColorJitter {
    /// Strengths must be finite and non-negative; `hue` at most 0.5 (half the circle).
    pub fn new(brightness: f32, contrast: f32, saturation: f32, hue: f32) -> Result<Self> {
        for (field, v) in [
            ("jitter brightness", brightness),
            ("jitter contrast", contrast),
            ("jitter saturation", saturation),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(field, v, "a finite strength >= 0"));
            }
        }
        if !(0.0..=0.5).contains(&hue) {
            return Err(Error::config("jitter hue", hue, "a strength in [0, 0.5]"));
        }
        Ok(ColorJitter {
            brightness,
            contrast,
            saturation,
            hue,
        })
    }
}

impl Transform for ColorJitter {
    fn apply(&self, mut image: RgbImage, rng: &mut dyn RngCore) -> Result<RgbImage> {
        let mut order = [0usize, 1, 2, 3];
        order.shuffle(rng);
        let mut factor = |s: f32| {
            let (lo, hi) = ((1.0 - s).max(0.0), 1.0 + s);
            if s == 0.0 {
                1.0
            } else {
                rng.random_range(lo..=hi)
            }
        };
        let (b, c, s) = (
            factor(self.brightness),
            factor(self.contrast),
            factor(self.saturation),
        );
        let h = if self.hue == 0.0 {
            0.0
        } else {
            rng.random_range(-self.hue..=self.hue)
        };
        for op in order {
            match op {
                0 if b != 1.0 => adjust_brightness(&mut image, b),
                1 if c != 1.0 => adjust_contrast(&mut image, c),
                2 if s != 1.0 => adjust_saturation(&mut image, s),
                3 if h != 0.0 => adjust_hue(&mut image, h),
                _ => {}
            }
        }
        Ok(image)
    }
}

/// Pillow's `Image.blend(degenerate, image, alpha)` for one sample: computed in `f32`,
/// clipped to `[0, 255]` and truncated.
fn blend(degenerate: u8, value: u8, alpha: f32) -> u8 {
    let v = f32::from(degenerate) + alpha * (f32::from(value) - f32::from(degenerate));
    v.clamp(0.0, 255.0) as u8
}

/// Blends every sample with `degenerate`, from a table of the 256 results (a float blend per
/// sample was the loader's largest cost after decoding).
fn blend_all(image: &mut RgbImage, degenerate: u8, alpha: f32) {
    let table: [u8; 256] = std::array::from_fn(|v| blend(degenerate, v as u8, alpha));
    image.iter_mut().for_each(|v| *v = table[usize::from(*v)]);
}

/// Scales every sample by `factor` (blend with black).
pub(crate) fn adjust_brightness(image: &mut RgbImage, factor: f32) {
    blend_all(image, 0, factor);
}

/// Blends with the mean luma: `factor` 0 gives a flat gray image, 1 the image itself.
pub(crate) fn adjust_contrast(image: &mut RgbImage, factor: f32) {
    let n = u64::from(image.width()) * u64::from(image.height());
    let sum: u64 = image.pixels().map(|p| u64::from(luma(p.0))).sum();
    let mean = (sum as f64 / n.max(1) as f64 + 0.5) as u8;
    blend_all(image, mean, factor);
}

/// Blends each pixel with its own luma: `factor` 0 gives grayscale.
pub(crate) fn adjust_saturation(image: &mut RgbImage, factor: f32) {
    for p in image.pixels_mut() {
        let l = luma(p.0);
        p.0 = p.0.map(|v| blend(l, v, factor));
    }
}

/// Rotates the hue by `shift` of the colour circle (in `[-0.5, 0.5]`), in Pillow's 8-bit HSV
/// as torchvision does on PIL images: the hue byte is shifted by `trunc(shift * 255)` modulo
/// 256.
pub(crate) fn adjust_hue(image: &mut RgbImage, shift: f32) {
    let delta = (shift * 255.0) as i32 as u8;
    for p in image.pixels_mut() {
        let [h, s, v] = rgb_to_hsv(p.0);
        p.0 = hsv_to_rgb([h.wrapping_add(delta), s, v]);
    }
}

/// Pillow's `rgb2hsv` (Convert.c): 8-bit hue, saturation and value.
fn rgb_to_hsv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    if max == min {
        return [0, 0, max];
    }
    let cr = f32::from(max - min);
    let s = cr / f32::from(max);
    let (rc, gc, bc) = (
        f32::from(max - r) / cr,
        f32::from(max - g) / cr,
        f32::from(max - b) / cr,
    );
    let h = if r == max {
        bc - gc
    } else if g == max {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    let h = (h / 6.0 + 1.0).rem_euclid(1.0);
    [
        (h * 255.0).clamp(0.0, 255.0) as u8,
        (s * 255.0).clamp(0.0, 255.0) as u8,
        max,
    ]
}

/// Pillow's `hsv2rgb` (Convert.c).
fn hsv_to_rgb([h, s, v]: [u8; 3]) -> [u8; 3] {
    if s == 0 {
        return [v; 3];
    }
    let hf = f32::from(h) * 6.0 / 255.0;
    let i = hf.floor();
    let f = hf - i;
    let fs = f32::from(s) / 255.0;
    let vf = f32::from(v);
    let p = (vf * (1.0 - fs)).round().clamp(0.0, 255.0) as u8;
    let q = (vf * (1.0 - fs * f)).round().clamp(0.0, 255.0) as u8;
    let t = (vf * (1.0 - fs * (1.0 - f))).round().clamp(0.0, 255.0) as u8;
    match i as u32 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use serde_json::Value;

    use super::*;

    fn image(record: &Value, (w, h): (u32, u32)) -> RgbImage {
        let rgb = record["rgb"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        RgbImage::from_raw(w, h, rgb).unwrap()
    }

    #[test]
    fn tabulated_blends_equal_the_blend_of_each_sample() {
        let samples: Vec<u8> = (0..=255).chain([0, 7, 255, 128]).collect();
        let image = RgbImage::from_raw(65, 4, samples.repeat(3)[..65 * 4 * 3].to_vec()).unwrap();
        for (degenerate, alpha) in [(0, 0.0), (0, 1.37), (91, 0.6), (255, 1.4), (17, -0.2)] {
            let mut got = image.clone();
            blend_all(&mut got, degenerate, alpha);
            for (&g, &v) in got.iter().zip(image.iter()) {
                assert_eq!(
                    g,
                    blend(degenerate, v, alpha),
                    "{v} with {degenerate}, {alpha}"
                );
            }
        }
    }

    /// Compares each functional op with torchvision's output on the same PIL image
    /// (scripts/make_fixtures.py, `jitter`): Pillow computes in f32 as we do, so the bytes
    /// are expected to be equal; one unit is allowed for float rounding differences.
    #[test]
    fn ops_match_torchvision_on_pil_images() {
        let reference: Value =
            serde_json::from_str(include_str!("../tests/fixtures/reference.json")).unwrap();
        let jitter = &reference["jitter"];
        let size = |r: &Value| {
            (
                r["width"].as_u64().unwrap() as u32,
                r["height"].as_u64().unwrap() as u32,
            )
        };
        let input = image(&jitter["input"], size(&jitter["input"]));
        type Op = fn(&mut RgbImage, f32);
        let ops: [(&str, Op); 4] = [
            ("brightness", adjust_brightness),
            ("contrast", adjust_contrast),
            ("saturation", adjust_saturation),
            ("hue", adjust_hue),
        ];
        for (name, op) in ops {
            for case in jitter[name].as_array().unwrap() {
                let factor = case["factor"].as_f64().unwrap() as f32;
                let mut got = input.clone();
                op(&mut got, factor);
                let expected = image(case, input.dimensions());
                let worst = got
                    .iter()
                    .zip(expected.iter())
                    .map(|(a, b)| a.abs_diff(*b))
                    .max()
                    .unwrap();
                assert!(worst <= 1, "{name}({factor}): off by {worst}");
            }
        }
    }

    #[test]
    fn hsv_conversions_match_pillow() {
        // Pillow 13: Image.new("RGB", (1, 1), c).convert("HSV") and .convert("HSV").convert("RGB").
        let cases = [
            ([255, 0, 0], [0, 255, 255], [255, 0, 0]),
            ([0, 255, 0], [85, 255, 255], [0, 255, 0]),
            ([255, 255, 0], [42, 255, 255], [255, 252, 0]),
            ([7, 7, 7], [0, 0, 7], [7, 7, 7]),
            ([0, 255, 255], [127, 255, 255], [0, 255, 252]),
            ([255, 0, 255], [212, 255, 255], [252, 0, 255]),
            ([200, 100, 50], [14, 191, 200], [200, 100, 50]),
        ];
        for (rgb, hsv, back) in cases {
            assert_eq!(rgb_to_hsv(rgb), hsv, "{rgb:?}");
            assert_eq!(hsv_to_rgb(hsv), back, "{rgb:?}");
        }
    }

    #[test]
    fn zero_strength_is_the_identity_and_bad_strengths_are_refused() {
        let input = RgbImage::from_fn(4, 4, |x, y| image::Rgb([x as u8 * 60, y as u8 * 60, 99]));
        let none = ColorJitter::new(0.0, 0.0, 0.0, 0.0).unwrap();
        let out = none
            .apply(input.clone(), &mut StdRng::seed_from_u64(0))
            .unwrap();
        assert_eq!(out, input);
        let some = ColorJitter::new(0.4, 0.4, 0.4, 0.4).unwrap();
        let a = some
            .apply(input.clone(), &mut StdRng::seed_from_u64(1))
            .unwrap();
        let b = some
            .apply(input.clone(), &mut StdRng::seed_from_u64(1))
            .unwrap();
        assert_eq!(a, b, "same seed, same result");
        assert_ne!(a, input);
        assert!(ColorJitter::new(-0.1, 0.0, 0.0, 0.0).is_err());
        assert!(ColorJitter::new(0.0, 0.0, 0.0, 0.51).is_err());
    }
}
