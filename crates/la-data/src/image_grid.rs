//! Contact sheets: images laid out on a grid and saved as PNG.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::error::{Error, Result};

/// Lays images out row by row on a grid of cells, each cell as large as the largest image,
/// images centred in their cells, `padding` pixels of `background` between and around cells.
///
/// ```
/// use la_data::ImageGrid;
/// let tiles = vec![image::RgbImage::from_pixel(8, 8, image::Rgb([9, 9, 9])); 5];
/// let sheet = ImageGrid { columns: 3, padding: 1, ..Default::default() }.render(&tiles)?;
/// // 3 columns, 2 rows of 8-pixel cells with 1-pixel gaps and borders.
/// assert_eq!(sheet.dimensions(), (3 * 8 + 4, 2 * 8 + 3));
/// assert_eq!(sheet.get_pixel(1, 1).0, [9, 9, 9]);
/// assert_eq!(sheet.get_pixel(0, 0).0, [255, 255, 255]);
/// # Ok::<(), la_data::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageGrid {
    /// Cells per row. By default 8.
    pub columns: usize,
    /// Pixels between cells and around the sheet. By default 2.
    pub padding: u32,
    /// Colour of the padding and of empty cell space. By default white.
    pub background: Rgb<u8>,
}

impl Default for ImageGrid {
    fn default() -> Self {
        ImageGrid {
            columns: 8,
            padding: 2,
            background: Rgb([255, 255, 255]),
        }
    }
}

impl ImageGrid {
    /// Renders the sheet; there must be at least one image and one column.
    pub fn render(&self, images: &[RgbImage]) -> Result<RgbImage> {
        if self.columns == 0 {
            return Err(Error::config("grid columns", 0, "at least 1"));
        }
        if images.is_empty() {
            return Err(Error::config(
                "contact sheet images",
                0,
                "at least one image",
            ));
        }
        let cell_w = images.iter().map(RgbImage::width).max().unwrap_or(0);
        let cell_h = images.iter().map(RgbImage::height).max().unwrap_or(0);
        let columns = self.columns.min(images.len()) as u32;
        let rows = images.len().div_ceil(self.columns) as u32;
        let pad = self.padding;
        let mut sheet = RgbImage::from_pixel(
            columns * (cell_w + pad) + pad,
            rows * (cell_h + pad) + pad,
            self.background,
        );
        for (k, image) in images.iter().enumerate() {
            let (col, row) = (k as u32 % columns, k as u32 / columns);
            let x = pad + col * (cell_w + pad) + (cell_w - image.width()) / 2;
            let y = pad + row * (cell_h + pad) + (cell_h - image.height()) / 2;
            image::imageops::replace(&mut sheet, image, i64::from(x), i64::from(y));
        }
        Ok(sheet)
    }

    /// Renders the sheet and writes it to `path` as PNG.
    pub fn save(&self, images: &[RgbImage], path: &Path) -> Result<()> {
        save_png(&self.render(images)?, path)
    }
}

/// Writes `image` to `path` as PNG.
pub fn save_png(image: &RgbImage, path: &Path) -> Result<()> {
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| Error::Encode {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_land_in_their_cells_centred() {
        let a = RgbImage::from_pixel(4, 2, Rgb([1, 0, 0]));
        let b = RgbImage::from_pixel(2, 2, Rgb([2, 0, 0]));
        let c = RgbImage::from_pixel(4, 4, Rgb([3, 0, 0]));
        let grid = ImageGrid {
            columns: 2,
            padding: 1,
            background: Rgb([0, 0, 9]),
        };
        let sheet = grid.render(&[a, b, c]).unwrap();
        // Cells 4x4; 2 columns, 2 rows.
        assert_eq!(sheet.dimensions(), (11, 11));
        assert_eq!(sheet.get_pixel(1, 2).0, [1, 0, 0], "a centred vertically");
        assert_eq!(sheet.get_pixel(1, 1).0, [0, 0, 9]);
        assert_eq!(sheet.get_pixel(7, 2).0, [2, 0, 0], "b centred in cell 2");
        assert_eq!(sheet.get_pixel(6, 2).0, [0, 0, 9]);
        assert_eq!(sheet.get_pixel(1, 6).0, [3, 0, 0]);
        assert_eq!(sheet.get_pixel(7, 7).0, [0, 0, 9], "empty fourth cell");
    }

    #[test]
    fn saved_png_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sheet.png");
        let images = vec![RgbImage::from_fn(3, 3, |x, y| Rgb([x as u8, y as u8, 7])); 2];
        ImageGrid::default().save(&images, &path).unwrap();
        let back = image::open(&path).unwrap().into_rgb8();
        assert_eq!(back, ImageGrid::default().render(&images).unwrap());
        assert!(ImageGrid::default().render(&[]).is_err());
        let missing = dir.path().join("no/such/dir/sheet.png");
        assert!(matches!(
            ImageGrid::default().save(&images, &missing),
            Err(Error::Encode { .. })
        ));
    }
}
