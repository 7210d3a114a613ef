//! The direct forward convolution of small planes, with images in the vector lanes.
//!
//! Planes under 12 wide leave most lanes of a row tile empty (a 4 x 4 plane fills a quarter
//! of a vector), and im2col + GEMM spends more time copying nine shifted planes than
//! multiplying them. Here a block of 32 images is copied once, zero-padded, with the images
//! innermost ((c_in, rows, padded width, 32 images)), so that one position of the block is
//! two full vectors: the same micro-kernel then sums MR channels x 32 images per tile, every
//! lane useful, and the output is scattered back to (n, c_out, out_h, out_w). A tile being one
//! position, it sums only the taps that read inside the image ([`BorderClasses`]): at 4 x 4 a
//! third of the taps read padding.

use std::ops::Range;

use rayon::prelude::*;

use super::forward::{
    SCRATCH_BYTES, TASK_BYTES, TapSet, accumulate, pack_weights, tap_blocks, weights_fit,
};
use super::operand::Operand;
use super::tile::{MR, Tile};
use super::{LANES, MIN_FILL, MIN_TAPS, fill, groups, tap_offsets};
use crate::conv::Geometry;
use crate::cpu::Shared;

/// Images per block: the two vectors of a tile.
const IMAGES: usize = 2 * LANES;

/// Rows `r0..r1` of the output of images `img..img + count` (count <= IMAGES).
#[derive(Debug, Clone, Copy)]
struct Block {
    img: usize,
    count: usize,
    r0: usize,
    r1: usize,
}

/// Whether this path serves the convolution of `n` images (the caller checks the CPU): the
/// blocks of images and the channel panels are mostly full, and there are taps enough (and
/// kernel rows and columns fit the bit masks of [`BorderClasses`]).
pub(super) fn serves<E: Operand>(g: &Geometry, n: usize) -> bool {
    g.out_w > 0
        && g.k() >= MIN_TAPS
        && weights_fit::<E>(g)
        && fill(g.c_out, MR) * fill(n, IMAGES) >= MIN_FILL
        && g.kh.max(g.kw) <= u32::BITS as usize
}

/// `out` (n, c_out, out_h, out_w) = conv(x, weight) + bias, every block in parallel.
pub(super) fn run<E: Operand>(
    x: &[f32],
    n: usize,
    g: &Geometry,
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let classes = BorderClasses::new(&groups::<E>(g), &pack_weights::<E>(weight, g));
    convolve(x, n, g, &classes, bias, out);
}

/// `run` with the tap elements of `classes`.
fn convolve<E: Operand>(
    x: &[f32],
    n: usize,
    g: &Geometry,
    classes: &BorderClasses<E>,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let dst = Shared(out.as_mut_ptr());
    let grouped = groups::<E>(g);
    blocks::<E>(g, n).par_iter().for_each_init(
        || (Vec::new(), Vec::new(), Vec::new()),
        |(rows, offsets, scratch), &b| {
            let rows_in = pack_images(x, g, b, rows);
            tap_offsets(&grouped, rows_in, offsets);
            offsets.iter_mut().for_each(|o| *o *= IMAGES);
            let (tiles, bases) = tiles(g, b);
            let set_of: Vec<usize> = tiles.iter().map(|t| classes.of(t.oy, t.ox0)).collect();
            let offsets: Vec<Vec<usize>> = classes
                .taps
                .iter()
                .map(|taps| taps.iter().map(|&t| offsets[t]).collect())
                .collect();
            let sets: Vec<TapSet<E>> = (0..classes.taps.len())
                .map(|c| TapSet {
                    packed: &classes.packed[c],
                    offsets: &offsets[c],
                    blocks: &classes.blocks[c],
                })
                .collect();
            accumulate(g, (&tiles, &bases, &set_of), &sets, rows, scratch);
            // SAFETY: this block alone writes rows r0..r1 of its images, in every channel.
            unsafe { write_out(g, b, scratch, bias, dst) };
        },
    );
}

/// The output positions grouped by which taps read inside the image (not only padding), and
/// for each group those taps' packed weights: a 4 x 4 plane's corner position reads 4 of the 9
/// taps of each input channel, so it skips the other 5 (their products are zeros, adding
/// nothing, so the sums stay the same bit for bit). Built on the geometry of the tap
/// elements ([`groups`]).
struct BorderClasses<E> {
    /// Per output row, then per output column, the mask of kernel rows / columns it reads.
    row_masks: Vec<u32>,
    col_masks: Vec<u32>,
    /// The distinct (row mask, column mask) pairs: one class each.
    keys: Vec<(u32, u32)>,
    /// Per class: its taps (indices into the weight's K), their packed weights, and their
    /// blocks of KC.
    taps: Vec<Vec<usize>>,
    packed: Vec<Vec<E>>,
    blocks: Vec<Vec<Range<usize>>>,
}

impl<E: Operand> BorderClasses<E> {
    fn new(g: &Geometry, packed: &[E]) -> Self {
        let inside =
            |out: usize, k: usize, pad: usize, len: usize| (out + k).wrapping_sub(pad) < len;
        let mask = |out: usize, taps: usize, pad: usize, len: usize| {
            (0..taps)
                .filter(|&k| inside(out, k, pad, len))
                .fold(0u32, |m, k| m | 1 << k)
        };
        let row_masks = (0..g.out_h).map(|oy| mask(oy, g.kh, g.pad.0, g.h));
        let col_masks = (0..g.out_w).map(|ox| mask(ox, g.kw, g.pad.1, g.w));
        Self::from_masks(g, packed, row_masks.collect(), col_masks.collect())
    }

    /// One class of every tap, padding included.
    #[cfg(test)]
    fn all_taps(g: &Geometry, packed: &[E]) -> Self {
        let (rows, cols) = ((1u32 << g.kh) - 1, (1u32 << g.kw) - 1);
        Self::from_masks(g, packed, vec![rows; g.out_h], vec![cols; g.out_w])
    }

    /// The classes of positions whose kernel rows and columns inside the image are
    /// `row_masks[oy]` and `col_masks[ox]`.
    fn from_masks(g: &Geometry, packed: &[E], row_masks: Vec<u32>, col_masks: Vec<u32>) -> Self {
        let mut keys = Vec::new();
        for &r in &row_masks {
            for &c in &col_masks {
                if !keys.contains(&(r, c)) {
                    keys.push((r, c));
                }
            }
        }
        let all_blocks = tap_blocks(g.k(), E::KC);
        let (mut taps, mut packed_sets, mut blocks) = (Vec::new(), Vec::new(), Vec::new());
        for &(r, c) in &keys {
            let kept: Vec<usize> = (0..g.k())
                .filter(|&t| r >> (t / g.kw % g.kh) & 1 == 1 && c >> (t % g.kw) & 1 == 1)
                .collect();
            let (p, b) = select_taps(g, packed, &all_blocks, &kept);
            taps.push(kept);
            packed_sets.push(p);
            blocks.push(b);
        }
        BorderClasses {
            row_masks,
            col_masks,
            keys,
            taps,
            packed: packed_sets,
            blocks,
        }
    }

    /// The class of output position (oy, ox).
    fn of(&self, oy: usize, ox: usize) -> usize {
        let key = (self.row_masks[oy], self.col_masks[ox]);
        self.keys
            .iter()
            .position(|&k| k == key)
            .expect("every position has a class")
    }
}

/// The packed weights of the taps `kept` (in order) and their blocks: within each of
/// `all_blocks`, the kept taps' groups of MR weights, panel by panel.
fn select_taps<E: Operand>(
    g: &Geometry,
    packed: &[E],
    all_blocks: &[Range<usize>],
    kept: &[usize],
) -> (Vec<E>, Vec<Range<usize>>) {
    let m = g.c_out.div_ceil(MR) * MR;
    let mut out = vec![E::default(); kept.len() * m];
    let mut blocks = Vec::with_capacity(all_blocks.len());
    let mut start = 0;
    for full in all_blocks {
        let len = kept[start..].iter().take_while(|&&t| t < full.end).count();
        let (src, dst) = (&packed[full.start * m..], &mut out[start * m..]);
        for ip in 0..m / MR {
            for (j, &t) in kept[start..start + len].iter().enumerate() {
                let from = ip * full.len() * MR + (t - full.start) * MR;
                dst[ip * len * MR + j * MR..][..MR].copy_from_slice(&src[from..][..MR]);
            }
        }
        blocks.push(start..start + len);
        start += len;
    }
    (out, blocks)
}

/// Blocks of IMAGES images and a few output rows: the padded input rows about TASK_BYTES,
/// the output tiles about SCRATCH_BYTES, and at least four blocks per thread when the
/// batch allows.
fn blocks<E: Operand>(g: &Geometry, n: usize) -> Vec<Block> {
    let wp = g.w + 2 * g.pad.1;
    let lanes = IMAGES * size_of::<f32>();
    let m = g.c_out.div_ceil(MR) * MR;
    let input_lanes = IMAGES * size_of::<E>();
    let by_input = TASK_BYTES / (groups::<E>(g).c_in * wp * input_lanes).max(1);
    let by_scratch = SCRATCH_BYTES / (g.out_w * m * lanes).max(1);
    let mut rows = by_input.min(by_scratch).clamp(1, g.out_h.max(1));
    let wanted = 4 * rayon::current_num_threads();
    while rows > 1 && n.div_ceil(IMAGES) * g.out_h.div_ceil(rows) < wanted {
        rows = rows.div_ceil(2);
    }
    (0..n)
        .step_by(IMAGES)
        .flat_map(|img| {
            (0..g.out_h).step_by(rows).map(move |r0| Block {
                img,
                count: IMAGES.min(n - img),
                r0,
                r1: (r0 + rows).min(g.out_h),
            })
        })
        .collect()
}

/// Copies the input rows block `b` reads, zero-padded, into `buf` as (channel groups
/// ([`groups`]), rows_in, wp, IMAGES) elements, lanes past the block's images zero; returns
/// rows_in.
fn pack_images<E: Operand>(x: &[f32], g: &Geometry, b: Block, buf: &mut Vec<E>) -> usize {
    let (ph, pw) = g.pad;
    let wp = g.w + 2 * pw;
    let rows_in = b.r1 - b.r0 + g.kh - 1;
    let (plane, image) = (g.h * g.w, g.c_in * g.h * g.w);
    buf.clear();
    buf.resize(groups::<E>(g).c_in * rows_in * wp * IMAGES, E::default());
    for (cg, channel) in buf.chunks_exact_mut(rows_in * wp * IMAGES).enumerate() {
        let c0 = cg * E::CHANNELS;
        let count = E::CHANNELS.min(g.c_in - c0);
        for (i, row) in channel.chunks_exact_mut(wp * IMAGES).enumerate() {
            let y = (b.r0 + i).wrapping_sub(ph);
            if y >= g.h {
                continue;
            }
            for j in 0..b.count {
                let first = (b.img + j) * image + c0 * plane + y * g.w;
                for xx in 0..g.w {
                    let value = |c: usize| x[first + c * plane + xx];
                    row[(xx + pw) * IMAGES + j] = E::pack_with(count, value);
                }
            }
        }
    }
    rows_in
}

/// One tile per output position of block `b`, row after row: both vectors at that position,
/// the first 16 images then the next; and where each reads the packed rows.
fn tiles(g: &Geometry, b: Block) -> (Vec<Tile>, Vec<usize>) {
    let wp = g.w + 2 * g.pad.1;
    let cols = [b.count.min(LANES), b.count.saturating_sub(LANES)];
    let positions = (b.r0..b.r1).flat_map(|oy| (0..g.out_w).map(move |ox| (oy, ox)));
    positions
        .map(|(oy, ox)| {
            let tile = Tile {
                oy,
                ox0: ox,
                cols,
                second: 0,
                second_in: LANES,
            };
            (tile, ((oy - b.r0) * wp + ox) * IMAGES)
        })
        .unzip()
}

/// Scatters block `b`'s sums from `scratch` (per tile, c_out rounded up to MR rows of
/// IMAGES lanes) into the output planes, adding the bias.
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
    const CHUNK: usize = 64;
    let plane = g.out_h * g.out_w;
    let tile_len = g.c_out.div_ceil(MR) * MR * IMAGES;
    let positions = (b.r1 - b.r0) * g.out_w;
    // Transposed through a buffer in L1: the images' planes lie a power of two apart, and
    // writing them one position at a time thrashed one cache set.
    let mut buf = [[0f32; CHUNK]; IMAGES];
    for co in 0..g.c_out {
        let bias = bias.map_or(0.0, |b| b[co]);
        let first = (b.img * g.c_out + co) * plane + b.r0 * g.out_w;
        for p0 in (0..positions).step_by(CHUNK) {
            let len = CHUNK.min(positions - p0);
            for p in 0..len {
                let lanes = &scratch[(p0 + p) * tile_len + co * IMAGES..][..b.count];
                for (row, &v) in buf.iter_mut().zip(lanes) {
                    row[p] = v;
                }
            }
            for (j, row) in buf.iter().take(b.count).enumerate() {
                let at = first + j * g.c_out * plane + p0;
                // SAFETY: inside rows r0..r1 of channel co of image img + j, this block's own.
                let d = unsafe { std::slice::from_raw_parts_mut(dst.ptr().add(at), len) };
                d.iter_mut().zip(row).for_each(|(d, &v)| *d = v + bias);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::direct::operand::{Bf16Pair, round_bf16};
    use crate::conv::direct::{check_forward_cases, has_kernel, test_values as values};

    #[test]
    fn image_lanes_convolution_matches_naive_loops() {
        if !has_kernel() {
            return;
        }
        // (n, c_in, h, w, c_out, k, pad): whole blocks, a last block of 4 and of 25 images,
        // planes of 1 to 11, channels past a panel, 1x1 and 5x5 taps, taps across blocks of KC,
        // blocks cut into rows (many input channels).
        let cases = [
            (64, 16, 8, 8, 32, 3, 1),
            (100, 8, 4, 4, 16, 3, 1),
            (57, 8, 2, 2, 24, 3, 1),
            (25, 72, 1, 1, 8, 3, 1),
            (32, 64, 6, 11, 8, 1, 0),
            (32, 3, 5, 7, 16, 5, 2),
            (32, 40, 3, 5, 16, 3, 1),
            (64, 512, 8, 8, 8, 3, 1),
        ];
        check_forward_cases(
            &cases,
            |v| v,
            serves::<f32>,
            |x, n, g, wt, bias, out| run::<f32>(x, n, g, wt, Some(bias), out),
        );
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
        ];
        check_forward_cases(
            &cases,
            round_bf16,
            serves::<Bf16Pair>,
            |x, n, g, wt, bias, out| run::<Bf16Pair>(x, n, g, wt, Some(bias), out),
        );
    }

    #[test]
    fn skipping_the_taps_that_read_padding_changes_no_bit() {
        if !has_kernel() {
            return;
        }
        // Planes of 1, 2, 4 and 7 (every border class), a 5 x 5 kernel with padding 2, and
        // taps across blocks of KC (512 input channels).
        let cases = [
            (32, 8, 1, 1, 8, 3, 1),
            (32, 16, 2, 2, 16, 3, 1),
            (40, 64, 4, 4, 64, 3, 1),
            (32, 8, 7, 5, 8, 5, 2),
            (32, 512, 2, 2, 8, 3, 1),
        ];
        for (i, &(n, c_in, h, w, c_out, k, p)) in cases.iter().enumerate() {
            let g = Geometry::new([n, c_in, h, w], [c_out, c_in, k, k], (p, p));
            let x = values(n * c_in * h * w, 11 + i as u32);
            let packed = pack_weights::<f32>(&values(c_out * g.k(), 13 + i as u32), &g);
            let bias = values(c_out, 5);
            let [mut skipped, mut all] = [0, 1].map(|_| vec![f32::NAN; n * c_out * h * w]);
            let border = BorderClasses::new(&g, &packed);
            let skips = border.taps.iter().any(|t| t.len() < g.k());
            assert!(skips, "case {i} has positions that skip taps");
            convolve(&x, n, &g, &border, Some(&bias), &mut skipped);
            let whole = BorderClasses::all_taps(&g, &packed);
            convolve(&x, n, &g, &whole, Some(&bias), &mut all);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&skipped), bits(&all), "case {i}");
        }
    }

    #[test]
    fn few_images_or_taps_are_left_to_other_paths() {
        let g = Geometry::new([16, 64, 4, 4], [64, 64, 3, 3], (1, 1));
        assert!(!serves::<f32>(&g, 16), "16 images fill half of a block");
        assert!(serves::<f32>(&g, 24));
        let few_taps = Geometry::new([64, 3, 8, 8], [64, 3, 3, 3], (1, 1));
        assert!(!serves::<f32>(&few_taps, 64));
    }
}
