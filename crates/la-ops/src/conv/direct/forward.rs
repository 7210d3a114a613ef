//! The direct forward convolution.
//!
//! An output tile is MR channels x two 16-position vectors: both along one output row, or on
//! two successive rows where rows are at most 16 wide. A task covers some output rows of one
//! image and pads only the input rows they need.

use std::ops::Range;

use rayon::prelude::*;

use super::operand::Operand;
use super::tile::{MR, Tile};
use super::{LANES, MIN_FILL, MIN_TAPS, PaddedRows, fill, groups, pad_rows, tap_offsets};
use crate::conv::Geometry;
use crate::conv::task::Task;
use crate::cpu::Shared;

/// Most bytes of packed weights per block (c_out x KC), to stay in L2 beside the scratch:
/// with more output channels (512) in f32, im2col + GEMM was faster (measured, 2-core Zen 4).
const BLOCK_BYTES: usize = 256 << 10;
/// Bytes of padded input rows per task.
pub(super) const TASK_BYTES: usize = 512 << 10;
/// Bytes of a task's output tiles, accumulated in a contiguous scratch buffer: a tile's
/// channels lie a plane apart in the output, often a power of two, so accumulating there
/// block after block thrashed one L1 set.
pub(super) const SCRATCH_BYTES: usize = 256 << 10;

/// Whether the output fills the kernel's tiles well enough (the caller checks the CPU).
pub(super) fn serves<E: Operand>(g: &Geometry) -> bool {
    // Rows up to a vector wide fill a vector each; wider rows are cut into two-vector tiles.
    let row_tile = if g.out_w <= LANES { LANES } else { 2 * LANES };
    g.out_w > 0
        && g.k() >= MIN_TAPS
        && weights_fit::<E>(g)
        && fill(g.c_out, MR) * fill(g.out_w, row_tile) >= MIN_FILL
}

/// Whether a block of packed weights fits BLOCK_BYTES.
pub(super) fn weights_fit<E: Operand>(g: &Geometry) -> bool {
    g.c_out.div_ceil(MR) * MR * E::KC * size_of::<E>() <= BLOCK_BYTES
}

/// `out` (n, c_out, out_h, out_w) = conv(x, weight) + bias, every task in parallel; every
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
    dst: Shared<f32>,
) {
    let packed = pack_weights::<E>(weight, g);
    let grouped = groups::<E>(g);
    let blocks = tap_blocks(grouped.k(), E::KC);
    tasks::<E>(g, n).par_iter().for_each_init(
        || (PaddedRows::default(), Vec::new(), Vec::new()),
        |(rows, offsets, scratch), &t| {
            let rows_in = pad_rows::<E>(x, g, t, rows);
            tap_offsets(&grouped, rows_in, offsets);
            let tiles = tiles(g, t);
            let wp = g.w + 2 * g.pad.1;
            let bases: Vec<usize> = tiles
                .iter()
                .map(|tile| (tile.oy - t.r0) * wp + tile.ox0)
                .collect();
            let taps = TapSet {
                packed: &packed,
                offsets,
                blocks: &blocks,
                taps: None,
            };
            let sets = vec![0; tiles.len()];
            accumulate(g, (&tiles, &bases, &sets), &[taps], &rows.values, scratch);
            // SAFETY: this task alone writes rows r0..r1 of image img, in every channel.
            unsafe { write_out(g, &tiles, scratch, bias, t.img, dst) };
        },
    );
}

/// Tasks of a few output rows each: padded input rows of about TASK_BYTES, output tiles of
/// about SCRATCH_BYTES, and at least four tasks per thread when the batch allows.
fn tasks<E: Operand>(g: &Geometry, n: usize) -> Vec<Task> {
    let wp = g.w + 2 * g.pad.1;
    let per_row = groups::<E>(g).c_in * wp * size_of::<E>();
    let tiles_per_row = if g.out_w <= LANES {
        0.5
    } else {
        g.out_w.div_ceil(2 * LANES) as f64
    };
    let scratch_per_row = tiles_per_row * (g.c_out.div_ceil(MR) * MR * 2 * LANES * 4) as f64;
    let by_scratch = ((SCRATCH_BYTES as f64 / scratch_per_row) as usize).max(2);
    let mut rows = (TASK_BYTES / per_row.max(1))
        .min(by_scratch)
        .clamp(1, g.out_h.max(1));
    let wanted = 4 * rayon::current_num_threads();
    while rows > 1 && n * g.out_h.div_ceil(rows) < wanted {
        rows = rows.div_ceil(2);
    }
    Task::split(g, n, rows)
}

/// The weight (c_out, K) as the kernel reads it: its tap elements ([`groups`]: taps of
/// E::CHANNELS successive input channels), for each block of KC, in panels of MR channels,
/// each `kc` groups of MR elements (channels past c_out zero). Panels are packed in parallel
/// (512 x 4608 weights are 9 MB).
pub(super) fn pack_weights<E: Operand>(w: &[f32], g: &Geometry) -> Vec<E> {
    let (m, kg) = (g.c_out.div_ceil(MR) * MR, groups::<E>(g).k());
    let mut packed = vec![E::default(); m * kg];
    let mut panels = Vec::new();
    let mut rest = packed.as_mut_slice();
    for k0 in (0..kg).step_by(E::KC) {
        let kc = E::KC.min(kg - k0);
        let (block, tail) = rest.split_at_mut(kc * m);
        rest = tail;
        let block_panels = block.chunks_exact_mut(kc * MR).enumerate();
        panels.extend(block_panels.map(|(ip, panel)| (k0..k0 + kc, ip, panel)));
    }
    panels
        .into_par_iter()
        .for_each(|(elements, ip, panel)| pack_panel(w, g, elements, ip, panel));
    packed
}

/// Packs tap elements `elements` of panel `ip` (output channels ip * MR..) into `panel`.
fn pack_panel<E: Operand>(
    w: &[f32],
    g: &Geometry,
    elements: Range<usize>,
    ip: usize,
    panel: &mut [E],
) {
    let (k, taps) = (g.k(), g.kh * g.kw);
    let rows: Vec<&[f32]> = (ip * MR..g.c_out.min(ip * MR + MR))
        .map(|co| &w[co * k..][..k])
        .collect();
    // Element q is (channel group q / taps, tap q % taps), counted without a division.
    let (mut group, mut tap) = (elements.start / taps, elements.start % taps);
    for dst in panel.chunks_exact_mut(MR).take(elements.len()) {
        let c0 = group * E::CHANNELS;
        let count = E::CHANNELS.min(g.c_in - c0);
        for (d, row) in dst.iter_mut().zip(&rows) {
            *d = E::pack_with(count, |c| row[(c0 + c) * taps + tap]);
        }
        tap += 1;
        if tap == taps {
            (group, tap) = (group + 1, 0);
        }
    }
}

/// Some tap elements of a convolution as the kernel reads them, block after block of KC:
/// `blocks[i]` are the set's elements within block i (positions in `offsets`; none is
/// allowed). `packed` holds the weights of all elements ([`pack_weights`]); where the set
/// leaves out some, `taps` holds its elements (indices into all), whose weights the kernel
/// reads in place.
pub(super) struct TapSet<'a, E> {
    pub packed: &'a [E],
    pub offsets: &'a [usize],
    pub blocks: &'a [Range<usize>],
    pub taps: Option<&'a [usize]>,
}

impl<E> TapSet<'_, E> {
    /// Whether the set's blocks follow `all` (the blocks of all elements) and hold only
    /// their own block's elements: every element where `taps` is None.
    fn fits(&self, all: &[Range<usize>]) -> bool {
        let same = |(own, full): (&Range<usize>, &Range<usize>)| match self.taps {
            None => own.len() == full.len(),
            Some(t) => t[own.clone()].iter().all(|q| full.contains(q)),
        };
        self.blocks.len() == all.len()
            && self
                .blocks
                .last()
                .is_none_or(|b| b.end <= self.offsets.len())
            && self.blocks.iter().zip(all).all(same)
    }
}

/// The blocks of `kc` tap elements of all `k`.
pub(super) fn tap_blocks(k: usize, kc: usize) -> Vec<Range<usize>> {
    (0..k).step_by(kc).map(|k0| k0..(k0 + kc).min(k)).collect()
}

/// Sums every tap block of every tile and channel panel into `scratch`: per (tile, panel),
/// MR rows of two vectors, contiguous. Tile i sums the taps of `sets[set_of[i]]`, its first
/// vector reading `rows` from `bases[i]` (plus each tap's offset). Each block's sum is added
/// to the last, so that a set that leaves out taps reading only padding gives the same sums
/// as all taps, bit for bit.
pub(super) fn accumulate<E: Operand>(
    g: &Geometry,
    (tiles, bases, set_of): (&[Tile], &[usize], &[usize]),
    sets: &[TapSet<E>],
    rows: &[E],
    scratch: &mut Vec<f32>,
) {
    let m = g.c_out.div_ceil(MR) * MR;
    let k = groups::<E>(g).k();
    let all = tap_blocks(k, E::KC);
    assert!(sets.iter().all(|s| s.packed.len() >= k * m && s.fits(&all)));
    scratch.resize(tiles.len() * m * 2 * LANES, 0.0);
    for (block, full) in all.iter().enumerate() {
        let per_tile = tiles.iter().zip(bases).zip(set_of);
        for (((tile, &base), &set), acc) in per_tile.zip(scratch.chunks_exact_mut(m * 2 * LANES)) {
            let (b, set) = (&rows[base..], &sets[set]);
            let own = set.blocks[block].clone();
            let (inputs, taps) = (&set.offsets[own.clone()], set.taps.map(|t| &t[own]));
            let weights = &set.packed[full.start * m..][..full.len() * m];
            for (ip, c) in acc.chunks_exact_mut(MR * 2 * LANES).enumerate() {
                let a = (
                    weights[ip * full.len() * MR..][..full.len() * MR].as_ptr(),
                    b.as_ptr(),
                );
                // SAFETY: the caller checked the CPU; the panel holds the weights of every
                // element of the block, of which the set's are (checked by `fits`); every tap
                // offset plus the tile's columns stays inside the padded rows; `c` holds MR x
                // 2 vectors.
                unsafe {
                    match taps {
                        None => E::kernel(a.0, a.1, inputs, |p| p, tile, c, block > 0),
                        Some(t) => {
                            let weight = |p: usize| t[p] - full.start;
                            E::kernel(a.0, a.1, inputs, weight, tile, c, block > 0)
                        }
                    }
                };
            }
        }
    }
}

/// Copies the task's tiles from `scratch` into the output of image `img`, adding the bias.
///
/// # Safety
/// `dst` is the output of all images; no other thread writes these tiles' positions.
unsafe fn write_out(
    g: &Geometry,
    tiles: &[Tile],
    scratch: &[f32],
    bias: Option<&[f32]>,
    img: usize,
    dst: Shared<f32>,
) {
    let plane = g.out_h * g.out_w;
    let m = g.c_out.div_ceil(MR) * MR;
    for (tile, acc) in tiles.iter().zip(scratch.chunks_exact(m * 2 * LANES)) {
        for (co, sums) in acc.chunks_exact(2 * LANES).take(g.c_out).enumerate() {
            let b = bias.map_or(0.0, |b| b[co]);
            let first = (img * g.c_out + co) * plane + tile.oy * g.out_w + tile.ox0;
            for (h, vector) in sums.chunks_exact(LANES).enumerate() {
                let cols = tile.cols[h];
                // SAFETY: the vector's positions lie inside this task's output rows.
                let d = unsafe {
                    std::slice::from_raw_parts_mut(dst.ptr().add(first + h * tile.second), cols)
                };
                d.iter_mut().zip(vector).for_each(|(d, &s)| *d = s + b);
            }
        }
    }
}

/// The tiles of task `t`. Rows wider than a vector are cut into segments of two vectors;
/// narrower ones are paired.
fn tiles(g: &Geometry, t: Task) -> Vec<Tile> {
    let wp = g.w + 2 * g.pad.1;
    if g.out_w <= LANES {
        return (t.r0..t.r1)
            .step_by(2)
            .map(|oy| Tile {
                oy,
                ox0: 0,
                cols: [g.out_w, if oy + 1 < t.r1 { g.out_w } else { 0 }],
                second: g.out_w,
                second_in: wp,
            })
            .collect();
    }
    (t.r0..t.r1)
        .flat_map(|oy| {
            (0..g.out_w).step_by(2 * LANES).map(move |ox0| {
                let cols = g.out_w - ox0;
                Tile {
                    oy,
                    ox0,
                    cols: [cols.min(LANES), cols.saturating_sub(LANES).min(LANES)],
                    second: LANES,
                    second_in: LANES,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::direct::operand::{Bf16Pair, round_bf16};
    use crate::conv::direct::{check_forward_cases, forward, has_kernel, on_all_and_one_thread};

    #[test]
    fn tap_sets_must_read_weights_inside_their_blocks() {
        // All elements 0..300 in blocks of 256: 0..256 and 256..300.
        let all = tap_blocks(300, 256);
        assert_eq!(all, [0..256, 256..300]);
        let offsets = vec![0; 300];
        let set = |blocks: &[Range<usize>], taps: Option<&[usize]>| {
            let packed: &[f32] = &[];
            TapSet {
                packed,
                offsets: &offsets[..blocks.last().map_or(0, |b| b.end)],
                blocks,
                taps,
            }
            .fits(&all)
        };
        assert!(set(&all, None), "every element");
        assert!(!set(&[0..256, 256..299], None), "one short without weights");
        assert!(!set(&all[..1], None), "a block missing");
        // Three elements of the first block, one of the second.
        let some = [0..3, 3..4];
        assert!(set(&some, Some(&[0, 5, 255, 299])));
        assert!(
            !set(&some, Some(&[0, 5, 256, 299])),
            "index past the first block"
        );
        assert!(
            !set(&some, Some(&[0, 5, 255, 300])),
            "index past the last block"
        );
    }

    #[test]
    fn direct_convolution_matches_naive_loops() {
        if !has_kernel() {
            return;
        }
        // (n, c_in, h, w, c_out, k, pad): wide rows with and without a partial tile, paired
        // narrow rows with an odd last row, channels past a panel, 1x1 and 5x5 taps, taps across
        // blocks.
        let cases = [
            (2, 8, 5, 56, 8, 3, 1),
            (1, 8, 7, 64, 20, 3, 1),
            (3, 8, 9, 16, 8, 3, 1),
            (2, 8, 7, 14, 16, 3, 1),
            (1, 64, 4, 30, 8, 1, 0),
            (1, 3, 6, 28, 8, 5, 2),
            (1, 40, 3, 32, 16, 3, 1),
        ];
        on_all_and_one_thread(|| {
            check_forward_cases(
                &cases,
                |v| v,
                |g, _| serves::<f32>(g),
                |x, n, g, wt, bias, out| {
                    // SAFETY: `out` is the whole output, this test's own.
                    assert!(unsafe { forward(x, n, g, wt, Some(bias), out.ptr()) });
                },
            )
        });
    }

    #[test]
    fn bf16_convolution_matches_naive_loops_on_rounded_operands() {
        if !crate::has_bf16_products() {
            return;
        }
        // (n, c_in, h, w, c_out, k, pad): wide rows with a partial tile, paired narrow rows,
        // odd input channels (a pair completed with zeros), 5x5 taps over 3 channels, tap
        // pairs across blocks, 512 output channels (whose weights fit a block only in bf16).
        let cases = [
            (2, 8, 5, 56, 8, 3, 1),
            (3, 9, 9, 16, 16, 3, 1),
            (1, 3, 6, 28, 8, 5, 2),
            (1, 40, 3, 32, 16, 3, 1),
            (1, 64, 2, 28, 512, 3, 1),
        ];
        check_forward_cases(
            &cases,
            round_bf16,
            |g, _| serves::<Bf16Pair>(g),
            // SAFETY: `out` is the whole output, this test's own.
            |x, n, g, wt, bias, out| unsafe { run::<Bf16Pair>(x, n, g, wt, Some(bias), out) },
        );
        assert!(!serves::<f32>(&Geometry::new(
            [1, 64, 2, 28],
            [512, 64, 3, 3],
            (1, 1)
        )));
    }

    #[test]
    fn narrow_outputs_and_f64_are_left_to_im2col() {
        let g = Geometry::new([1, 4, 8, 8], [8, 4, 3, 3], (1, 1));
        assert!(!serves::<f32>(&g));
        let mut out = vec![0f64; 8 * 64];
        // SAFETY: `out` holds the whole output.
        let served = unsafe { forward(&[0f64; 256], 1, &g, &[0f64; 288], None, out.as_mut_ptr()) };
        assert!(!served);
        let few_channels = Geometry::new([1, 16, 8, 64], [3, 16, 3, 3], (1, 1));
        assert!(!serves::<f32>(&few_channels));
        let few_taps = Geometry::new([1, 3, 8, 64], [64, 3, 3, 3], (1, 1));
        assert!(!serves::<f32>(&few_taps));
    }
}
