//! Unusual but valid images decode to the RGB a user expects: CMYK JPEG, 16-bit PNG, PNG with
//! alpha, grayscale JPEG and PNG, EXIF-rotated JPEG. Each test creates its own file.

mod common;

use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use la_data::{Decoder, Error};
use tempfile::TempDir;

use common::*;

fn decode(path: &Path) -> Result<RgbImage, Error> {
    Decoder::default().decode(path)
}

#[test]
fn cmyk_jpeg_decodes_like_pillow() {
    // tests/fixtures/cmyk.jpg and Pillow's RGB conversion of it come from
    // scripts/make_fixtures.py: 8 bars of 2x8 pixels, CMYK (0,0,0,0) white, (255,0,0,0)
    // cyan, .., (0,0,0,255) black, (128,64,32,16), (40,200,100,0), (0,0,0,128).
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let tiny = Decoder {
        min_side: 1,
        ..Decoder::default()
    };
    let got = tiny.decode(&fixtures.join("cmyk.jpg")).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("reference.json")).unwrap())
            .unwrap();
    let expected: Vec<u8> = reference["cmyk_rgb"]["rgb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(got.dimensions(), (16, 8));
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 3, "off by {worst}");
    // Spot checks against hand-computed values: R = (255 - C)(255 - K)/255.
    assert_eq!(got.get_pixel(0, 0).0.map(|v| v / 4), [63, 63, 63], "white");
    assert!(got.get_pixel(2, 4).0[0] < 4, "cyan has no red");
    assert!(got.get_pixel(8, 4).0.iter().all(|&v| v < 4), "black");
}

#[test]
fn sixteen_bit_png_is_rounded_to_8_bits() {
    let dir = TempDir::new().unwrap();
    let deep = image::ImageBuffer::<Rgb<u16>, _>::from_fn(20, 18, |x, y| {
        Rgb([
            (x * 3000) as u16,
            (y * 3500) as u16,
            65535 - (x * 1000) as u16,
        ])
    });
    let path = dir.path().join("deep.png");
    deep.save_with_format(&path, image::ImageFormat::Png)
        .unwrap();
    let got = decode(&path).unwrap();
    for (x, y, p) in got.enumerate_pixels() {
        let q = deep.get_pixel(x, y);
        for c in 0..3 {
            let expected = (f64::from(q[c]) / 257.0).round() as u8;
            assert!(p[c].abs_diff(expected) <= 1, "({x},{y}) channel {c}");
        }
    }
}

#[test]
fn png_alpha_is_dropped_like_pillow_convert_rgb() {
    let dir = TempDir::new().unwrap();
    let rgba = RgbaImage::from_fn(16, 16, |x, y| {
        Rgba([x as u8 * 10, y as u8 * 10, 77, (x * 16) as u8])
    });
    let path = dir.path().join("alpha.png");
    rgba.save_with_format(&path, image::ImageFormat::Png)
        .unwrap();
    let got = decode(&path).unwrap();
    for (x, y, p) in got.enumerate_pixels() {
        let q = rgba.get_pixel(x, y);
        assert_eq!(p.0, [q[0], q[1], q[2]], "({x},{y})");
    }
}

#[test]
fn exif_orientation_is_applied() {
    let dir = TempDir::new().unwrap();
    // 64x32 stored; orientation 6 means "rotate 90 degrees clockwise to display".
    let stored = quadrants(64, 32);
    let path = write(
        dir.path(),
        "rotated.jpg",
        &with_exif_orientation(&jpeg_bytes(&stored), 6),
    );
    let got = decode(&path).unwrap();
    assert_eq!(got.dimensions(), (32, 64));
    let expected = image::imageops::rotate90(&stored);
    for (x, y) in [(8, 8), (24, 8), (8, 56), (24, 56), (8, 24), (24, 40)] {
        let (p, q) = (got.get_pixel(x, y).0, expected.get_pixel(x, y).0);
        assert!(
            p.iter().zip(q).all(|(a, b)| a.abs_diff(b) < 24),
            "({x},{y}): {p:?} vs {q:?}"
        );
    }
    // Without the tag, the stored orientation.
    let plain = write_jpeg(dir.path(), "plain.jpg", &stored);
    assert_eq!(decode(&plain).unwrap().dimensions(), (64, 32));
}

#[test]
fn grayscale_png_and_jpeg_are_replicated_to_three_channels() {
    let dir = TempDir::new().unwrap();
    let gray = GrayImage::from_fn(24, 20, |x, y| Luma([(x * 10 + y) as u8]));
    let png = dir.path().join("gray.png");
    gray.save_with_format(&png, image::ImageFormat::Png)
        .unwrap();
    let got = decode(&png).unwrap();
    for (x, y, p) in got.enumerate_pixels() {
        assert_eq!(p.0, [gray.get_pixel(x, y)[0]; 3], "({x},{y})");
    }
    let jpg = dir.path().join("gray.jpg");
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
        .encode_image(&gray)
        .unwrap();
    std::fs::write(&jpg, bytes).unwrap();
    let got = decode(&jpg).unwrap();
    for (x, y, p) in got.enumerate_pixels() {
        assert!(p[0] == p[1] && p[1] == p[2], "({x},{y}) is gray");
        assert!(p[0].abs_diff(gray.get_pixel(x, y)[0]) <= 8, "({x},{y})");
    }
}
