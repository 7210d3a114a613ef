//! CUDA kernels of the stride-1 convolution: forward and filter gradient by im2col + cuBLAS
//! GEMM over chunks of images (the column matrices of a chunk stay under `COL_BYTES`), the
//! rotated weight of the adjoint convolution, and the bias gradient.

use candle_core::cuda_backend::CudaDevice;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView, PushKernelArg};
use candle_core::{CudaStorage, Layout, Result, Shape};

use super::{CONV, Geometry};
use crate::cuda::{
    Gemm, GpuFloat, Module, alloc, device, dispatch_gpu, func, gemm, grid_1d, grid_channels,
    grid_planes, launch, storage, view,
};

/// Bytes of column matrices per chunk of images.
const COL_BYTES: usize = 1 << 30;

type Input<'a> = (&'a CudaStorage, &'a Layout);

/// The `Conv` op: (N, C_out, out_h, out_w) from the input, weight and optional bias.
pub(super) fn conv(
    g: &Geometry,
    x: Input<'_>,
    w: Input<'_>,
    b: Option<Input<'_>>,
) -> Result<(CudaStorage, Shape)> {
    let n = x.1.dims()[0];
    let out = dispatch_gpu!(CONV, x.0, forward(x, w, b, n, g))?;
    Ok((out, Shape::from((n, g.c_out, g.out_h, g.out_w))))
}

/// The `FilterGrad` op: the (C_out, C_in, kh, kw) weight gradient.
pub(super) fn filter_grad_op(
    g: &Geometry,
    x: Input<'_>,
    grad: Input<'_>,
) -> Result<(CudaStorage, Shape)> {
    let out = dispatch_gpu!(CONV, x.0, filter_grad(x, grad, g))?;
    Ok((out, Shape::from((g.c_out, g.c_in, g.kh, g.kw))))
}

/// The `FlipTranspose` op: (a, b, kh, kw) -> (b, a, kh, kw) rotated.
pub(super) fn flip_transpose_op(s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
    let op = "conv_flip_transpose";
    let d: [usize; 4] = l
        .dims()
        .try_into()
        .map_err(|_| candle_core::Error::Msg(format!("{op}: expected a 4-d weight")))?;
    let out = dispatch_gpu!(op, s, flip_transpose(s, l, d))?;
    Ok((out, Shape::from((d[1], d[0], d[2], d[3]))))
}

/// The `ChannelSum` op: the (C) sums of an (N, C, H, W) tensor.
pub(super) fn channel_sum_op(s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
    let out = dispatch_gpu!("conv2d_bias_grad", s, channel_sum(s, l))?;
    Ok((out, Shape::from(l.dims()[1])))
}

/// y = conv(x, weight) + bias for `n` images; `weight` is (c_out, K) row-major.
fn forward<T: GpuFloat>(
    x: Input<'_>,
    w: Input<'_>,
    bias: Option<Input<'_>>,
    n: usize,
    g: &Geometry,
) -> Result<CudaStorage> {
    let dev = device(x.0);
    let xs = view::<T>(CONV, x.0, x.1)?;
    let ws = view::<T>(CONV, w.0, w.1)?;
    let p = g.out_h * g.out_w;
    let mut out = alloc::<T>(dev, n * g.c_out * p)?;
    if n * g.c_out * p == 0 {
        return Ok(storage(out, dev));
    }
    if let Some(b) = bias {
        fill_channels::<T>(dev, &mut out, &view::<T>(CONV, b.0, b.1)?, g.c_out, p, n)?;
    }
    let (k, in_img) = (g.k(), g.c_in * g.h * g.w);
    let mut product = |cols: &CudaView<'_, T>, first: usize, imgs: usize| -> Result<()> {
        let spec = Gemm {
            m: g.c_out,
            n: p,
            k,
            batch: imgs,
            a_trans: false,
            lda: k,
            stride_a: 0,
            b_trans: false,
            ldb: p,
            stride_b: if g.is_pointwise() { in_img } else { k * p },
            ldc: p,
            stride_c: g.c_out * p,
            accumulate: bias.is_some(),
        };
        let mut dst = out.slice_mut(first * g.c_out * p..(first + imgs) * g.c_out * p);
        gemm(dev, &spec, &ws, cols, &mut dst)
    };
    if g.is_pointwise() {
        return product(&xs, 0, n).map(|()| storage(out, dev));
    }
    let chunk = images_per_chunk::<T>(g, n);
    let mut cols = alloc::<T>(dev, chunk * k * p)?;
    for first in (0..n).step_by(chunk) {
        let imgs = chunk.min(n - first);
        im2col::<T>(dev, &xs.slice(first * in_img..), &mut cols, imgs, g)?;
        product(&cols.slice(..imgs * k * p), first, imgs)?;
    }
    Ok(storage(out, dev))
}

/// dW (c_out, K) = sum over images of grad (c_out x P) @ patches(x)^T (P x K).
fn filter_grad<T: GpuFloat>(x: Input<'_>, grad: Input<'_>, g: &Geometry) -> Result<CudaStorage> {
    let dev = device(x.0);
    let xs = view::<T>(CONV, x.0, x.1)?;
    let gs = view::<T>(CONV, grad.0, grad.1)?;
    let n = x.1.dims()[0];
    let (k, p, in_img) = (g.k(), g.out_h * g.out_w, g.c_in * g.h * g.w);
    let mut dw = dev.alloc_zeros::<T>((g.c_out * k).max(1))?;
    let mut product = |cols: &CudaView<'_, T>, img: usize, stride: usize, accumulate: bool| {
        let spec = Gemm {
            m: g.c_out,
            n: k,
            k: p,
            batch: 1,
            a_trans: false,
            lda: p,
            stride_a: 0,
            b_trans: true,
            ldb: p,
            stride_b: 0,
            ldc: k,
            stride_c: 0,
            accumulate,
        };
        let a = gs.slice(img * g.c_out * p..(img + 1) * g.c_out * p);
        let b = cols.slice(stride..stride + k * p);
        gemm(dev, &spec, &a, &b, &mut dw.slice_mut(..))
    };
    if g.is_pointwise() {
        for img in 0..n {
            product(&xs, img, img * in_img, img > 0)?;
        }
        return Ok(storage(dw, dev));
    }
    let chunk = images_per_chunk::<T>(g, n);
    let mut cols = alloc::<T>(dev, chunk * k * p)?;
    for first in (0..n).step_by(chunk) {
        let imgs = chunk.min(n - first);
        im2col::<T>(dev, &xs.slice(first * in_img..), &mut cols, imgs, g)?;
        let view = cols.slice(..);
        for i in 0..imgs {
            product(&view, first + i, i * k * p, first + i > 0)?;
        }
    }
    Ok(storage(dw, dev))
}

/// w (a, b, kh, kw) -> (b, a, kh, kw) rotated by 180 degrees.
fn flip_transpose<T: GpuFloat>(s: &CudaStorage, l: &Layout, d: [usize; 4]) -> Result<CudaStorage> {
    let dev = device(s);
    let w = view::<T>("conv_flip_transpose", s, l)?;
    let mut out = alloc::<T>(dev, w.len())?;
    if !w.is_empty() {
        let (a, b, taps) = (d[0], d[1], d[2] * d[3]);
        let f = func::<T>(dev, Module::Conv, "flip_transpose")?;
        let mut bld = f.builder();
        bld.arg(&w).arg(&mut out).arg(&a).arg(&b).arg(&taps);
        launch(&mut bld, grid_1d(w.len()))?;
    }
    Ok(storage(out, dev))
}

/// Per-channel sums of an (n, c, h, w) tensor: the bias gradient.
fn channel_sum<T: GpuFloat>(s: &CudaStorage, l: &Layout) -> Result<CudaStorage> {
    let dev = device(s);
    let gs = view::<T>("conv2d_bias_grad", s, l)?;
    let d = l.dims();
    let (n, c, plane) = (d[0], d[1], d[2] * d[3]);
    let mut out = alloc::<T>(dev, c)?;
    if c == 0 {
        return Ok(storage(out, dev));
    }
    let cfg = grid_channels(c, plane);
    let splits = cfg.grid_dim.0 as usize;
    let mut partial = alloc::<f64>(dev, 2 * splits * c)?;
    {
        let f = func::<T>(dev, Module::Conv, "channel_sum_partial")?;
        let mut b = f.builder();
        b.arg(&gs).arg(&mut partial).arg(&n).arg(&c).arg(&plane);
        launch(&mut b, cfg)?;
    }
    let f = func::<T>(dev, Module::Conv, "channel_sum_finalize")?;
    let mut b = f.builder();
    b.arg(&partial).arg(&splits).arg(&c).arg(&mut out);
    launch(&mut b, grid_1d(c))?;
    Ok(storage(out, dev))
}

/// How many images' column matrices fit in `COL_BYTES` (at least one).
fn images_per_chunk<T>(g: &Geometry, n: usize) -> usize {
    let per_image = g.k() * g.out_h * g.out_w * size_of::<T>();
    (COL_BYTES / per_image.max(1)).clamp(1, n.max(1))
}

/// The column matrices (imgs, K, P) of the first `imgs` images of `x`.
fn im2col<T: GpuFloat>(
    dev: &CudaDevice,
    x: &CudaView<'_, T>,
    cols: &mut CudaSlice<T>,
    imgs: usize,
    g: &Geometry,
) -> Result<()> {
    let rows = imgs * g.k();
    let f = func::<T>(dev, Module::Conv, "im2col")?;
    let mut b = f.builder();
    b.arg(x)
        .arg(cols)
        .arg(&rows)
        .arg(&g.c_in)
        .arg(&g.h)
        .arg(&g.w);
    b.arg(&g.kh).arg(&g.kw).arg(&g.pad.0).arg(&g.pad.1);
    b.arg(&g.out_h).arg(&g.out_w);
    launch(&mut b, grid_planes(rows, g.out_h * g.out_w))
}

/// Fills the (n, c, plane) output with the per-channel `values`.
fn fill_channels<T: GpuFloat>(
    dev: &CudaDevice,
    out: &mut CudaSlice<T>,
    values: &CudaView<'_, T>,
    c: usize,
    plane: usize,
    n: usize,
) -> Result<()> {
    let planes = n * c;
    let f = func::<T>(dev, Module::Conv, "fill_channels")?;
    let mut b = f.builder();
    b.arg(out).arg(values).arg(&c).arg(&plane).arg(&planes);
    launch(&mut b, grid_planes(planes, plane))
}
