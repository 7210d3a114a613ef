//! IDX files (the MNIST / Fashion-MNIST format), gzipped or raw.
//!
//! An IDX file is a big-endian header, `0x00 0x00 <type> <ndim>` followed by `ndim` u32
//! dimensions, then the values. Only unsigned bytes (type 0x08) occur in MNIST-like sets:
//! images have 3 dimensions (count, rows, columns), labels 1 (count).

use std::io::Read;
use std::path::{Path, PathBuf};

use image::{GrayImage, RgbImage};

use crate::error::{Error, Result};

/// Magic number of an unsigned-byte IDX file with 3 dimensions (images).
pub(crate) const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an unsigned-byte IDX file with 1 dimension (labels).
pub(crate) const LABELS_MAGIC: u32 = 0x0000_0801;

/// The images of one IDX file, held in memory.
#[derive(Debug, Clone)]
pub(crate) struct IdxImages {
    pub path: PathBuf,
    pub rows: u32,
    pub cols: u32,
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Parses an image file's bytes (gzipped or raw).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let (dims, body) = parse(bytes, path, IMAGES_MAGIC, "images")?;
        Ok(IdxImages {
            path: path.to_path_buf(),
            rows: dims[1],
            cols: dims[2],
            pixels: body,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.rows as usize * self.cols as usize).max(1)
    }

    /// Image `i` as grayscale, `rows` x `cols`.
    pub fn gray(&self, i: usize) -> Option<GrayImage> {
        let n = self.rows as usize * self.cols as usize;
        let data = self.pixels.get(i * n..(i + 1) * n)?;
        GrayImage::from_raw(self.cols, self.rows, data.to_vec())
    }
}

/// Parses a label file's bytes (gzipped or raw).
pub(crate) fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    Ok(parse(bytes, path, LABELS_MAGIC, "labels")?.1)
}

/// Decompresses if the bytes start with the gzip signature, checks the magic number and that
/// the length matches the header exactly, and returns the dimensions and the values.
fn parse(bytes: &[u8], path: &Path, magic: u32, what: &'static str) -> Result<(Vec<u32>, Vec<u8>)> {
    let raw = gunzip_if_needed(bytes, path)?;
    let found = read_u32(&raw, 0).unwrap_or(0);
    if raw.len() < 4 || found != magic {
        return Err(Error::IdxMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    let ndim = (magic & 0xff) as usize;
    let header = 4 + 4 * ndim;
    let dims: Vec<u32> = (0..ndim)
        .map(|d| read_u32(&raw, 4 + 4 * d).unwrap_or(0))
        .collect();
    let values: u64 = dims.iter().map(|&d| u64::from(d)).product();
    let expected = header as u64 + values;
    if raw.len() < header || raw.len() as u64 != expected {
        return Err(Error::IdxLength {
            path: path.to_path_buf(),
            dims,
            expected,
            found: raw.len() as u64,
        });
    }
    let mut raw = raw;
    raw.drain(..header);
    Ok((dims, raw))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn gunzip_if_needed(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(Error::io(path))?;
    Ok(out)
}

/// Pads a grayscale image with black to the next multiple of `multiple` on each side, centred
/// (28x28 becomes 32x32 with 2 pixels on every side), and replicates it to RGB.
///
/// Padding rather than resizing keeps every original pixel exact; MNIST-like images have a
/// black background, so the border is invisible.
pub(crate) fn pad_to_rgb(gray: &GrayImage, multiple: u32) -> RgbImage {
    let up = |v: u32| v.div_ceil(multiple).max(1) * multiple;
    let (w, h) = (up(gray.width()), up(gray.height()));
    let (x0, y0) = ((w - gray.width()) / 2, (h - gray.height()) / 2);
    let mut out = RgbImage::new(w, h);
    for (x, y, p) in gray.enumerate_pixels() {
        out.put_pixel(x + x0, y + y0, image::Rgb([p[0]; 3]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(magic: u32, dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend(d.to_be_bytes());
        }
        v.extend(values);
        v
    }

    #[test]
    fn parses_raw_and_gzipped_images() {
        let values: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8).collect();
        let raw = idx(IMAGES_MAGIC, &[2, 3, 4], &values);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let gz = gz.finish().unwrap();
        for bytes in [raw, gz] {
            let images = IdxImages::parse(&bytes, Path::new("x.idx")).unwrap();
            assert_eq!((images.len(), images.rows, images.cols), (2, 3, 4));
            let second = images.gray(1).unwrap();
            assert_eq!(second.dimensions(), (4, 3));
            // Row-major: pixel (x=1, y=2) of image 1 is value 12 + 2*4 + 1.
            assert_eq!(second.get_pixel(1, 2)[0], 21);
            assert!(images.gray(2).is_none());
        }
    }

    #[test]
    fn wrong_magic_names_both_numbers() {
        let bytes = idx(LABELS_MAGIC, &[2], &[0, 1]);
        let err = IdxImages::parse(&bytes, Path::new("labels-as-images")).unwrap_err();
        assert!(matches!(
            err,
            Error::IdxMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ));
        assert!(err.to_string().contains("labels-as-images"), "{err}");
    }

    #[test]
    fn wrong_length_is_refused_both_ways() {
        for extra in [-1i32, 1] {
            let n = (3 + extra) as usize;
            let bytes = idx(LABELS_MAGIC, &[3], &vec![0; n]);
            let err = parse_labels(&bytes, Path::new("l")).unwrap_err();
            assert!(
                matches!(err, Error::IdxLength { expected: 11, found, .. } if found == 8 + n as u64),
                "{err}"
            );
        }
        // A header cut short.
        let err = parse_labels(&LABELS_MAGIC.to_be_bytes(), Path::new("l")).unwrap_err();
        assert!(matches!(err, Error::IdxLength { .. }), "{err}");
    }

    #[test]
    fn padding_centres_the_image_in_a_multiple_of_32() {
        let gray = GrayImage::from_fn(28, 28, |x, y| image::Luma([(x + y) as u8 + 1]));
        let rgb = pad_to_rgb(&gray, 32);
        assert_eq!(rgb.dimensions(), (32, 32));
        for (x, y, p) in rgb.enumerate_pixels() {
            let inside = (2..30).contains(&x) && (2..30).contains(&y);
            let expected = if inside { (x - 2 + y - 2) as u8 + 1 } else { 0 };
            assert_eq!(p.0, [expected; 3], "({x}, {y})");
        }
    }
}
