//! `matmul`: the product of two matrices, with the threads sharing out the output.
//!
//! candle's CPU matmul hands the whole product to the `gemm` crate's own threading, which on
//! the shapes of Local Aggregation and the VGG convolutions ran at 60-73% of two cores' FMA
//! peak where the same kernel, one call per thread on a block of output columns, ran at 70-89%
//! (docs/benchmarks.md, la-ops); on a transposed right operand it ran at 44-66%, where la-ops'
//! own AVX-512 kernels run at 75-95% (and products of 32-128 rows, on either right operand, by
//! the kernel that packs the left one). The CPU kernel (in `cpu`) does the latter; other
//! devices and dtypes take candle's matmul (`generic`).

mod cpu;
pub(crate) mod generic;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

use crate::cpu::dispatch_float;
use crate::{OpError, check};

const OP: &str = "matmul";

/// `a @ b` (m, n) of the matrices `a` (m, k) and `b` (k, n) of one dtype and device, either
/// of them a strided view (a transpose is read in place, not copied). Differentiable in both
/// operands.
///
/// On the CPU, f32 and f64 products are split into one block of output columns per thread
/// (of rows, when the columns are too few and la-ops' own kernel computes it), each computed
/// on one thread by the `gemm` crate or, in f32 on CPUs with AVX-512 where they are faster
/// (32-128 rows, or a transposed right operand), by la-ops' own kernels; each output element
/// is summed in the same order whatever the number of threads. Where la-ops' few-row kernel
/// meets an inner dimension at least 8 times the output's width (Local Aggregation's 128 x
/// 14,400 x 512), that dimension is cut in two parts instead, summed apart and added. Other
/// dtypes and devices use candle's matmul.
///
/// Fails, naming the op and the input, unless both are matrices of one dtype and device whose
/// inner dimensions agree.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let a = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu)?;
/// let b = Tensor::new(&[[5f32, 6., 7.], [8., 9., 10.]], &Device::Cpu)?;
/// let c = la_ops::matmul(&a, &b)?;
/// assert_eq!(c.to_vec2::<f32>()?, [[21., 24., 27.], [47., 54., 61.]]);
/// // A transposed view is an operand like any other.
/// let ct = la_ops::matmul(&b.t()?, &a.t()?)?;
/// assert_eq!(ct.to_vec2::<f32>()?, c.t()?.to_vec2::<f32>()?);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    validate(a, b)?;
    if a.device().is_cpu() && matches!(a.dtype(), DType::F32 | DType::F64) {
        a.apply_op2(b, MatMul)
    } else {
        generic::product(a, b)
    }
}

/// Fails unless `a` (m, k) and `b` (k, n) are matrices of one dtype and device.
fn validate(a: &Tensor, b: &Tensor) -> Result<()> {
    let (_, k) = check::dims2(OP, "lhs", a)?;
    let (rows, _) = check::dims2(OP, "rhs", b)?;
    check::dtype_is(OP, "rhs", b, a.dtype(), "the dtype of lhs")?;
    check::same_device(OP, "rhs", b, a)?;
    if rows != k {
        return Err(OpError::Shape {
            op: OP,
            input: "rhs",
            got: b.dims().to_vec(),
            expected: format!("{k} rows, the columns of lhs {:?}", a.dims()),
        }
        .into());
    }
    Ok(())
}

/// The matrix product as a candle op.
struct MatMul;

impl CustomOp2 for MatMul {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, _) = la.shape().dims2()?;
        let (_, n) = lb.shape().dims2()?;
        let out = dispatch_float!(OP, a, cpu::product((a, la), (b, lb)))?;
        Ok((out, Shape::from((m, n))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(matmul(grad, &b.t()?)?), Some(matmul(&a.t()?, grad)?)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{D, Device, Var};

    use super::*;

    /// (m, k, n) of the products checked: empty, a single element, thin and tall, odd sizes,
    /// then products large enough to split: by columns, and by rows where the columns are
    /// too few.
    const SHAPES: &[(usize, usize, usize)] = &[
        (0, 3, 4),
        (3, 0, 4),
        (1, 1, 1),
        (2, 5, 1),
        (7, 3, 130),
        (150, 17, 5),
        (33, 65, 97),
        (64, 100, 200),
        (64, 1001, 50),
        (300, 40, 50),
        (2000, 30, 10),
    ];

    /// Runs `f` on a pool of three threads, so the products split the same way on any machine.
    fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        pool.expect("a thread pool").install(f)
    }

    fn values(shape: (usize, usize), salt: usize) -> Result<Tensor> {
        let (r, c) = shape;
        let v: Vec<f64> = (0..r * c)
            .map(|i| ((i * 7919 + salt * 104_729) % 1000) as f64 / 500.0 - 1.0)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
    }

    /// The product by the definition, three nested loops in f64.
    fn naive(a: &Tensor, b: &Tensor) -> Result<Vec<Vec<f64>>> {
        let (a, b) = (a.to_vec2::<f64>()?, b.to_vec2::<f64>()?);
        let n = b.first().map_or(0, Vec::len);
        Ok(a.iter()
            .map(|row| {
                (0..n)
                    .map(|j| row.iter().zip(&b).map(|(x, br)| x * br[j]).sum())
                    .collect()
            })
            .collect())
    }

    fn assert_close(got: &Tensor, want: &[Vec<f64>], tol: f64) -> Result<()> {
        let got = got.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{g} vs {w}");
        }
        Ok(())
    }

    #[test]
    fn matches_the_definition_in_f64_and_f32_with_strided_operands() -> Result<()> {
        on_threads(3, definition_cases)
    }

    fn definition_cases() -> Result<()> {
        for &(m, k, n) in SHAPES {
            let (a, b) = (values((m, k), 1)?, values((k, n), 2)?);
            let want = naive(&a, &b)?;
            assert_close(&matmul(&a, &b)?, &want, 1e-12)?;
            let (a32, b32) = (a.to_dtype(DType::F32)?, b.to_dtype(DType::F32)?);
            assert_close(&matmul(&a32, &b32)?, &want, 1e-5)?;
            // Both operands as transposed views of contiguous matrices.
            let (at, bt) = (a.t()?.contiguous()?, b.t()?.contiguous()?);
            assert_close(&matmul(&at.t()?, &bt.t()?)?, &want, 1e-12)?;
        }
        Ok(())
    }

    #[test]
    fn gives_the_same_values_on_any_number_of_threads() -> Result<()> {
        // Row-major and transposed right operands, so every f32 kernel is on the path; 128 rows
        // of too few columns for four threads to cut, so that they cut its panels of 32 rows;
        // too few columns for any kernel but the `gemm` crate's, which is not cut by rows.
        for &(m, k, n) in &[
            (64, 576, 300),
            (128, 1100, 50),
            (128, 1100, 20),
            (300, 512, 40),
            (40, 1000, 64),
            (64, 1001, 50),
            (128, 300, 700),
            (600, 300, 20),
        ] {
            let a = values((m, k), 3)?.to_dtype(DType::F32)?;
            let b = values((k, n), 4)?.to_dtype(DType::F32)?;
            let bt = b.t()?.contiguous()?.t()?;
            let run = || -> Result<_> {
                Ok((
                    matmul(&a, &b)?.to_vec2::<f32>()?,
                    matmul(&a, &bt)?.to_vec2::<f32>()?,
                ))
            };
            let one = on_threads(1, run)?;
            assert_eq!(one, on_threads(2, run)?, "{m}x{k}x{n}");
            assert_eq!(one, on_threads(3, run)?, "{m}x{k}x{n}");
            assert_eq!(one, on_threads(4, run)?, "{m}x{k}x{n}");
        }
        Ok(())
    }

    #[test]
    fn gradients_match_finite_differences() -> Result<()> {
        let a = Var::from_tensor(&values((4, 6), 5)?)?;
        let b = Var::from_tensor(&values((6, 3), 6)?)?;
        let w = values((4, 3), 7)?;
        let loss = |a: &Tensor, b: &Tensor| -> Result<f64> {
            matmul(a, b)?.mul(&w)?.sqr()?.sum_all()?.to_scalar::<f64>()
        };
        let grads = matmul(a.as_tensor(), b.as_tensor())?
            .mul(&w)?
            .sqr()?
            .sum_all()?
            .backward()?;
        let h = 1e-6;
        for (var, other, is_a) in [(&a, &b, true), (&b, &a, false)] {
            let g = grads
                .get(var.as_tensor())
                .expect("takes part")
                .flatten_all()?;
            let x = var.as_tensor().flatten_all()?.to_vec1::<f64>()?;
            for i in 0..x.len() {
                let shifted = |d: f64| -> Result<f64> {
                    let mut y = x.clone();
                    y[i] += d;
                    let y = Tensor::from_vec(y, var.shape(), &Device::Cpu)?;
                    if is_a {
                        loss(&y, other.as_tensor())
                    } else {
                        loss(other.as_tensor(), &y)
                    }
                };
                let fd = (shifted(h)? - shifted(-h)?) / (2.0 * h);
                let an = g.get(i)?.to_scalar::<f64>()?;
                assert!((fd - an).abs() < 1e-6 * (1.0 + fd.abs()), "{fd} vs {an}");
            }
        }
        Ok(())
    }

    #[test]
    fn rejects_bad_operands_naming_them() -> Result<()> {
        let a = values((2, 3), 0)?;
        let cases = [
            (matmul(&a, &values((2, 3), 0)?), "rhs"),
            (matmul(&a.unsqueeze(0)?, &values((3, 2), 0)?), "lhs"),
            (matmul(&a, &values((3, 2), 0)?.to_dtype(DType::F32)?), "rhs"),
            (
                matmul(
                    &a,
                    &values((3, 2), 0)?.sum_keepdim(D::Minus1)?.unsqueeze(0)?,
                ),
                "rhs",
            ),
        ];
        for (result, input) in cases {
            let err = result.expect_err("bad operands").to_string();
            assert!(err.contains("matmul") && err.contains(input), "{err}");
        }
        Ok(())
    }
}
