//! Fuzz-style property tests of image decoding through `Decoder` (`decode_bytes`, `decode`,
//! `probe`), and so of the JPEG marker walk behind it: PNG and JPEG files made here with the
//! `image` crate, mutated a few hundred times each with seeds (see `mutate/mod.rs`; PNG chunk
//! CRCs recomputed after most mutations so that they reach the decoder), and random bytes.
//! Each must decode within the limits or give an error naming the file, never panic.
//! Decompression-bomb headers are refused by the limits before anything in proportion to the
//! claimed size is allocated.

mod common;
mod largest;
mod mutate;

use std::path::Path;

use la_data::{Decoder, Error};
use rand::Rng;
use tempfile::TempDir;

use common::{gradient, jpeg_bytes, png_claiming, with_exif_orientation};
use largest::largest_allocation;
use mutate::Field;

/// `Ok` if `err`'s message names one of `paths`.
fn names_one_of(err: &Error, paths: &[&Path]) -> Result<(), String> {
    let message = err.to_string();
    if paths
        .iter()
        .any(|p| message.contains(&p.display().to_string()))
    {
        return Ok(());
    }
    Err(format!("the error does not name the file: {message}"))
}

/// Small limits, so that a mutated size field cannot make a case slow.
const SMALL: Decoder = Decoder {
    max_side: 256,
    max_pixels: 1 << 16,
    min_side: 16,
};

fn png_bytes(image: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// The chunks of a PNG as (offset, data length) while they fit in the bytes.
fn png_chunks(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut chunks = Vec::new();
    let mut at = 8;
    while let Some(len) = bytes.get(at..at + 4) {
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        if at + 12 + len > bytes.len() {
            break;
        }
        chunks.push((at, len));
        at += 12 + len;
    }
    chunks
}

/// Every chunk length field, and the IHDR width and height.
fn png_fields(bytes: &[u8]) -> Vec<Field> {
    let mut fields: Vec<Field> = png_chunks(bytes)
        .into_iter()
        .map(|(at, _)| Field::be(at, 4))
        .collect();
    fields.extend([Field::be(16, 4), Field::be(20, 4)]);
    fields
}

/// Recomputes the CRC of every chunk that still parses, so that a mutation reaches the
/// decoder past the CRC check.
fn fix_png_crcs(bytes: &mut [u8]) {
    for (at, len) in png_chunks(bytes) {
        let mut crc = flate2::Crc::new();
        crc.update(&bytes[at + 4..at + 8 + len]);
        bytes[at + 8 + len..at + 12 + len].copy_from_slice(&crc.sum().to_be_bytes());
    }
}

/// The segments before the scan as (offset of the marker, marker byte).
fn jpeg_segments(bytes: &[u8]) -> Vec<(usize, u8)> {
    let mut segments = Vec::new();
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xff && bytes[at + 1] != 0xda {
        segments.push((at, bytes[at + 1]));
        at += 2 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
    }
    segments
}

/// Offset of the SOF0 height (the width follows).
fn jpeg_sof0_size(bytes: &[u8]) -> Option<usize> {
    jpeg_segments(bytes)
        .into_iter()
        .find(|&(_, marker)| marker == 0xc0)
        .map(|(at, _)| at + 5)
}

/// Every segment length field before the scan, and the SOF0 height and width.
fn jpeg_fields(bytes: &[u8]) -> Vec<Field> {
    let mut fields: Vec<Field> = jpeg_segments(bytes)
        .into_iter()
        .map(|(at, _)| Field::be(at + 2, 2))
        .collect();
    if let Some(at) = jpeg_sof0_size(bytes) {
        fields.extend([Field::be(at, 2), Field::be(at + 2, 2)]);
    }
    fields
}

/// Decodes `bytes` as the file `name` in memory and from disk (probe and decode): each must
/// give an image within the limits or an error naming the file.
fn check_image(dir: &Path, name: &str, bytes: &[u8], decoder: &Decoder) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let within = |w: u32, h: u32| {
        let ok = w.max(h) <= decoder.max_side && w.min(h) >= decoder.min_side;
        ok.then_some(())
            .ok_or_else(|| format!("accepted a {w}x{h} image"))
    };
    let named = |err: Error| {
        if err.path() != Some(path.as_path()) {
            return Err(format!("the error is about {:?}: {err}", err.path()));
        }
        names_one_of(&err, &[&path])
    };
    match decoder.decode_bytes(bytes, &path) {
        Ok(image) => within(image.width(), image.height())?,
        Err(err) => named(err)?,
    }
    match decoder.probe(&path) {
        Ok((w, h)) => within(w, h)?,
        Err(err) => named(err)?,
    }
    match decoder.decode(&path) {
        Ok(image) => within(image.width(), image.height()),
        Err(err) => named(err),
    }
}

#[test]
fn decoding_mutated_png_and_jpeg_never_panics() {
    let rgb = gradient(40, 32, 5);
    let rgba = image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(24, 20, |x, y| {
        image::Rgba([x as u8 * 9, y as u8 * 11, 77, (x * y) as u8])
    }));
    let gray16 = image::DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(20, 18, |x, y| {
        image::Luma([(x * 3000 + y * 7) as u16])
    }));
    let pngs = [
        png_bytes(&image::DynamicImage::ImageRgb8(rgb.clone())),
        png_bytes(&rgba),
        png_bytes(&gray16),
    ];
    let jpegs = [
        jpeg_bytes(&rgb),
        with_exif_orientation(&jpeg_bytes(&rgb), 6),
    ];
    let dir = TempDir::new().unwrap();
    mutate::run("png", 3000, 300, |case| {
        let valid = &pngs[case.rng().random_range(0..pngs.len())];
        let mut bytes = case.mutate(valid, &png_fields(valid));
        if case.rng().random_bool(0.6) {
            case.note("CRCs fixed");
            fix_png_crcs(&mut bytes);
        }
        check_image(dir.path(), "case.png", &bytes, &SMALL)
    });
    mutate::run("jpeg", 4000, 300, |case| {
        let valid = &jpegs[case.rng().random_range(0..jpegs.len())];
        let bytes = case.mutate(valid, &jpeg_fields(valid));
        check_image(dir.path(), "case.jpg", &bytes, &SMALL)
    });
}

#[test]
fn decoding_random_bytes_never_panics() {
    let dir = TempDir::new().unwrap();
    let prefixes: [&[u8]; 5] = [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8",
        b"\xff\xd8\xff",
        b"GIF89a",
    ];
    mutate::run("random image", 5000, 300, |case| {
        let prefix = prefixes[case.rng().random_range(0..prefixes.len())];
        let mut bytes = prefix.to_vec();
        bytes.extend(case.random_bytes(300));
        let name = ["x.png", "x.jpg", "x.bin"][case.rng().random_range(0..3)];
        check_image(dir.path(), name, &bytes, &SMALL)
    });
}

/// A baseline JPEG whose SOF0 claims `width` x `height` pixels.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = jpeg_bytes(&gradient(16, 16, 0));
    let at = jpeg_sof0_size(&bytes).expect("the encoder writes a SOF0 segment");
    bytes[at..at + 2].copy_from_slice(&height.to_be_bytes());
    bytes[at + 2..at + 4].copy_from_slice(&width.to_be_bytes());
    bytes
}

#[test]
fn decompression_bomb_headers_are_refused_by_the_limits() {
    let dir = TempDir::new().unwrap();
    let bombs = [
        ("bomb.png", png_claiming(60_000, 60_000)),
        ("bomb.jpg", jpeg_claiming(60_000, 60_000)),
        // Under the side limit, over the pixel count (Pillow's decompression-bomb threshold).
        ("wide.png", png_claiming(30_000, 30_000)),
        ("wide.jpg", jpeg_claiming(30_000, 30_000)),
    ];
    for (name, bytes) in bombs {
        let path = common::write(dir.path(), name, &bytes);
        let decoder = Decoder::default();
        let (results, largest) = largest_allocation(|| {
            [
                decoder.decode_bytes(&bytes, &path).map(drop),
                decoder.decode(&path).map(drop),
                decoder.probe(&path).map(drop),
            ]
        });
        for result in results {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::TooLarge { .. }), "{name}: {err}");
            assert!(err.to_string().contains(&path.display().to_string()));
        }
        assert!(
            largest < 1 << 20,
            "{name}: largest allocation {largest} bytes"
        );
    }
}
