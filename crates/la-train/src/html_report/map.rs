//! The 2-D map of the embedding: its layout (UMAP, or the principal-component projection)
//! drawn as a PNG with one colour per cluster and, at the middle of each cluster, the
//! thumbnail of its most central item.

use std::path::Path;

use crate::Result;
use la_data::image::{Rgb, RgbImage, imageops};

/// Width and height of the map, in pixels.
pub const MAP_SIZE: (u32, u32) = (960, 640);

/// Side of the thumbnails drawn on the map.
const STAMP: u32 = 44;

/// Where a cluster's thumbnail went on the map: the rectangle (x0, y0, x1, y1).
pub type Stamp = (u32, [u32; 4]);

/// Draws `points` (one per item, coloured by `colours[cluster[i]]`) and, for each
/// `(cluster, thumbnail)` of `stamps`, the thumbnail at the median position of the cluster's
/// points, framed in its colour; writes the PNG to `path`. Returns the rectangle of each
/// stamp, for links from the page.
pub fn draw_map(
    points: &[[f64; 2]],
    clusters: &[u32],
    colours: &dyn Fn(u32) -> [u8; 3],
    stamps: &[(u32, &RgbImage)],
    path: &Path,
) -> Result<Vec<Stamp>> {
    let (w, h) = MAP_SIZE;
    let mut canvas = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let margin = 12.0 + STAMP as f64 / 2.0;
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in points {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    // One scale for both axes: distances on the map are distances in the projection.
    let span = |a: usize| (hi[a] - lo[a]).max(1e-12);
    let scale = ((w as f64 - 2.0 * margin) / span(0)).min((h as f64 - 2.0 * margin) / span(1));
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let to_pixel = |p: &[f64; 2]| {
        let x = w as f64 / 2.0 + (p[0] - centre[0]) * scale;
        // The second axis points up.
        let y = h as f64 / 2.0 - (p[1] - centre[1]) * scale;
        (x, y)
    };
    let radius = if points.len() > 3000 { 2 } else { 3 };
    // A fixed shuffle, so that no cluster is always drawn on top of the others.
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for i in order {
        let (x, y) = to_pixel(&points[i]);
        disc(&mut canvas, x, y, radius, colours(clusters[i]));
    }
    let mut placed = Vec::new();
    for &(cluster, thumb) in stamps {
        let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = points
            .iter()
            .zip(clusters)
            .filter(|(_, c)| **c == cluster)
            .map(|(p, _)| to_pixel(p))
            .unzip();
        if xs.is_empty() {
            continue;
        }
        let (x, y) = (median(&mut xs), median(&mut ys));
        placed.push((cluster, stamp(&mut canvas, x, y, thumb, colours(cluster))));
    }
    la_data::save_png(&canvas, path)?;
    Ok(placed)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn disc(canvas: &mut RgbImage, x: f64, y: f64, r: i64, colour: [u8; 3]) {
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    for dy in -r..=r {
        for dx in -r..=r {
            let (px, py) = (cx + dx, cy + dy);
            if dx * dx + dy * dy <= r * r
                && (0..canvas.width() as i64).contains(&px)
                && (0..canvas.height() as i64).contains(&py)
            {
                canvas.put_pixel(px as u32, py as u32, Rgb(colour));
            }
        }
    }
}

/// Draws `thumb`, fitted into [`STAMP`] pixels and framed in `colour`, centred at (x, y)
/// (kept inside the canvas); returns its rectangle.
fn stamp(canvas: &mut RgbImage, x: f64, y: f64, thumb: &RgbImage, colour: [u8; 3]) -> [u32; 4] {
    let (tw, th) = thumb.dimensions();
    let longest = tw.max(th).max(1);
    let fit = |v: u32| ((v * STAMP) / longest).max(1);
    let filter = if longest < STAMP {
        imageops::FilterType::Nearest
    } else {
        imageops::FilterType::Triangle
    };
    let small = imageops::resize(thumb, fit(tw), fit(th), filter);
    let (sw, sh) = (small.width() + 4, small.height() + 4);
    let place = |c: f64, size: u32, limit: u32| {
        (c - size as f64 / 2.0).clamp(0.0, (limit - size) as f64) as u32
    };
    let (x0, y0) = (place(x, sw, canvas.width()), place(y, sh, canvas.height()));
    for yy in y0..y0 + sh {
        for xx in x0..x0 + sw {
            canvas.put_pixel(xx, yy, Rgb(colour));
        }
    }
    imageops::replace(canvas, &small, x0 as i64 + 2, y0 as i64 + 2);
    [x0, y0, x0 + sw, y0 + sh]
}

/// The colour of cluster `c`: twenty distinct colours, then hues a golden angle apart.
pub fn colour(c: u32) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 20] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
        [0, 0, 128],
        [170, 110, 40],
        [0, 128, 128],
        [128, 0, 0],
        [60, 180, 75],
        [240, 50, 230],
        [245, 130, 48],
        [70, 70, 200],
        [128, 128, 0],
        [230, 25, 75],
    ];
    if let Some(c) = PALETTE.get(c as usize) {
        return *c;
    }
    let hue = (c as f64 * 137.507_764).rem_euclid(360.0) / 60.0;
    let x = 1.0 - (hue.rem_euclid(2.0) - 1.0).abs();
    let (r, g, b) = match hue as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let v = |c: f64| (40.0 + 170.0 * c) as u8;
    [v(r), v(g), v(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_distinct_for_many_clusters() {
        let colours: std::collections::HashSet<[u8; 3]> = (0..60).map(colour).collect();
        assert_eq!(colours.len(), 60);
    }

    #[test]
    fn the_map_is_drawn_with_a_stamp_per_cluster_inside_the_canvas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.png");
        let points = [[0.0, 0.0], [1.0, 0.0], [10.0, 5.0], [11.0, 5.0]];
        let thumb = RgbImage::from_pixel(32, 32, Rgb([9, 9, 9]));
        let placed = draw_map(
            &points,
            &[0, 0, 1, 1],
            &colour,
            &[(0, &thumb), (1, &thumb)],
            &path,
        )
        .unwrap();
        let map = la_data::image::open(&path).unwrap().to_rgb8();
        assert_eq!(map.dimensions(), MAP_SIZE);
        assert_eq!(placed.len(), 2);
        for (_, [x0, y0, x1, y1]) in &placed {
            assert!(x0 < x1 && y0 < y1 && *x1 <= MAP_SIZE.0 && *y1 <= MAP_SIZE.1);
            // The frame has the cluster's colour and the inside is the thumbnail.
            assert_eq!(map.get_pixel(x0 + 2, y0 + 2).0, [9, 9, 9]);
        }
        assert_eq!(map.get_pixel(placed[1].1[0], placed[1].1[1]).0, colour(1));
        // Cluster 0 lies left of cluster 1, as its points do.
        assert!(placed[0].1[0] < placed[1].1[0]);
    }
}

/// How the map places the items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Layout {
    /// A 2-D UMAP layout of the embeddings (`MAP_NEIGHBOURS` neighbours, cosine).
    Umap,
    /// The projection on the two principal axes, with the share of the variance of each.
    Pca([f64; 2]),
}

/// What the map shows, for its caption and its links.
pub struct MapInfo {
    /// How the items were placed.
    pub layout: Layout,
    /// Where each cluster's thumbnail is.
    pub stamps: Vec<Stamp>,
    /// Dimensions of the embedding.
    pub dim: usize,
}
