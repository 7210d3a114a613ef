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

/// The first two bytes of every gzip file.
const GZIP_SIGNATURE: [u8; 2] = [0x1f, 0x8b];

/// Decompresses if the bytes start with the gzip signature, checks the magic number and that
/// the length matches the header exactly, and returns the dimensions and the values.
///
/// Nothing is allocated in proportion to what the header claims: a raw file is checked
/// against its length before its values are copied, and a gzipped one is decompressed into a
/// buffer that grows with the bytes actually found, up to one byte more than the header
/// declares (the rest of a file that is too long is only counted).
fn parse(bytes: &[u8], path: &Path, magic: u32, what: &'static str) -> Result<(Vec<u32>, Vec<u8>)> {
    let header_len = 4 + 4 * (magic & 0xff) as usize;
    if !bytes.starts_with(&GZIP_SIGNATURE) {
        let header = check_header(&bytes[..bytes.len().min(header_len)], path, magic, what)?;
        if bytes.len() as u64 != header.expected {
            return Err(header.length_error(path, bytes.len() as u64));
        }
        return Ok((header.dims, bytes[header_len..].to_vec()));
    }
    let io = Error::io(path);
    let mut reader = flate2::read::MultiGzDecoder::new(bytes);
    let mut head = Vec::with_capacity(header_len);
    (&mut reader)
        .take(header_len as u64)
        .read_to_end(&mut head)
        .map_err(&io)?;
    let header = check_header(&head, path, magic, what)?;
    let mut body = Vec::new();
    if head.len() == header_len {
        let declared = header.expected - header_len as u64;
        (&mut reader)
            .take(declared.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(&io)?;
    }
    let mut found = (head.len() + body.len()) as u64;
    if found > header.expected {
        let rest = std::io::copy(&mut reader, &mut std::io::sink()).map_err(&io)?;
        found = found.saturating_add(rest);
    }
    if found != header.expected {
        return Err(header.length_error(path, found));
    }
    Ok((header.dims, body))
}

/// What an IDX header declares.
struct Header {
    dims: Vec<u32>,
    /// The file length the dimensions imply, header included (at least the header's length;
    /// saturated at `u64::MAX`: three dimensions near `u32::MAX` imply more).
    expected: u64,
}

impl Header {
    fn length_error(self, path: &Path, found: u64) -> Error {
        Error::IdxLength {
            path: path.to_path_buf(),
            dims: self.dims,
            expected: self.expected,
            found,
        }
    }
}

/// Checks the magic number at the start of `header` (the first `4 + 4 * ndim` bytes of the
/// file, or fewer if the file is shorter) and reads the dimensions.
fn check_header(header: &[u8], path: &Path, magic: u32, what: &'static str) -> Result<Header> {
    let found = read_u32(header, 0).unwrap_or(0);
    if found != magic {
        return Err(Error::IdxMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    let ndim = (magic & 0xff) as usize;
    let dims: Vec<u32> = (0..ndim)
        .map(|d| read_u32(header, 4 + 4 * d).unwrap_or(0))
        .collect();
    let values = dims
        .iter()
        .fold(1u64, |n, &d| n.saturating_mul(u64::from(d)));
    Ok(Header {
        dims,
        expected: values.saturating_add(4 + 4 * ndim as u64),
    })
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
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
