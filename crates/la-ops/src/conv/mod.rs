//! Stride-1 `conv2d` and `conv_transpose2d`, forward and backward.
//!
//! Only two kernels exist: the forward convolution and its filter gradient, each by implicit
//! GEMM straight from the padded input (`direct`, f32 on CPUs with AVX-512, where its tiles
//! fill) or by im2col + GEMM (everything else). The input gradient
//! of a convolution is the forward convolution of the output gradient with the 180-degree
//! rotated, transposed weight; a transposed convolution is the forward convolution with that
//! same rotated weight. The op takes either weight as it is given ([`WeightForm`]): Winograd's
//! weight transform reads the rotation in place, the other kernels get a rotated copy.

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod direct;
pub(crate) mod generic;
mod grad_ops;
mod im2col;
mod task;
#[cfg(target_arch = "x86_64")]
mod winograd;

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use crate::cpu::{Float, dispatch_float, slice};
use crate::{ConvPrecision, OpError, check, conv_precision};
pub(crate) use grad_ops::ChannelSum;
use grad_ops::{FilterGrad, FlipTranspose};

const CONV: &str = "conv2d";
const CONV_T: &str = "conv_transpose2d";

/// How the convolution op's weight tensor holds the weight it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WeightForm {
    /// (c_out, c_in, kh, kw): the weight itself.
    Direct,
    /// (c_in, c_out, kh, kw), the weight being its 180-degree rotated transpose: the weight
    /// of the adjoint convolution (input gradients) and of a transposed one, which Winograd's
    /// weight transform reads in place (a 512-channel layer's rotated copy is 9.4 MB).
    Adjoint,
}

impl WeightForm {
    /// The form in which the same tensor is the adjoint convolution's weight.
    fn adjoint(self) -> Self {
        match self {
            WeightForm::Direct => WeightForm::Adjoint,
            WeightForm::Adjoint => WeightForm::Direct,
        }
    }

    /// The (c_out, c_in, kh, kw) of the applied weight, from the tensor's dimensions.
    fn applied(self, [a, b, kh, kw]: [usize; 4]) -> [usize; 4] {
        match self {
            WeightForm::Direct => [a, b, kh, kw],
            WeightForm::Adjoint => [b, a, kh, kw],
        }
    }
}

/// The sizes of one image's convolution: input (c_in, h, w) -> output (c_out, out_h, out_w),
/// and how its products are computed (the process's setting when the op was built, so that a
/// backward pass follows its forward pass).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geometry {
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub pad: (usize, usize),
    pub out_h: usize,
    pub out_w: usize,
    pub precision: ConvPrecision,
}

impl Geometry {
    pub(crate) fn new(x: [usize; 4], w: [usize; 4], pad: (usize, usize)) -> Self {
        let [_, c_in, h, wd] = x;
        let [c_out, _, kh, kw] = w;
        Geometry {
            c_in,
            h,
            w: wd,
            c_out,
            kh,
            kw,
            pad,
            out_h: (h + 2 * pad.0 + 1).saturating_sub(kh),
            out_w: (wd + 2 * pad.1 + 1).saturating_sub(kw),
            precision: conv_precision(),
        }
    }

    /// Rows of the column matrix: one per (input channel, kernel position).
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// A 1x1 convolution without padding needs no im2col: the input is its own column matrix.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.pad == (0, 0)
    }
}

/// 2-d convolution with stride 1 and zero `padding` on both sides of both axes.
///
/// `xs` is (N, C_in, H, W), `weight` (C_out, C_in, kh, kw), `bias` (C_out); the result is
/// (N, C_out, H + 2p - kh + 1, W + 2p - kw + 1). f32 or f64. Gradients flow to every input
/// that needs one; none is computed for an input that needs none (such as the image batch).
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let x = Tensor::ones((1, 2, 3, 3), candle_core::DType::F32, &Device::Cpu)?;
/// let w = Tensor::ones((1, 2, 3, 3), candle_core::DType::F32, &Device::Cpu)?;
/// let y = la_ops::conv2d(&x, &w, None, 1)?;
/// // The centre sees all 9 positions of both channels, a corner only 4 of them.
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [8., 12., 8., 12., 18., 12., 8., 12., 8.]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn conv2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<Tensor> {
    check_conv(xs, weight, bias)?;
    if !crate::backend::has_kernels(xs.device()) {
        return generic::conv(xs, weight, bias, padding);
    }
    conv_padded(
        CONV,
        xs,
        (weight, WeightForm::Direct),
        bias,
        (padding, padding),
    )
}

/// 2-d transposed convolution with stride 1 and `padding`, as PyTorch's `conv_transpose2d`.
///
/// `xs` is (N, C_in, H, W), `weight` (C_in, C_out, kh, kw), `bias` (C_out); the result is
/// (N, C_out, H + kh - 1 - 2p, W + kw - 1 - 2p). `padding` must be below the kernel size.
/// Computed as the forward convolution with the rotated, transposed weight and padding
/// `k - 1 - p`.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[[[1f32]]]], &Device::Cpu)?;
/// let w = Tensor::new(&[[[[1f32, 2.], [3., 4.]]]], &Device::Cpu)?;
/// // A single input pixel stamps the kernel into the output.
/// let y = la_ops::conv_transpose2d(&x, &w, None, 0)?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [1., 2., 3., 4.]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn conv_transpose2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<Tensor> {
    let [_, _, kh, kw] = check_conv_transpose(xs, weight, bias, padding)?;
    if !crate::backend::has_kernels(xs.device()) {
        return generic::conv_transpose(xs, weight, bias, padding);
    }
    conv_padded(
        CONV_T,
        xs,
        (weight, WeightForm::Adjoint),
        bias,
        (kh - 1 - padding, kw - 1 - padding),
    )
}

/// The gradient of [`conv2d`]'s weight: given the convolution's input `xs` (N, C_in, H, W) and
/// the gradient of its output `grad` (N, C_out, H', W'), returns the (C_out, C_in, kh, kw)
/// gradient of a `kernel_hw` weight applied with `padding`, as `torch.nn.grad.conv2d_weight`.
/// (The input gradient is [`conv_transpose2d`] of `grad` with the same weight and padding.)
pub fn conv2d_weight_grad(
    xs: &Tensor,
    grad: &Tensor,
    kernel_hw: (usize, usize),
    padding: usize,
) -> Result<Tensor> {
    let g = check_weight_grad(xs, grad, kernel_hw, padding)?;
    if !crate::backend::has_kernels(xs.device()) {
        return generic::filter_grad(xs, grad, padding);
    }
    xs.contiguous()?
        .apply_op2_no_bwd(&grad.contiguous()?, &FilterGrad(g))
}

/// Checks the inputs of [`conv2d_weight_grad`] and returns the convolution's geometry.
fn check_weight_grad(
    xs: &Tensor,
    grad: &Tensor,
    kernel_hw: (usize, usize),
    padding: usize,
) -> Result<Geometry> {
    let op = "conv2d_weight_grad";
    let [n, c_in, _, _] = check::dims4(op, "input", xs)?;
    let [_, c_out, _, _] = check::dims4(op, "grad", grad)?;
    check::float(op, "input", xs)?;
    check::dtype_is(op, "grad", grad, xs.dtype(), "the dtype of the input")?;
    check::same_device(op, "grad", grad, xs)?;
    let (kh, kw) = kernel_hw;
    let g = Geometry::new(
        xs.dims4()?.into(),
        [c_out, c_in, kh, kw],
        (padding, padding),
    );
    check::shape_is(op, "grad", grad, &[n, c_out, g.out_h, g.out_w])?;
    Ok(g)
}

/// Checks the operands of [`conv2d`]: weight (C_out, C_in, kh, kw).
pub(crate) fn check_conv(xs: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<()> {
    validate(
        CONV,
        xs,
        weight,
        bias,
        |[_, c_in, _, _], [c_out, c, _, _]| (c == c_in, c_out),
    )
}

/// Checks the operands of [`conv_transpose2d`] (weight (C_in, C_out, kh, kw), padding below
/// the kernel size) and returns the weight's dimensions.
fn check_conv_transpose(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<[usize; 4]> {
    validate(
        CONV_T,
        xs,
        weight,
        bias,
        |[_, c_in, _, _], [c, c_out, _, _]| (c == c_in, c_out),
    )?;
    check_transpose_padding(weight, padding)
}

/// The dimensions of a transposed convolution's weight, once `padding` is known to be below
/// the kernel size.
fn check_transpose_padding(weight: &Tensor, padding: usize) -> Result<[usize; 4]> {
    let [a, b, kh, kw] = check::dims4(CONV_T, "weight", weight)?;
    if padding >= kh.min(kw) {
        return Err(OpError::Param {
            op: CONV_T,
            param: "padding",
            got: padding.to_string(),
            expected: format!("less than the kernel size {kh}x{kw}"),
        }
        .into());
    }
    Ok([a, b, kh, kw])
}

/// Checks ranks, dtypes, devices and channel counts.
fn validate(
    op: &'static str,
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    channels: impl Fn([usize; 4], [usize; 4]) -> (bool, usize),
) -> Result<()> {
    let x = check::dims4(op, "input", xs)?;
    let w = check::dims4(op, "weight", weight)?;
    check::float(op, "input", xs)?;
    check::dtype_is(op, "weight", weight, xs.dtype(), "the dtype of the input")?;
    check::same_device(op, "weight", weight, xs)?;
    let (in_matches, c_out) = channels(x, w);
    if !in_matches {
        return Err(OpError::Shape {
            op,
            input: "weight",
            got: w.to_vec(),
            expected: format!("input channels matching the input's {}", x[1]),
        }
        .into());
    }
    if let Some(b) = bias {
        check::shape_is(op, "bias", b, &[c_out])?;
        check::dtype_is(op, "bias", b, xs.dtype(), "the dtype of the input")?;
        check::same_device(op, "bias", b, xs)?;
    }
    Ok(())
}

/// The forward convolution with per-axis padding, through [`Conv`].
fn conv_padded(
    op: &'static str,
    xs: &Tensor,
    (weight, form): (&Tensor, WeightForm),
    bias: Option<&Tensor>,
    pad: (usize, usize),
) -> Result<Tensor> {
    let g = Geometry::new(
        xs.dims4()?.into(),
        form.applied(weight.dims4()?.into()),
        pad,
    );
    if g.out_h == 0 || g.out_w == 0 {
        return Err(empty_output(op, xs, weight, &g));
    }
    let (xs, weight) = (xs.contiguous()?, weight.contiguous()?);
    match bias {
        Some(b) => xs.apply_op3(&weight, &b.contiguous()?, Conv(g, form)),
        None => xs.apply_op2(&weight, Conv(g, form)),
    }
}

fn empty_output(
    op: &'static str,
    xs: &Tensor,
    weight: &Tensor,
    g: &Geometry,
) -> candle_core::Error {
    OpError::Shape {
        op,
        input: "input",
        got: xs.dims().to_vec(),
        expected: format!(
            "a plane large enough for the kernel {:?} and padding {:?}",
            weight.dims(),
            g.pad
        ),
    }
    .into()
}

/// The stride-1 convolution op, with or without bias, and how its weight tensor holds the
/// weight.
struct Conv(Geometry, WeightForm);

impl Conv {
    fn fwd(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let n = x.1.dims()[0];
        let out = dispatch_float!(CONV, x.0, conv_fwd(x, (w, self.1), b, n, &self.0))?;
        Ok((
            out,
            Shape::from((n, self.0.c_out, self.0.out_h, self.0.out_w)),
        ))
    }

    /// Gradients of input and weight, each only when it is needed.
    fn bwd_xw(
        &self,
        xs: &Tensor,
        weight: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        input_and_filter_grads(
            &self.0,
            xs,
            (weight, self.1),
            grad,
            (xs.track_op(), weight.track_op()),
        )
    }

    /// The forward pass on CUDA, which takes the weight itself.
    #[cfg(feature = "cuda")]
    fn cuda_conv(
        &self,
        x: (&CudaStorage, &Layout),
        w: (&CudaStorage, &Layout),
        b: Option<(&CudaStorage, &Layout)>,
    ) -> Result<(CudaStorage, Shape)> {
        if self.1 == WeightForm::Direct {
            return cuda::conv(&self.0, x, w, b);
        }
        let (rotated, shape) = cuda::flip_transpose_op(w.0, w.1)?;
        cuda::conv(&self.0, x, (&rotated, &Layout::contiguous(shape)), b)
    }
}

/// The gradients of a convolution's input and weight tensor (in its `form`) from its output
/// gradient `grad`, each computed only where `wanted` says so; none of them is recorded for
/// autograd.
pub(crate) fn input_and_filter_grads(
    g: &Geometry,
    xs: &Tensor,
    (weight, form): (&Tensor, WeightForm),
    grad: &Tensor,
    wanted: (bool, bool),
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let dx = if wanted.0 {
        // The adjoint pads by k - 1 - p; a negative padding crops the gradient instead.
        let (crop_h, crop_w) = (
            (g.pad.0 + 1).saturating_sub(g.kh),
            (g.pad.1 + 1).saturating_sub(g.kw),
        );
        let grad = grad.narrow(2, crop_h, g.out_h - 2 * crop_h)?.narrow(
            3,
            crop_w,
            g.out_w - 2 * crop_w,
        )?;
        let pad = ((g.kh - 1 + crop_h) - g.pad.0, (g.kw - 1 + crop_w) - g.pad.1);
        Some(conv_padded(
            CONV,
            &grad,
            (weight, form.adjoint()),
            None,
            pad,
        )?)
    } else {
        None
    };
    let dw = if wanted.1 {
        let dw = xs.apply_op2_no_bwd(&grad.contiguous()?, &FilterGrad(*g))?;
        Some(match form {
            WeightForm::Direct => dw,
            WeightForm::Adjoint => dw.apply_op1_no_bwd(&FlipTranspose)?,
        })
    } else {
        None
    };
    Ok((dx, dw))
}

fn conv_fwd<T: Float>(
    x: (&CpuStorage, &Layout),
    (w, form): ((&CpuStorage, &Layout), WeightForm),
    b: Option<(&CpuStorage, &Layout)>,
    n: usize,
    g: &Geometry,
) -> Result<CpuStorage> {
    let xs = slice::<T>(CONV, x.0, x.1)?;
    let ws = slice::<T>(CONV, w.0, w.1)?;
    let bs = b.map(|(s, l)| slice::<T>(CONV, s, l)).transpose()?;
    Ok(T::to_cpu_storage_owned(cpu::forward(
        xs,
        n,
        g,
        (ws, form),
        bs,
    )))
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        CONV
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd((s1, l1), (s2, l2), None)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        self.cuda_conv((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        xs: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        self.bwd_xw(xs, weight, grad)
    }
}

impl CustomOp3 for Conv {
    fn name(&self) -> &'static str {
        CONV
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd((s1, l1), (s2, l2), Some((s3, l3)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
        s3: &CudaStorage,
        l3: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        self.cuda_conv((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = self.bwd_xw(xs, weight, grad)?;
        let db = if bias.track_op() {
            Some(grad.contiguous()?.apply_op1_no_bwd(&ChannelSum)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}
