//! The direct forward convolution of small planes, with images in the vector lanes.
//!
//! Planes under 12 wide leave most lanes of a row tile empty (a 4 x 4 plane fills a quarter
//! of a vector), and im2col + GEMM spends more time copying nine shifted planes than
//! multiplying them. Here a block of 32 images is copied once, zero-padded, with the images
//! innermost ((c_in, rows, padded width, 32 images)), so that one position of the block is
//! two full vectors: the same micro-kernel then sums MR channels x 32 images per tile, every
//! lane useful, and the output is scattered back to (n, c_out, out_h, out_w). Batches too
//! small for blocks of 32 (the auto-encoder's 16) take blocks of 16 images, a tile then
//! holding two successive positions. A tile sums only the taps that read inside the image at
//! its positions ([`BorderClasses`]): at 4 x 4 a third of the taps read padding.

use std::any::Any;
use std::ops::Range;

use rayon::prelude::*;

use super::forward::{
    SCRATCH_BYTES, TASK_BYTES, TapSet, accumulate, pack_weights, tap_blocks, weights_fit,
};
use super::operand::Operand;
use super::tile::{MR, Tile};
use super::{
    LANES, MIN_FILL, MIN_TAPS, PaddedRows, fill, groups, lanes_to_runs, runs_to_lanes, tap_offsets,
};
use crate::conv::Geometry;
use crate::cpu::Shared;

/// Most images per block: the two vectors of a tile, at one position.
const IMAGES: usize = 2 * LANES;

/// Rows `r0..r1` of the output of images `img..img + count` (count <= images, the block size
/// of [`images_per_block`]).
#[derive(Debug, Clone, Copy)]
struct Block {
    img: usize,
    count: usize,
    images: usize,
    r0: usize,
    r1: usize,
}

impl Block {
    /// Output positions per tile: one (both vectors hold its 32 images), or two successive
    /// ones (a vector of 16 images each).
    fn positions_per_tile(&self) -> usize {
        2 * LANES / self.images
    }
}

/// Images per block for `n` images: 32, or 16 where blocks of 32 would be too empty (a batch
/// of 16, as the auto-encoder's); None when neither fills the tiles.
fn images_per_block(g: &Geometry, n: usize) -> Option<usize> {
    [IMAGES, LANES]
        .into_iter()
        .find(|&images| fill(g.c_out, MR) * fill(n, images) >= MIN_FILL)
}

/// Whether this path serves the convolution of `n` images (the caller checks the CPU): the
/// blocks of images and the channel panels are mostly full, and there are taps enough (and
/// kernel rows and columns fit the bit masks of [`BorderClasses`]).
pub(super) fn serves<E: Operand>(g: &Geometry, n: usize) -> bool {
    g.out_w > 0
        && g.k() >= MIN_TAPS
        && weights_fit::<E>(g)
        && images_per_block(g, n).is_some()
        && g.kh.max(g.kw) <= u32::BITS as usize
}

/// `out` (n, c_out, out_h, out_w) = conv(x, weight) + bias, every block in parallel; every
/// element of `out` is written.
///
/// # Safety
/// `out` must be valid for writes of the whole output, which nothing else accesses meanwhile.
pub(super) unsafe fn run<E: Operand>(
    x: &[f32],
    n: usize,
    g: &Geometry,
    weight: &[f32],
    bias: Option<&[f32]>,
    out: Shared<f32>,
) {
    let images = images_per_block(g, n).expect("`serves` checked the block size");
    let (grouped, packed) = (groups::<E>(g), pack_weights::<E>(weight, g));
    let classes = BorderClasses::new(&grouped, packed, images < IMAGES);
    // SAFETY: the caller's contract on `out`.
    unsafe { convolve(x, (n, images), g, &classes, bias, out) };
}

/// `run` with the tap elements of `classes`.
///
/// # Safety
/// As [`run`].
unsafe fn convolve<E: Operand>(
    x: &[f32],
    (n, images): (usize, usize),
    g: &Geometry,
    classes: &BorderClasses<E>,
    bias: Option<&[f32]>,
    dst: Shared<f32>,
) {
    let grouped = groups::<E>(g);
    blocks::<E>(g, n, images).par_iter().for_each_init(
        || (PaddedRows::default(), Vec::new(), Vec::new()),
        |(rows, offsets, scratch), &b| {
            let rows_in = pack_images(x, g, b, rows);
            tap_offsets(&grouped, rows_in, offsets);
            offsets.iter_mut().for_each(|o| *o *= b.images);
            let (tiles, bases, set_of) = tiles(g, b, classes);
            let offsets: Vec<Vec<usize>> = classes
                .taps
                .iter()
                .map(|taps| taps.iter().map(|&t| offsets[t]).collect())
                .collect();
            let sets: Vec<TapSet<E>> = (0..classes.taps.len())
                .map(|c| TapSet {
                    packed: &classes.packed,
                    offsets: &offsets[c],
                    blocks: &classes.blocks[c],
                    // A class of every tap reads the weights in order.
                    taps: Some(&classes.taps[c][..]).filter(|t| t.len() < grouped.k()),
                })
                .collect();
            accumulate(g, (&tiles, &bases, &set_of), &sets, &rows.values, scratch);
            // SAFETY: this block alone writes rows r0..r1 of its images, in every channel.
            unsafe { write_out(g, b, scratch, bias, dst) };
        },
    );
}

/// The output positions grouped by which taps read inside the image (not only padding), and
/// for each group those taps: a 4 x 4 plane's corner position reads 4 of the 9 taps of each
/// input channel, so it skips the other 5 (their products are zeros, adding nothing, so the
/// sums stay the same bit for bit). The kernel reads a group's weights in place among all
/// taps' (copying them per group took a tenth of a 4 x 4 convolution's time). Built on the
/// geometry of the tap elements ([`groups`]).
struct BorderClasses<E> {
    /// Per output row, then per output column, the mask of kernel rows / columns it reads.
    row_masks: Vec<u32>,
    col_masks: Vec<u32>,
    /// The distinct (row mask, column mask) pairs: one class each.
    keys: Vec<(u32, u32)>,
    /// Per class: its taps (indices into the weight's K) and their blocks of KC (positions in
    /// the class's taps).
    taps: Vec<Vec<usize>>,
    blocks: Vec<Vec<Range<usize>>>,
    /// The packed weights of all taps.
    packed: Vec<E>,
}

impl<E: Operand> BorderClasses<E> {
    /// The classes of single positions, or of pairs of successive positions (row-major, a
    /// pair may span two rows) when `pairs`; `packed` holds all taps' weights.
    fn new(g: &Geometry, packed: Vec<E>, pairs: bool) -> Self {
        let inside =
            |out: usize, k: usize, pad: usize, len: usize| (out + k).wrapping_sub(pad) < len;
        let mask = |out: usize, taps: usize, pad: usize, len: usize| {
            (0..taps)
                .filter(|&k| inside(out, k, pad, len))
                .fold(0u32, |m, k| m | 1 << k)
        };
        let row_masks = (0..g.out_h).map(|oy| mask(oy, g.kh, g.pad.0, g.h));
        let col_masks = (0..g.out_w).map(|ox| mask(ox, g.kw, g.pad.1, g.w));
        let masks = (row_masks.collect(), col_masks.collect());
        let keys = Self::keys(&masks, pairs);
        Self::from_masks(g, packed, masks, keys)
    }

    /// One class of every tap, padding included.
    #[cfg(test)]
    fn all_taps(g: &Geometry, packed: Vec<E>) -> Self {
        let (rows, cols) = ((1u32 << g.kh) - 1, (1u32 << g.kw) - 1);
        let masks = (vec![rows; g.out_h], vec![cols; g.out_w]);
        Self::from_masks(g, packed, masks, vec![(rows, cols)])
    }

    /// The distinct (row mask, column mask) keys of single positions, and of pairs of
    /// successive positions (the union of both's rows and columns) when `pairs`.
    fn keys((row_masks, col_masks): &(Vec<u32>, Vec<u32>), pairs: bool) -> Vec<(u32, u32)> {
        let positions = row_masks.len() * col_masks.len();
        let key = |p: usize| {
            (
                row_masks[p / col_masks.len()],
                col_masks[p % col_masks.len()],
            )
        };
        let union = |(r, c): (u32, u32), (r2, c2): (u32, u32)| (r | r2, c | c2);
        let mut keys = Vec::new();
        for p in 0..positions {
            let pair = (pairs && p + 1 < positions).then(|| union(key(p), key(p + 1)));
            for k in std::iter::once(key(p)).chain(pair) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        keys
    }

    /// The classes `keys` ([`Self::keys`]) of positions whose kernel rows and columns inside
    /// the image are `row_masks[oy]` and `col_masks[ox]`.
    fn from_masks(
        g: &Geometry,
        packed: Vec<E>,
        (row_masks, col_masks): (Vec<u32>, Vec<u32>),
        keys: Vec<(u32, u32)>,
    ) -> Self {
        let all_blocks = tap_blocks(g.k(), E::KC);
        let (mut taps, mut blocks) = (Vec::new(), Vec::new());
        for &(r, c) in &keys {
            let per_channel = g.kh * g.kw;
            let inside: Vec<usize> = (0..per_channel)
                .filter(|&t| r >> (t / g.kw) & 1 == 1 && c >> (t % g.kw) & 1 == 1)
                .collect();
            let kept: Vec<usize> = (0..g.c_in)
                .flat_map(|ci| inside.iter().map(move |&t| ci * per_channel + t))
                .collect();
            let first = |end: usize| kept.partition_point(|&t| t < end);
            let own: Vec<Range<usize>> = all_blocks
                .iter()
                .map(|full| first(full.start)..first(full.end))
                .collect();
            taps.push(kept);
            blocks.push(own);
        }
        BorderClasses {
            row_masks,
            col_masks,
            keys,
            taps,
            blocks,
            packed,
        }
    }

    /// The class of the output positions (oy, ox) of one tile.
    fn of(&self, positions: &[(usize, usize)]) -> usize {
        let key = positions.iter().fold((0, 0), |(r, c), &(oy, ox)| {
            (r | self.row_masks[oy], c | self.col_masks[ox])
        });
        self.keys
            .iter()
            .position(|&k| k == key)
            .expect("every position has a class")
    }
}

/// Blocks of IMAGES images and a few output rows: the padded input rows about TASK_BYTES,
/// the output tiles about SCRATCH_BYTES, and at least four blocks per thread when the
/// batch allows.
fn blocks<E: Operand>(g: &Geometry, n: usize, images: usize) -> Vec<Block> {
    let wp = g.w + 2 * g.pad.1;
    let lanes = images * size_of::<f32>();
    let m = g.c_out.div_ceil(MR) * MR;
    let input_lanes = images * size_of::<E>();
    let by_input = TASK_BYTES / (groups::<E>(g).c_in * wp * input_lanes).max(1);
    let by_scratch = SCRATCH_BYTES / (g.out_w * m * lanes).max(1);
    let mut rows = by_input.min(by_scratch).clamp(1, g.out_h.max(1));
    let wanted = 4 * rayon::current_num_threads();
    while rows > 1 && n.div_ceil(images) * g.out_h.div_ceil(rows) < wanted {
        rows = rows.div_ceil(2);
    }
    (0..n)
        .step_by(images)
        .flat_map(|img| {
            (0..g.out_h).step_by(rows).map(move |r0| Block {
                img,
                count: images.min(n - img),
                images,
                r0,
                r1: (r0 + rows).min(g.out_h),
            })
        })
        .collect()
}

/// Copies the input rows block `b` reads, zero-padded, into `rows` as (channel groups
/// ([`groups`]), rows_in, wp, b.images) elements, lanes past the block's images zero;
/// returns rows_in. f32 elements are transposed 16 images at a time ([`pack_f32`]).
fn pack_images<E: Operand>(x: &[f32], g: &Geometry, b: Block, rows: &mut PaddedRows<E>) -> usize {
    let (ph, pw) = g.pad;
    let wp = g.w + 2 * pw;
    let rows_in = b.r1 - b.r0 + g.kh - 1;
    let (plane, image) = (g.h * g.w, g.c_in * g.h * g.w);
    let images = b.images;
    let len = groups::<E>(g).c_in * rows_in * wp * images;
    let buf = rows.for_layout((b.r0, b.r1, b.count), len);
    if let Some(values) = (buf as &mut dyn Any).downcast_mut::<Vec<f32>>() {
        pack_f32(x, g, b, rows_in, values);
        return rows_in;
    }
    for (cg, channel) in buf.chunks_exact_mut(rows_in * wp * images).enumerate() {
        let c0 = cg * E::CHANNELS;
        let count = E::CHANNELS.min(g.c_in - c0);
        for (i, row) in channel.chunks_exact_mut(wp * images).enumerate() {
            let y = (b.r0 + i).wrapping_sub(ph);
            if y >= g.h {
                continue;
            }
            for j in 0..b.count {
                let first = (b.img + j) * image + c0 * plane + y * g.w;
                for xx in 0..g.w {
                    let value = |c: usize| x[first + c * plane + xx];
                    row[(xx + pw) * images + j] = E::pack_with(count, value);
                }
            }
        }
    }
    rows_in
}

/// [`pack_images`] for f32 elements into `buf`, whose padding is zero: the rows each channel's plane
/// lends the block, run by run, 16 images at a time through register transposes (the
/// element-by-element copy took a tenth of these convolutions' time).
fn pack_f32(x: &[f32], g: &Geometry, b: Block, rows_in: usize, buf: &mut [f32]) {
    let (ph, pw) = g.pad;
    let wp = g.w + 2 * pw;
    let (plane, image) = (g.h * g.w, g.c_in * g.h * g.w);
    // Input rows y of the block's padded rows r0 - ph .. r0 + rows_in - ph inside the image.
    let (y0, y1) = (
        b.r0.saturating_sub(ph).min(g.h),
        (b.r0 + rows_in).saturating_sub(ph).min(g.h),
    );
    let run = (y1 - y0) * g.w;
    if run == 0 {
        return;
    }
    let dest: Vec<usize> = (0..g.c_in)
        .flat_map(|c| (y0..y1).map(move |y| (c * rows_in + y + ph - b.r0) * wp + pw))
        .flat_map(|row| (0..g.w).map(move |xx| (row + xx) * b.images))
        .collect();
    // Whole planes lie end to end in an image: then one run covers every channel.
    let runs = if run == plane { 1 } else { g.c_in };
    let len = g.c_in * run / runs;
    for j0 in (0..b.count).step_by(LANES) {
        let count = LANES.min(b.count - j0);
        for r in 0..runs {
            let src = &x[(b.img + j0) * image + r * plane + y0 * g.w..];
            runs_to_lanes(src, image, count, &dest[r * len..][..len], &mut buf[j0..]);
        }
    }
}

/// The tiles of block `b`, its positions row after row: with 32 images, one position a tile
/// (the first 16 images, then the next); with 16, two successive positions a tile (the
/// second possibly on the next row, or none after the last). Also where each tile reads the
/// packed rows, and its class of taps.
fn tiles<E: Operand>(
    g: &Geometry,
    b: Block,
    classes: &BorderClasses<E>,
) -> (Vec<Tile>, Vec<usize>, Vec<usize>) {
    let wp = g.w + 2 * g.pad.1;
    let at = |(oy, ox): (usize, usize)| ((oy - b.r0) * wp + ox) * b.images;
    let positions: Vec<(usize, usize)> = (b.r0..b.r1)
        .flat_map(|oy| (0..g.out_w).map(move |ox| (oy, ox)))
        .collect();
    let (mut tiles, mut bases, mut set_of) = (Vec::new(), Vec::new(), Vec::new());
    for group in positions.chunks(b.positions_per_tile()) {
        let (oy, ox) = group[0];
        let (cols, second_in) = match group {
            [_] if b.images == IMAGES => {
                ([b.count.min(LANES), b.count.saturating_sub(LANES)], LANES)
            }
            [_] => ([b.count, 0], 0),
            [first, second] => ([b.count; 2], at(*second) - at(*first)),
            _ => unreachable!("tiles of one or two positions"),
        };
        tiles.push(Tile {
            oy,
            ox0: ox,
            cols,
            second: 0,
            second_in,
        });
        bases.push(at(group[0]));
        set_of.push(classes.of(group));
    }
    (tiles, bases, set_of)
}

/// Scatters block `b`'s sums from `scratch` (per tile, c_out rounded up to MR rows of two
/// vectors: 32 images of one position, or 16 images of each of two) into the output planes,
/// adding the bias: 16 images at a time through register transposes.
///
/// # Safety
/// `dst` is the output of all images; no other thread writes rows r0..r1 of these images.
unsafe fn write_out(
    g: &Geometry,
    b: Block,
    scratch: &[f32],
    bias: Option<&[f32]>,
    dst: Shared<f32>,
) {
    let plane = g.out_h * g.out_w;
    let tile_len = g.c_out.div_ceil(MR) * MR * 2 * LANES;
    let per_tile = b.positions_per_tile();
    // Where each output position's images start in `scratch`.
    let at: Vec<usize> = (0..(b.r1 - b.r0) * g.out_w)
        .map(|p| p / per_tile * tile_len + p % per_tile * b.images)
        .collect();
    for co in 0..g.c_out {
        let bias = bias.map_or(0.0, |b| b[co]);
        for j0 in (0..b.count).step_by(LANES) {
            let count = LANES.min(b.count - j0);
            let src = &scratch[co * 2 * LANES + j0..];
            let first = ((b.img + j0) * g.c_out + co) * plane + b.r0 * g.out_w;
            // SAFETY: rows r0..r1 of channel co of these images are this block's own (the
            // caller's contract).
            unsafe {
                lanes_to_runs(
                    src,
                    &at,
                    count,
                    (dst.ptr().add(first), g.c_out * plane),
                    bias,
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::direct::operand::{Bf16Pair, round_bf16};
    use crate::conv::direct::{
        check_forward_cases, has_kernel, on_all_and_one_thread, test_values as values,
    };

    #[test]
    fn image_lanes_convolution_matches_naive_loops() {
        if !has_kernel() {
            return;
        }
        // (n, c_in, h, w, c_out, k, pad): whole blocks, a last block of 4 and of 25 images,
        // planes of 1 to 11, channels past a panel, 1x1 and 5x5 taps, taps across blocks of KC,
        // blocks cut into rows (many input channels); blocks of 16 images (two positions a
        // tile: a batch of 16, an odd plane whose pairs span rows and end in a single
        // position, a last block of 12, and one with classes of pairs of positions).
        let cases = [
            (16, 16, 8, 8, 32, 3, 1),
            (13, 8, 3, 3, 8, 3, 1),
            (44, 8, 4, 5, 16, 3, 1),
            (44, 8, 10, 10, 8, 3, 1),
            (64, 16, 8, 8, 32, 3, 1),
            (100, 8, 4, 4, 16, 3, 1),
            (57, 8, 2, 2, 24, 3, 1),
            (25, 72, 1, 1, 8, 3, 1),
            (32, 64, 6, 11, 8, 1, 0),
            (32, 3, 5, 7, 16, 5, 2),
            (32, 40, 3, 5, 16, 3, 1),
            (64, 512, 8, 8, 8, 3, 1),
        ];
        on_all_and_one_thread(|| {
            check_forward_cases(
                &cases,
                |v| v,
                serves::<f32>,
                // SAFETY: `out` is the whole output, this test's own.
                |x, n, g, wt, bias, out| unsafe { run::<f32>(x, n, g, wt, Some(bias), out) },
            )
        });
    }

    #[test]
    fn bf16_image_lanes_match_naive_loops_on_rounded_operands() {
        if !crate::has_bf16_products() {
            return;
        }
        // (n, c_in, h, w, c_out, k, pad): a last block of 28 images, odd input channels, 5x5
        // taps over 3 channels, tap pairs across blocks.
        let cases = [
            (60, 16, 4, 4, 16, 3, 1),
            (32, 9, 2, 2, 8, 3, 1),
            (32, 3, 5, 7, 16, 5, 2),
            (32, 300, 2, 2, 8, 3, 1),
            (16, 64, 8, 8, 512, 3, 1),
        ];
        check_forward_cases(
            &cases,
            round_bf16,
            serves::<Bf16Pair>,
            // SAFETY: `out` is the whole output, this test's own.
            |x, n, g, wt, bias, out| unsafe { run::<Bf16Pair>(x, n, g, wt, Some(bias), out) },
        );
    }

    #[test]
    fn skipping_the_taps_that_read_padding_changes_no_bit() {
        if !has_kernel() {
            return;
        }
        // Planes of 1, 2, 4 and 7 (every border class), a 5 x 5 kernel with padding 2, taps
        // across blocks of KC (512 input channels), and blocks of 16 images (classes of pairs
        // of positions, an odd plane).
        let cases = [
            (32, 8, 1, 1, 8, 3, 1),
            (32, 16, 2, 2, 16, 3, 1),
            (40, 64, 4, 4, 64, 3, 1),
            (32, 8, 7, 5, 8, 5, 2),
            (32, 512, 2, 2, 8, 3, 1),
            (16, 16, 4, 4, 16, 3, 1),
            (13, 8, 3, 3, 8, 3, 1),
        ];
        for (i, &(n, c_in, h, w, c_out, k, p)) in cases.iter().enumerate() {
            let g = Geometry::new([n, c_in, h, w], [c_out, c_in, k, k], (p, p));
            let images = images_per_block(&g, n).expect("served");
            let x = values(n * c_in * h * w, 11 + i as u32);
            let packed = pack_weights::<f32>(&values(c_out * g.k(), 13 + i as u32), &g);
            let bias = values(c_out, 5);
            let [mut skipped, mut all] = [0, 1].map(|_| vec![f32::NAN; n * c_out * h * w]);
            let border = BorderClasses::new(&g, packed.clone(), images < IMAGES);
            let skips = border.taps.iter().any(|t| t.len() < g.k());
            assert!(skips, "case {i} has positions that skip taps");
            // SAFETY: each output is whole and this test's own.
            unsafe {
                convolve(
                    &x,
                    (n, images),
                    &g,
                    &border,
                    Some(&bias),
                    Shared(skipped.as_mut_ptr()),
                )
            };
            let whole = BorderClasses::all_taps(&g, packed);
            assert_eq!(whole.keys.len(), 1);
            unsafe {
                convolve(
                    &x,
                    (n, images),
                    &g,
                    &whole,
                    Some(&bias),
                    Shared(all.as_mut_ptr()),
                )
            };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&skipped), bits(&all), "case {i}");
        }
    }

    #[test]
    fn few_images_or_taps_are_left_to_other_paths() {
        let g = Geometry::new([16, 64, 4, 4], [64, 64, 3, 3], (1, 1));
        assert!(!serves::<f32>(&g, 8), "8 images fill half of a block of 16");
        assert_eq!(images_per_block(&g, 16), Some(16));
        assert_eq!(images_per_block(&g, 40), Some(16));
        assert_eq!(images_per_block(&g, 24), Some(32));
        let few_taps = Geometry::new([64, 3, 8, 8], [64, 3, 3, 3], (1, 1));
        assert!(!serves::<f32>(&few_taps, 64));
    }
}
