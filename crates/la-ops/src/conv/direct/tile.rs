//! What the micro-kernels are given: the shapes of their tiles, apart from the code that
//! cuts the work into them, so that the kernels depend on nothing that calls them.

/// Output channels per micro-kernel tile.
pub(super) const MR: usize = 8;

/// The positions of one tile: two vectors, the first `cols[0]` positions from output row `oy`,
/// column `ox0`, the second `cols[1]` positions `second` after them in the output, its input
/// `second_in` after the first's in the padded rows.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) struct Tile {
    pub oy: usize,
    pub ox0: usize,
    pub cols: [usize; 2],
    pub second: usize,
    pub second_in: usize,
}

/// The positions of a task as the filter kernel walks them: output rows of `width`, row r's
/// input at `bases[r]` (plus the tap's offset) in the padded rows, its gradient at positions
/// `r * width..`, each position's channels `ld` apart.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) struct Span<'a> {
    pub bases: &'a [usize],
    pub width: usize,
    pub ld: usize,
}
