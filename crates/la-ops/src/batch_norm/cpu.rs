//! CPU kernels of 2-d batch normalisation: statistics per channel, the normalisation itself
//! (with an optional fused ReLU), the backward pass, parallel over channels or planes, and the
//! running-estimate update.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, DType, Device, Layout, Result, Tensor};
use rayon::prelude::*;

use super::{BatchNorm2d, BatchNorm2dBackward, OP, UpdateRunning};
use crate::cpu::{Float, par_filled, slice};

type Input<'a> = (&'a CpuStorage, &'a Layout);

/// The forward pass; keeps the statistics it used in `op.stats`.
pub(super) fn forward<T: Float>(
    op: &BatchNorm2d,
    x: Input<'_>,
    w: Input<'_>,
    b: Input<'_>,
) -> Result<CpuStorage> {
    let xs = slice::<T>(OP, x.0, x.1)?;
    let stats = match &op.running {
        None => batch_stats(xs, op.dims, op.config.eps),
        Some((m, v)) => Stats::from_running(to_f64(m)?, to_f64(v)?, op.config.eps),
    };
    let ys = normalize(
        xs,
        op.dims,
        &stats,
        slice::<T>(OP, w.0, w.1)?,
        slice::<T>(OP, b.0, b.1)?,
        op.config.relu,
    );
    let _ = op.stats.set(stats.to_tensor()?);
    Ok(T::to_cpu_storage_owned(ys))
}

/// The input gradient; keeps the weight and bias gradients in `op.param_grads`.
pub(super) fn backward<T: Float>(
    op: &BatchNorm2dBackward,
    xs: Input<'_>,
    res: Input<'_>,
    grad: Input<'_>,
) -> Result<CpuStorage> {
    let bw = Backward {
        xs: slice::<T>(OP, xs.0, xs.1)?,
        gate: ReluGate::Output(slice::<T>(OP, res.0, res.1)?),
        grad: slice::<T>(OP, grad.0, grad.1)?,
        weight: &to_f64(&op.weight)?,
        dims: op.dims,
        relu: op.relu,
        train: op.train,
    };
    let (dx, dw, db) = bw.run(&Stats::from_tensor(&op.stats, op.dims.c)?);
    let as_param = |v: &[f64]| Tensor::from_slice(v, op.dims.c, &Device::Cpu)?.to_dtype(T::DTYPE);
    let _ = op.param_grads.set((as_param(&dw)?, as_param(&db)?));
    Ok(T::to_cpu_storage_owned(dx))
}

/// The running-estimate update of `u`, in place on the contiguous `running` (f32 or f64).
pub(super) fn update(
    u: &UpdateRunning,
    (running, layout): (&mut CpuStorage, &Layout),
    stats: Input<'_>,
) -> Result<()> {
    let batch = &slice::<f64>(OP, stats.0, stats.1)?[u.part * u.c..(u.part + 1) * u.c];
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{OP}: the running statistics must be contiguous");
    };
    match running {
        CpuStorage::F32(r) => blend(u, &mut r[start..end], batch),
        CpuStorage::F64(r) => blend(u, &mut r[start..end], batch),
        _ => candle_core::bail!("{OP}: the running statistics must be f32 or f64"),
    }
    Ok(())
}

/// `r = (1 - momentum) * r + momentum * b * scale`, in f64.
fn blend<T: Float>(u: &UpdateRunning, running: &mut [T], batch: &[f64]) {
    for (r, b) in running.iter_mut().zip(batch) {
        *r = T::of((1.0 - u.momentum) * r.f64() + u.momentum * b * u.scale);
    }
}

/// The elements of a (small) tensor as f64.
pub(crate) fn to_f64(t: &Tensor) -> Result<Vec<f64>> {
    t.to_dtype(DType::F64)?.to_vec1()
}

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
    /// The (3C) f64 tensor of mean, variance and 1/sqrt(var + eps) that the ops pass on.
    pub fn to_tensor(&self) -> Result<Tensor> {
        let all = [&self.mean[..], &self.var, &self.invstd].concat();
        Tensor::from_vec(all, 3 * self.mean.len(), &Device::Cpu)
    }

    /// The statistics of `c` channels back from [`to_tensor`](Self::to_tensor)'s form.
    pub fn from_tensor(t: &Tensor, c: usize) -> Result<Self> {
        let all = to_f64(t)?;
        let part = |i: usize| all[i * c..(i + 1) * c].to_vec();
        Ok(Stats {
            mean: part(0),
            var: part(1),
            invstd: part(2),
        })
    }

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
    if a.len().min(b.len()) < LANES {
        // The lanes would add zeros: planes under 16 values (the deepest layers) skip them.
        return tail;
    }
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

/// The normalisation of channel `ch` as `x * scale + shift` in `T`: the same numbers in the
/// forward pass and wherever backward redoes it.
fn affine<T: Float>(weight: f64, bias: f64, s: &Stats, ch: usize) -> (T, T) {
    let scale = weight * s.invstd[ch];
    let shift = bias - s.mean[ch] * scale;
    (T::of(scale), T::of(shift))
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
    let floor = if relu { T::zero() } else { T::neg_infinity() };
    let maps: Vec<(T, T)> = (0..d.c)
        .map(|ch| affine(weight[ch].f64(), bias[ch].f64(), s, ch))
        .collect();
    // SAFETY: every chunk is written whole: `x` is as long as `y`.
    unsafe {
        par_filled(xs.len(), d.plane, |p, y| {
            let (scale, shift) = maps[p % d.c];
            let x = &xs[p * d.plane..][..y.len()];
            y.iter_mut().zip(x).for_each(|(y, &x)| {
                y.write(num_traits::Float::max(x * scale + shift, floor));
            });
        })
    }
}

/// Where the backward pass reads whether the fused ReLU let a value through.
pub(crate) enum ReluGate<'a, T> {
    /// The op's output: through where positive.
    Output(&'a [T]),
    /// The normalisation redone from the input with these per-channel biases (f64).
    Input(&'a [f64]),
}

/// Gradients of input, weight and bias; `train` adds the terms that come from the batch
/// statistics depending on the input.
pub(crate) struct Backward<'a, T> {
    pub xs: &'a [T],
    pub gate: ReluGate<'a, T>,
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
            .map(|ch| self.channel_sums(ch, s))
            .collect();
        // Σ dy and Σ dy·(x - mean); the weight gradient is the latter times invstd.
        let dbias = sums.iter().map(|s| s.0).collect();
        let dweight = sums
            .iter()
            .zip(&s.invstd)
            .map(|(sm, is)| sm.1 * is)
            .collect();
        let maps: Vec<[T; 3]> = (0..d.c)
            .map(|ch| self.input_grad_map(s, ch, sums[ch]))
            .collect();
        // SAFETY: `input_grad` writes its whole plane: `dy` and `xs` are plane-long.
        let dx = unsafe {
            par_filled(self.xs.len(), d.plane, |p, dx| {
                self.input_grad(dx, p, s, maps[p % d.c]);
            })
        };
        (dx, dweight, dbias)
    }

    /// The output gradient of one plane, zero where the fused ReLU was off.
    fn dy(&self, p: usize, s: &Stats) -> impl Iterator<Item = T> + '_ {
        let r = p * self.dims.plane..(p + 1) * self.dims.plane;
        let ch = p % self.dims.c;
        let (values, (scale, shift)) = match self.gate {
            ReluGate::Output(res) => (&res[r.clone()], (T::one(), T::zero())),
            ReluGate::Input(bias) => (
                &self.xs[r.clone()],
                affine(self.weight[ch], bias[ch], s, ch),
            ),
        };
        let relu = self.relu;
        // Off where the rectified value is zero: not positive, or NaN (which max drops).
        let on = move |v: T| v * scale + shift > T::zero();
        self.grad[r]
            .iter()
            .zip(values)
            .map(move |(&g, &v)| if relu && !on(v) { T::zero() } else { g })
    }

    fn channel_sums(&self, ch: usize, s: &Stats) -> (f64, f64) {
        let d = self.dims;
        let mean = T::of(s.mean[ch]);
        let (mut sg, mut sgx) = (0.0, 0.0);
        let mut gbuf = vec![T::zero(); d.plane];
        for img in 0..d.n {
            let p = img * d.c + ch;
            gbuf.iter_mut().zip(self.dy(p, s)).for_each(|(b, g)| *b = g);
            let x = &self.xs[p * d.plane..(p + 1) * d.plane];
            sg += sum2(&gbuf, &gbuf, |g, _| g);
            sgx += sum2(&gbuf, x, |g, x| g * (x - mean));
        }
        (sg, sgx)
    }

    /// Channel `ch`'s input gradient as (scale, shift, slope): dx = dy * scale + x * slope +
    /// shift, given the channel's sums (Σdy, Σdy·(x - mean)).
    fn input_grad_map(&self, s: &Stats, ch: usize, sums: (f64, f64)) -> [T; 3] {
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
        [T::of(scale), T::of(shift), T::of(slope)]
    }

    /// The input gradient of plane `p`, by its channel's map ([`Self::input_grad_map`]).
    fn input_grad(&self, dx: &mut [MaybeUninit<T>], p: usize, s: &Stats, map: [T; 3]) {
        let [scale, shift, slope] = map;
        let x = &self.xs[p * self.dims.plane..(p + 1) * self.dims.plane];
        dx.iter_mut()
            .zip(self.dy(p, s).zip(x))
            .for_each(|(dx, (g, &x))| {
                dx.write(g * scale + x * slope + shift);
            });
    }
}
