//! Decoding image files to RGB: size limits checked on the header before anything is allocated,
//! EXIF orientation applied, every colour type converted to 8-bit RGB.

use std::io::{Cursor, Read};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};
use crate::jpeg_markers::check_complete;

/// How image files are decoded and which sizes are accepted.
///
/// Decoding reads the header first and refuses an image whose claimed size is over
/// [`max_side`](Self::max_side) or [`max_pixels`](Self::max_pixels) before a pixel buffer is
/// allocated (a 100 kB PNG may claim 100000x100000 pixels). Then it decodes, applies the EXIF
/// orientation, and converts to 8-bit RGB: grayscale is replicated, 16-bit samples are rounded
/// to 8 bits, CMYK JPEGs are converted by the JPEG decoder, and an alpha channel is dropped
/// (as Pillow's `convert("RGB")` does, so the same file gives the same pixels as in the
/// PyTorch reference pipeline). A JPEG file cut short is refused (the JPEG decoder alone would
/// fill the missing part with gray).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    /// The largest width or height accepted. By default 32768.
    pub max_side: u32,
    /// The largest pixel count accepted. By default 178,956,970: the count at which Pillow
    /// refuses an image as a decompression bomb.
    pub max_pixels: u64,
    /// The smallest accepted shorter side, in pixels. By default 16: a smaller image (a 1x1
    /// tracking pixel, an icon) has too little content to be upscaled into a training image.
    pub min_side: u32,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            max_side: 32_768,
            max_pixels: 178_956_970,
            min_side: 16,
        }
    }
}

impl Decoder {
    /// Reads and decodes the image file at `path` to RGB.
    pub fn decode(&self, path: &Path) -> Result<RgbImage> {
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        self.decode_bytes(&bytes, path)
    }

    /// Decodes an image held in memory; `path` names it in errors and, when the bytes do not
    /// reveal their format, its extension picks the decoder.
    pub fn decode_bytes(&self, bytes: &[u8], path: &Path) -> Result<RgbImage> {
        let mut decoder = self.open(bytes, path, true)?;
        let orientation = decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(path, e))?;
        image.apply_orientation(orientation);
        Ok(image.into_rgb8())
    }

    /// Parses the file's header without decoding the pixels, checks the size against the
    /// limits, and returns `(width, height)` as stored (before EXIF orientation).
    ///
    /// Reads the first 64 kB of the file, or all of it if the header does not fit, so that
    /// checking a large collection costs little I/O. Corruption past the header (a truncated
    /// file) is found only by [`decode`](Self::decode).
    pub fn probe(&self, path: &Path) -> Result<(u32, u32)> {
        const PREFIX: u64 = 64 * 1024;
        let mut file = std::fs::File::open(path).map_err(Error::io(path))?;
        let mut head = Vec::new();
        (&mut file)
            .take(PREFIX)
            .read_to_end(&mut head)
            .map_err(Error::io(path))?;
        if (head.len() as u64) < PREFIX {
            return Ok(self.open(&head, path, false)?.dimensions());
        }
        let first = self.open(&head, path, false).map(|d| d.dimensions());
        if let Err(Error::Decode { .. }) = first {
            // The header may not fit in the prefix (large EXIF or ICC segments): read it all.
            file.read_to_end(&mut head).map_err(Error::io(path))?;
            return Ok(self.open(&head, path, false)?.dimensions());
        }
        first
    }

    /// Checks a size against the limits.
    pub fn check_size(&self, path: &Path, width: u32, height: u32) -> Result<()> {
        let pixels = u64::from(width) * u64::from(height);
        if width > self.max_side || height > self.max_side || pixels > self.max_pixels {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                width,
                height,
                max_side: self.max_side,
                max_pixels: self.max_pixels,
            });
        }
        if width.min(height) < self.min_side {
            return Err(Error::TooSmall {
                path: path.to_path_buf(),
                width,
                height,
                min_side: self.min_side,
            });
        }
        Ok(())
    }

    /// Parses the header, checks the size, and returns a decoder limited to that size.
    /// With `whole`, the bytes are the whole file, and a JPEG cut short is refused.
    fn open<'a>(
        &self,
        bytes: &'a [u8],
        path: &Path,
        whole: bool,
    ) -> Result<impl ImageDecoder + 'a> {
        if bytes.is_empty() {
            return Err(Error::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(Error::io(path))?;
        if reader.format().is_none()
            && let Ok(format) = ImageFormat::from_path(path)
        {
            reader.set_format(format);
        }
        // Parsing the header allocates nothing in proportion to the claimed size; the limits
        // are checked here, by us, so that the error can name the size.
        reader.no_limits();
        if let Some(reason) = whole.then(|| check_complete(bytes).err()).flatten() {
            let hint = image::error::ImageFormatHint::Exact(ImageFormat::Jpeg);
            let error = image::error::DecodingError::new(hint, reason);
            return Err(decode_error(path, image::ImageError::Decoding(error)));
        }
        let mut decoder = reader.into_decoder().map_err(|e| decode_error(path, e))?;
        let (width, height) = decoder.dimensions();
        self.check_size(path, width, height)?;
        decoder
            .set_limits(self.limits())
            .map_err(|e| decode_error(path, e))?;
        Ok(decoder)
    }

    /// The image crate's limits matching ours, so that the decoder itself also refuses to
    /// allocate more than the largest accepted image needs.
    fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        limits.max_image_width = Some(self.max_side);
        limits.max_image_height = Some(self.max_side);
        // Up to 16-bit RGBA output plus the decoder's own working buffers.
        limits.max_alloc = Some(self.max_pixels.saturating_mul(16));
        limits
    }
}

fn decode_error(path: &Path, source: image::ImageError) -> Error {
    Error::Decode {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG whose header is pushed past the 64 kB probe prefix by two large APP segments
    /// (as big ICC profiles or XMP packets do).
    fn jpeg_with_big_metadata(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 60]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&image)
            .unwrap();
        let mut out = jpeg[..2].to_vec();
        for marker in [0xe3u8, 0xe4] {
            let payload = vec![0x55u8; 60_000];
            out.extend([0xff, marker]);
            out.extend(((payload.len() + 2) as u16).to_be_bytes());
            out.extend(payload);
        }
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn probe_reads_past_the_prefix_when_the_header_needs_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.jpg");
        let bytes = jpeg_with_big_metadata(160, 96);
        assert!(bytes.len() > 120_000);
        std::fs::write(&path, &bytes).unwrap();
        let decoder = Decoder::default();
        assert_eq!(decoder.probe(&path).unwrap(), (160, 96));
        assert_eq!(decoder.decode(&path).unwrap().dimensions(), (160, 96));
        // Cut inside the pixel data: the header still probes, decoding refuses it.
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        assert_eq!(decoder.probe(&path).unwrap(), (160, 96));
        let err = decoder.decode(&path).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
