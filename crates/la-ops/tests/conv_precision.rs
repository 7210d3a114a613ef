//! `set_conv_precision`: with bf16 products, a convolution and its gradients are the f32 ones
//! of the operands rounded to bfloat16 (candle's own conversion is the reference rounding).
//! One test in its own binary: the setting is process-wide.

mod common;

use candle_core::{DType, Result, Tensor, Var};
use common::{assert_close, tensor, tensor_f32, values};
use la_ops::{ConvPrecision, conv_precision, conv2d, has_bf16_products, set_conv_precision};

/// `t` rounded to bfloat16, back in f32.
fn rounded(t: &Tensor) -> Tensor {
    t.to_dtype(DType::BF16)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
}

/// y = conv2d(x, w, b) and the gradients of sum(y * r) for x and w, in `precision`.
fn forward_backward(
    precision: ConvPrecision,
    (x, w, b, r): (&Tensor, &Tensor, &Tensor, &Tensor),
) -> Result<[Vec<f64>; 3]> {
    set_conv_precision(precision);
    let (xv, wv) = (Var::from_tensor(x)?, Var::from_tensor(w)?);
    let y = conv2d(xv.as_tensor(), wv.as_tensor(), Some(b), 1)?;
    let grads = (&y * r)?.sum_all()?.backward()?;
    let grad = |v: &Var| values(grads.get(v.as_tensor()).expect("takes part"));
    Ok([values(&y), grad(&xv), grad(&wv)])
}

#[test]
fn bf16_products_are_f32_products_of_rounded_operands() {
    assert_eq!(conv_precision(), ConvPrecision::F32, "f32 by default");
    // Shapes the direct kernels serve on two threads: 32-wide rows, 144 and 288 taps, 8
    // filter-gradient tasks.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (x, w, b) = (
        tensor_f32(1, &[2, 16, 16, 32]),
        tensor_f32(2, &[32, 16, 3, 3]),
        tensor_f32(3, &[32]),
    );
    // Exact in bf16, so that rounding the output gradient changes nothing.
    let r = rounded(&tensor_f32(4, &[2, 32, 16, 32]));
    pool.install(|| {
        let bf16 = forward_backward(ConvPrecision::Bf16, (&x, &w, &b, &r)).unwrap();
        let of_rounded =
            forward_backward(ConvPrecision::F32, (&rounded(&x), &rounded(&w), &b, &r)).unwrap();
        let f32 = forward_backward(ConvPrecision::F32, (&x, &w, &b, &r)).unwrap();
        for (i, what) in ["output", "input gradient", "filter gradient"]
            .iter()
            .enumerate()
        {
            if has_bf16_products() {
                assert_close(&bf16[i], &of_rounded[i], 1e-4, what);
                let apart = bf16[i]
                    .iter()
                    .zip(&f32[i])
                    .any(|(a, b)| (a - b).abs() > 1e-3);
                assert!(apart, "{what}: bf16 products differ from f32 ones");
            } else {
                assert_eq!(
                    bf16[i], f32[i],
                    "{what}: f32 where the CPU lacks bf16 products"
                );
            }
        }
    });
    // f64 convolutions keep f64 products.
    let (x64, w64) = (tensor(5, &[1, 16, 4, 32]), tensor(6, &[32, 16, 3, 3]));
    set_conv_precision(ConvPrecision::Bf16);
    let y_bf16 = values(&conv2d(&x64, &w64, None, 1).unwrap());
    set_conv_precision(ConvPrecision::F32);
    assert_eq!(y_bf16, values(&conv2d(&x64, &w64, None, 1).unwrap()));
}
