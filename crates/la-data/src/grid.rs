//! Grid tiling: overlapping square tiles on an n x n grid, each tile an item of its own.

use image::RgbImage;

use crate::error::{Error, Result};

/// An n x n grid of overlapping square tiles over a square image of side
/// `tile + (n - 1) * step`; for instance 6 x 6 tiles of 64 pixels, 32 apart, cover 224 pixels.
///
/// Tiles are numbered row by row: tile `t` has its top-left corner at
/// `((t % n) * step, (t / n) * step)`.
///
/// ```
/// let grid = la_data::Grid::fit(224, 6, 64)?;
/// assert_eq!((grid.step(), grid.len(), grid.side()), (32, 36, 224));
/// assert_eq!(grid.origin(7), (32, 32));
/// assert!(la_data::Grid::fit(224, 4, 64).is_err()); // 160 is not a multiple of 3
/// # Ok::<(), la_data::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    n: u32,
    tile: u32,
    step: u32,
}

impl Grid {
    /// A grid of `n` x `n` tiles of side `tile`, `step` pixels apart. The tile side must be a
    /// positive multiple of 32 (the encoder pools five times); the step must be positive and
    /// at most the tile side when `n > 1`, so that tiles cover the image without gaps.
    pub fn new(n: u32, tile: u32, step: u32) -> Result<Self> {
        if n == 0 {
            return Err(Error::config("grid n", n, "at least 1 tile per side"));
        }
        if tile == 0 || !tile.is_multiple_of(32) {
            return Err(Error::config(
                "grid tile",
                tile,
                "a positive multiple of 32",
            ));
        }
        if n > 1 && (step == 0 || step > tile) {
            return Err(Error::config(
                "grid step",
                step,
                format!("between 1 and the tile side {tile}, so that tiles leave no gap"),
            ));
        }
        Ok(Grid {
            n,
            tile,
            step: if n == 1 { 0 } else { step },
        })
    }

    /// The grid of `n` x `n` tiles of side `tile` that exactly covers `side` pixels:
    /// `tile + (n - 1) * step == side` must hold for a whole `step`.
    pub fn fit(side: u32, n: u32, tile: u32) -> Result<Self> {
        let span = side.checked_sub(tile).ok_or_else(|| {
            Error::config("grid tile", tile, format!("at most the image side {side}"))
        })?;
        let step = match n {
            0 | 1 if span == 0 => 0,
            0 | 1 => {
                return Err(Error::config(
                    "grid n",
                    n,
                    format!("a single tile must be the whole side {side}, not {tile}"),
                ));
            }
            _ if !span.is_multiple_of(n - 1) => {
                return Err(Error::config(
                    "grid",
                    format!("{n} tiles of {tile} over {side}"),
                    format!(
                        "tile + (n - 1) * step == side, but {span} is not a multiple of {}",
                        n - 1
                    ),
                ));
            }
            _ => span / (n - 1),
        };
        Grid::new(n, tile, step)
    }

    /// Tiles per side.
    pub fn n(&self) -> u32 {
        self.n
    }

    /// Side of one tile.
    pub fn tile(&self) -> u32 {
        self.tile
    }

    /// Distance between neighbouring tiles.
    pub fn step(&self) -> u32 {
        self.step
    }

    /// Side of the image the grid covers: `tile + (n - 1) * step`.
    pub fn side(&self) -> u32 {
        self.tile + (self.n - 1) * self.step
    }

    /// Number of tiles, `n * n`.
    pub fn len(&self) -> usize {
        (self.n * self.n) as usize
    }

    /// Always false: a grid has at least one tile.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Top-left corner `(x, y)` of tile `t`.
    pub fn origin(&self, t: usize) -> (u32, u32) {
        let t = t as u32;
        ((t % self.n) * self.step, (t / self.n) * self.step)
    }

    /// Cuts tile `t` out of `image`, which must be [`side`](Self::side) pixels square.
    pub fn crop(&self, image: &RgbImage, t: usize) -> Result<RgbImage> {
        let side = self.side();
        if image.dimensions() != (side, side) || t >= self.len() {
            return Err(Error::ImageSize {
                what: format!("tile {t} of a {}x{} grid", self.n, self.n),
                width: image.width(),
                height: image.height(),
                expected: format!("{side}x{side} and a tile below {}", self.len()),
            });
        }
        let (x, y) = self.origin(t);
        Ok(image::imageops::crop_imm(image, x, y, self.tile, self.tile).to_image())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_hold_the_pixels_at_their_origin() {
        let grid = Grid::new(3, 32, 16).unwrap();
        assert_eq!(grid.side(), 64);
        let image = RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8, y as u8, 0]));
        for t in 0..9 {
            let tile = grid.crop(&image, t).unwrap();
            let (x0, y0) = (16 * (t as u32 % 3), 16 * (t as u32 / 3));
            assert_eq!(tile.dimensions(), (32, 32));
            assert_eq!(tile.get_pixel(0, 0).0, [x0 as u8, y0 as u8, 0]);
            assert_eq!(
                tile.get_pixel(31, 5).0,
                [(x0 + 31) as u8, (y0 + 5) as u8, 0]
            );
        }
        assert!(grid.crop(&image, 9).is_err());
        assert!(grid.crop(&RgbImage::new(63, 64), 0).is_err());
    }

    #[test]
    fn invalid_grids_are_refused() {
        assert!(Grid::new(0, 32, 1).is_err());
        assert!(Grid::new(2, 48, 16).is_err(), "tile not a multiple of 32");
        assert!(Grid::new(2, 32, 0).is_err(), "no step");
        assert!(Grid::new(2, 32, 33).is_err(), "gap between tiles");
        assert!(Grid::fit(224, 6, 256).is_err(), "tile over the side");
        assert!(
            Grid::fit(224, 1, 64).is_err(),
            "one tile that is not the side"
        );
        assert_eq!(Grid::fit(64, 1, 64).unwrap().side(), 64);
        assert_eq!(Grid::fit(224, 2, 128).unwrap().step(), 96);
    }
}
