//! The units of work the convolution kernels share out over threads.

use super::Geometry;

/// One unit of work: output rows `r0..r1` of images `img..img + count` (several images only
/// with all their rows).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Task {
    pub img: usize,
    pub count: usize,
    pub r0: usize,
    pub r1: usize,
}

impl Task {
    /// GEMM columns: output positions covered.
    pub fn columns(&self, g: &Geometry) -> usize {
        self.count * (self.r1 - self.r0) * g.out_w
    }

    /// Columns of one of its images.
    pub fn columns_per_image(&self, g: &Geometry) -> usize {
        (self.r1 - self.r0) * g.out_w
    }

    /// Tasks over `n` images of about `rows` output rows each: row ranges of one image, or
    /// whole images grouped when `rows` spans several.
    pub fn split(g: &Geometry, n: usize, rows: usize) -> Vec<Task> {
        let h = g.out_h.max(1);
        if rows >= 2 * h {
            let count = rows / h;
            return (0..n)
                .step_by(count)
                .map(|img| Task {
                    img,
                    count: count.min(n - img),
                    r0: 0,
                    r1: g.out_h,
                })
                .collect();
        }
        let rows = rows.clamp(1, h);
        (0..n)
            .flat_map(|img| {
                (0..g.out_h).step_by(rows).map(move |r0| Task {
                    img,
                    count: 1,
                    r0,
                    r1: (r0 + rows).min(g.out_h),
                })
            })
            .collect()
    }
}
