//! CPU kernels of 2-d batch normalisation: statistics per channel, the normalisation itself
//! (with an optional fused ReLU), and the backward pass, parallel over channels or planes.

use rayon::prelude::*;

use crate::cpu::Float;

/// Elements summed in independent lanes so that the compiler vectorises the reductions.
const LANES: usize = 16;

/// Per-channel mean, biased variance and 1/sqrt(var + eps) of an (n, c, plane) tensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stats {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    pub invstd: Vec<f64>,
}

impl Stats {
    /// Statistics given as running estimates (evaluation mode).
    pub fn from_running(mean: Vec<f64>, var: Vec<f64>, eps: f64) -> Self {
        let invstd = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        Stats { mean, var, invstd }
    }
}

/// The sizes of the input: images, channels, elements per plane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub n: usize,
    pub c: usize,
    pub plane: usize,
}

impl Dims {
    fn planes<'a, T>(&self, xs: &'a [T], ch: usize) -> impl Iterator<Item = &'a [T]> + 'a {
        let (c, plane) = (self.c, self.plane);
        (0..self.n).map(move |img| &xs[(img * c + ch) * plane..(img * c + ch + 1) * plane])
    }

    pub fn count(&self) -> f64 {
        (self.n * self.plane) as f64
    }
}

/// Sum of `f(a[i], b[i])` over two equally long slices, in lanes, returned in f64.
fn sum2<T: Float>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> f64 {
    let mut acc = [T::zero(); LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(&x, &y)| f(x, y).f64())
        .sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    acc.iter().map(|v| v.f64()).sum::<f64>() + tail
}

/// Batch statistics, one pass: moments about the channel's first element stay accurate even
/// when the mean is large compared to the spread.
pub(crate) fn batch_stats<T: Float>(xs: &[T], d: Dims, eps: f64) -> Stats {
    let moments: Vec<(f64, f64)> = (0..d.c)
        .into_par_iter()
        .map(|ch| {
            let pivot = xs[ch * d.plane];
            let (mut s1, mut s2) = (0.0, 0.0);
            for p in d.planes(xs, ch) {
                s1 += sum2(p, p, |x, _| x - pivot);
                s2 += sum2(p, p, |x, _| (x - pivot) * (x - pivot));
            }
            let shift = s1 / d.count();
            let pivot = pivot.f64();
            (pivot + shift, (s2 / d.count() - shift * shift).max(0.0))
        })
        .collect();
    let (mean, var) = moments.into_iter().unzip();
    Stats::from_running(mean, var, eps)
}

/// y = (x - mean) * invstd * weight + bias, then ReLU if `relu`.
pub(crate) fn normalize<T: Float>(
    xs: &[T],
    d: Dims,
    s: &Stats,
    weight: &[T],
    bias: &[T],
    relu: bool,
) -> Vec<T> {
    let mut out = vec![T::zero(); xs.len()];
    out.par_chunks_mut(d.plane)
        .zip(xs.par_chunks(d.plane))
        .enumerate()
        .for_each(|(p, (y, x))| {
            let ch = p % d.c;
            let scale = weight[ch].f64() * s.invstd[ch];
            let shift = bias[ch].f64() - s.mean[ch] * scale;
            let (scale, shift) = (T::of(scale), T::of(shift));
            let floor = if relu { T::zero() } else { T::neg_infinity() };
            y.iter_mut()
                .zip(x)
                .for_each(|(y, &x)| *y = num_traits::Float::max(x * scale + shift, floor));
        });
    out
}

/// Gradients of input, weight and bias. `res` is the op's output, used for the ReLU mask;
/// `train` adds the terms that come from the batch statistics depending on the input.
pub(crate) struct Backward<'a, T> {
    pub xs: &'a [T],
    pub res: &'a [T],
    pub grad: &'a [T],
    pub weight: &'a [f64],
    pub dims: Dims,
    pub relu: bool,
    pub train: bool,
}

impl<T: Float> Backward<'_, T> {
    /// (dx, dweight, dbias).
    pub fn run(&self, s: &Stats) -> (Vec<T>, Vec<f64>, Vec<f64>) {
        let d = self.dims;
        let sums: Vec<(f64, f64)> = (0..d.c)
            .into_par_iter()
            .map(|ch| self.channel_sums(ch, s.mean[ch]))
            .collect();
        // Σ dy and Σ dy·(x - mean); the weight gradient is the latter times invstd.
        let dbias = sums.iter().map(|s| s.0).collect();
        let dweight = sums
            .iter()
            .zip(&s.invstd)
            .map(|(sm, is)| sm.1 * is)
            .collect();
        let mut dx = vec![T::zero(); self.xs.len()];
        dx.par_chunks_mut(d.plane).enumerate().for_each(|(p, dx)| {
            let ch = p % d.c;
            self.input_grad(dx, p, s, ch, sums[ch]);
        });
        (dx, dweight, dbias)
    }

    /// The output gradient of one plane, zero where the fused ReLU was off.
    fn dy(&self, p: usize) -> impl Iterator<Item = T> + '_ {
        let r = p * self.dims.plane..(p + 1) * self.dims.plane;
        let relu = self.relu;
        self.grad[r.clone()]
            .iter()
            .zip(&self.res[r])
            .map(move |(&g, &y)| if relu && y <= T::zero() { T::zero() } else { g })
    }

    fn channel_sums(&self, ch: usize, mean: f64) -> (f64, f64) {
        let d = self.dims;
        let mean = T::of(mean);
        let (mut sg, mut sgx) = (0.0, 0.0);
        let mut gbuf = vec![T::zero(); d.plane];
        for img in 0..d.n {
            let p = img * d.c + ch;
            gbuf.iter_mut().zip(self.dy(p)).for_each(|(b, g)| *b = g);
            let x = &self.xs[p * d.plane..(p + 1) * d.plane];
            sg += sum2(&gbuf, &gbuf, |g, _| g);
            sgx += sum2(&gbuf, x, |g, x| g * (x - mean));
        }
        (sg, sgx)
    }

    fn input_grad(&self, dx: &mut [T], p: usize, s: &Stats, ch: usize, sums: (f64, f64)) {
        let w = self.weight[ch];
        let (scale, shift, slope) = if self.train {
            // dx = w·invstd·(dy - Σdy/n - xhat·Σ(dy·xhat)/n), as an affine map of dy and x.
            let n = self.dims.count();
            let k = sums.1 * s.invstd[ch] * s.invstd[ch] / n;
            (
                w * s.invstd[ch],
                -(w * s.invstd[ch]) * (sums.0 / n - s.mean[ch] * k),
                -(w * s.invstd[ch]) * k,
            )
        } else {
            (w * s.invstd[ch], 0.0, 0.0)
        };
        let (scale, shift, slope) = (T::of(scale), T::of(shift), T::of(slope));
        let x = &self.xs[p * self.dims.plane..(p + 1) * self.dims.plane];
        dx.iter_mut()
            .zip(self.dy(p).zip(x))
            .for_each(|(dx, (g, &x))| *dx = g * scale + x * slope + shift);
    }
}
