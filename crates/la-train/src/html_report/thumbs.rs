//! The report's thumbnails: every item decoded once, shrunk to fit a square of
//! [`THUMB_SIDE`] pixels (never enlarged) and saved as a small JPEG in `thumbs/`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use la_data::image::RgbImage;
use la_data::image::codecs::jpeg::JpegEncoder;
use rayon::prelude::*;

use crate::{Error, Result};

/// The largest side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 128;

/// JPEG quality of the thumbnails.
const QUALITY: u8 = 88;

/// The path of item `item`'s thumbnail, relative to the report's folder.
pub fn file_name(item: usize) -> String {
    format!("thumbs/{item}.jpg")
}

/// What [`write_thumbs`] made.
#[derive(Debug, Default)]
pub struct Thumbs {
    /// Width and height of each item's thumbnail.
    pub sizes: HashMap<usize, (u32, u32)>,
    /// The items whose image could not be read, and why.
    pub failed: Vec<(usize, String)>,
    /// The thumbnails of the items asked to be kept.
    pub kept: HashMap<usize, RgbImage>,
}

/// Writes the thumbnail of every item of `items` into `report/thumbs/`, in parallel, taking
/// each image from `images` once. An image that cannot be read is listed in
/// [`Thumbs::failed`]; a thumbnail that cannot be written is an error.
pub fn write_thumbs<F>(
    report: &Path,
    items: &[usize],
    images: &F,
    keep: &HashSet<usize>,
) -> Result<Thumbs>
where
    F: Fn(usize) -> Result<RgbImage> + Sync,
{
    let folder = report.join("thumbs");
    std::fs::create_dir_all(&folder).map_err(Error::io(&folder))?;
    // Only the kept thumbnails stay in memory: a collection's would not fit.
    type Made = (
        usize,
        std::result::Result<((u32, u32), Option<RgbImage>), String>,
    );
    let made: Vec<Made> = items
        .par_iter()
        .map(|&item| {
            let thumb = match images(item).and_then(|image| shrink(&image)) {
                Ok(thumb) => thumb,
                Err(e) => return Ok((item, Err(e.to_string()))),
            };
            let path = report.join(file_name(item));
            std::fs::write(&path, jpeg(&thumb, &path)?).map_err(Error::io(&path))?;
            let size = thumb.dimensions();
            Ok((item, Ok((size, keep.contains(&item).then_some(thumb)))))
        })
        .collect::<Result<_>>()?;
    let mut out = Thumbs::default();
    for (item, thumb) in made {
        match thumb {
            Ok((size, kept)) => {
                out.sizes.insert(item, size);
                if let Some(t) = kept {
                    out.kept.insert(item, t);
                }
            }
            Err(reason) => out.failed.push((item, reason)),
        }
    }
    Ok(out)
}

/// `image` fitted into a square of [`THUMB_SIDE`], its proportions kept; smaller images are
/// kept as they are (the pages scale them up).
pub fn shrink(image: &RgbImage) -> Result<RgbImage> {
    Ok(la_data::resize_to_fit(image, THUMB_SIDE)?)
}

/// `image` as JPEG bytes; `path` names the file in an error.
fn jpeg(image: &RgbImage, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, QUALITY)
        .encode_image(image)
        .map_err(|source| la_data::Error::Encode {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_fits_the_longest_side_and_never_enlarges() {
        let wide = RgbImage::new(640, 480);
        assert_eq!(shrink(&wide).unwrap().dimensions(), (128, 96));
        let tall = RgbImage::new(100, 1000);
        assert_eq!(shrink(&tall).unwrap().dimensions(), (12, 128));
        let small = RgbImage::new(32, 28);
        assert_eq!(shrink(&small).unwrap().dimensions(), (32, 28));
    }
}
