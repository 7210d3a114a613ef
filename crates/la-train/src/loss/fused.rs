//! The per-item Local Aggregation loss from background similarities and the close mask, as
//! one op: a pass per row on the CPU (rows in parallel, sums in f64) instead of a chain of
//! tensor ops, each allocating a batch x k tensor, and a closed-form backward.
//!
//! Row `i`, with `z_j = s_j / tau`, `e_j = exp(z_j - max z)`, `den = sum_j e_j`,
//! `num = sum_j m_j e_j`, `r = num / den`:
//!
//! ```text
//! L_i = -ln(r + eps)
//! dL_i/ds_j = e_j / (tau den) * (r - m_j) / (r + eps)
//! ```
//!
//! (from `dr/ds_j = e_j (m_j - r) / (tau den)`); a row without close neighbours (`r = 0`, all
//! `m_j = 0`) has zero gradient.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu::{Float, dispatch_float, slice};

const OP: &str = "local_aggregation_loss";

/// The loss of each row of `s` (batch, k) with the 0/1 mask `close` (batch, k) of the same
/// dtype: (batch,), differentiable in `s`.
pub(crate) fn per_item(
    s: &Tensor,
    close: &Tensor,
    tau: f64,
    eps: f64,
) -> candle_core::Result<Tensor> {
    let close = close.to_dtype(s.dtype())?.contiguous()?;
    if s.device().is_cpu() {
        s.contiguous()?.apply_op2(&close, Rows { tau, eps })
    } else {
        generic(s, &close, tau, eps)
    }
}

/// The same with candle's tensor ops, for devices without the fused kernel.
fn generic(s: &Tensor, close: &Tensor, tau: f64, eps: f64) -> candle_core::Result<Tensor> {
    let z = s.affine(1.0 / tau, 0.0)?;
    let e = z.broadcast_sub(&z.max_keepdim(1)?.detach())?.exp()?;
    let all = e.sum_keepdim(1)?;
    let close = (&e * close)?.sum_keepdim(1)?;
    (close / all)?.affine(1.0, eps)?.log()?.neg()?.squeeze(1)
}

/// The terms `e_j = exp(s_j / tau - max)` of one row are computed in the row's precision and
/// summed in f64.
fn term<T: Float>(x: T, tau: T, shift: T) -> T {
    (x / tau - shift).exp()
}

/// The largest logit of a row.
fn shift<T: Float>(s: &[T], tau: T) -> T {
    s.iter().map(|&x| x / tau).fold(
        T::from_f64(f64::NEG_INFINITY),
        |a, b| if b > a { b } else { a },
    )
}

/// The sum of all terms and the sum of the close terms of one row.
fn row_sums<T: Float>(s: &[T], m: &[T], tau: T) -> (f64, f64) {
    let shift = shift(s, tau);
    let (mut den, mut num) = (0.0, 0.0);
    for (&x, c) in s.iter().zip(m) {
        let e = term(x, tau, shift).to_f64();
        den += e;
        num += c.to_f64() * e;
    }
    (den, num)
}

fn forward<T: Float>(
    (s, ls): (&CpuStorage, &Layout),
    (m, lm): (&CpuStorage, &Layout),
    tau: f64,
    eps: f64,
) -> candle_core::Result<CpuStorage> {
    let k = ls.dims()[1].max(1);
    let (s, m) = (slice::<T>(OP, s, ls)?, slice::<T>(OP, m, lm)?);
    let out: Vec<T> = s
        .par_chunks(k)
        .zip(m.par_chunks(k))
        .map(|(s, m)| {
            let (den, num) = row_sums(s, m, T::from_f64(tau));
            T::from_f64(-(num / den + eps).ln())
        })
        .collect();
    Ok(T::to_cpu_storage_owned(out))
}

fn backward<T: Float>(
    (s, ls): (&CpuStorage, &Layout),
    (m, lm): (&CpuStorage, &Layout),
    (g, lg): (&CpuStorage, &Layout),
    tau: f64,
    eps: f64,
) -> candle_core::Result<CpuStorage> {
    let k = ls.dims()[1].max(1);
    let (s, m, g) = (
        slice::<T>(OP, s, ls)?,
        slice::<T>(OP, m, lm)?,
        slice::<T>(OP, g, lg)?,
    );
    let mut out = vec![T::from_f64(0.0); s.len()];
    out.par_chunks_mut(k)
        .zip(s.par_chunks(k).zip(m.par_chunks(k)))
        .zip(g.par_iter())
        .for_each_init(Vec::new, |e, ((out, (s, m)), g)| {
            // One exponential per element: keep the terms, then scale them.
            let shift = s
                .iter()
                .map(|x| x.to_f64() / tau)
                .fold(f64::NEG_INFINITY, f64::max);
            e.clear();
            e.extend(s.iter().map(|x| (x.to_f64() / tau - shift).exp()));
            let den: f64 = e.iter().sum();
            let num: f64 = e.iter().zip(m).map(|(e, c)| e * c.to_f64()).sum();
            let r = num / den;
            let scale = g.to_f64() / (tau * den * (r + eps));
            for ((o, e), c) in out.iter_mut().zip(e.iter()).zip(m) {
                *o = T::from_f64(scale * e * (r - c.to_f64()));
            }
        });
    Ok(T::to_cpu_storage_owned(out))
}

/// The forward op on (similarities, mask).
struct Rows {
    tau: f64,
    eps: f64,
}

impl CustomOp2 for Rows {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        ls: &Layout,
        m: &CpuStorage,
        lm: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(OP, s, forward((s, ls), (m, lm), self.tau, self.eps))?;
        Ok((out, Shape::from(ls.dims()[0])))
    }

    fn bwd(
        &self,
        s: &Tensor,
        m: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let back = RowsBackward {
            tau: self.tau,
            eps: self.eps,
        };
        let grad_s = s.apply_op3_no_bwd(m, &grad.contiguous()?, &back)?;
        Ok((Some(grad_s), None))
    }
}

/// The backward op on (similarities, mask, gradient of the losses).
struct RowsBackward {
    tau: f64,
    eps: f64,
}

impl CustomOp3 for RowsBackward {
    fn name(&self) -> &'static str {
        "local_aggregation_loss_backward"
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        ls: &Layout,
        m: &CpuStorage,
        lm: &Layout,
        g: &CpuStorage,
        lg: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(
            OP,
            s,
            backward((s, ls), (m, lm), (g, lg), self.tau, self.eps)
        )?;
        Ok((out, ls.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::{generic, per_item};

    /// The fused CPU op and the tensor-op path used on other devices agree, value and
    /// gradient, including a row without close neighbours.
    #[test]
    fn fused_matches_the_generic_path() {
        let dev = Device::Cpu;
        let s = Var::from_tensor(&Tensor::randn(0f64, 0.5, (4, 6), &dev).unwrap()).unwrap();
        let mask = Tensor::new(
            &[
                [1f64, 0., 0., 1., 0., 0.],
                [0., 0., 0., 0., 0., 0.],
                [1., 1., 1., 1., 1., 1.],
                [0., 1., 0., 0., 0., 1.],
            ],
            &dev,
        )
        .unwrap();
        let weights = Tensor::new(&[1f64, 2., -1., 0.5], &dev).unwrap();
        let run = |f: &dyn Fn(&Tensor) -> Tensor| {
            let l = f(s.as_tensor());
            let g = (&l * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            (
                l.to_vec1::<f64>().unwrap(),
                g.get(s.as_tensor()).unwrap().to_vec2::<f64>().unwrap(),
            )
        };
        let (lf, gf) = run(&|s| per_item(s, &mask, 0.07, 1e-7).unwrap());
        let (lg, gg) = run(&|s| generic(s, &mask, 0.07, 1e-7).unwrap());
        for (a, b) in lf.iter().zip(&lg) {
            assert!((a - b).abs() < 1e-12, "{lf:?} vs {lg:?}");
        }
        for (a, b) in gf.iter().flatten().zip(gg.iter().flatten()) {
            assert!((a - b).abs() < 1e-9, "{gf:?} vs {gg:?}");
        }
        assert!(gf[1].iter().all(|&x| x == 0.0));
    }
}
