//! neg_log_softmax_mass against naive loops and central finite differences.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{assert_close, check_gradients, tensor, values};
use la_ops::neg_log_softmax_mass;

/// The reference: `-ln(sum_j m_j exp(s_j / tau) / sum_j exp(s_j / tau) + eps)` per row, by
/// loops (no shift: the test logits are small).
fn naive(s: &[f64], m: &[f64], k: usize, tau: f64, eps: f64) -> Vec<f64> {
    s.chunks(k)
        .zip(m.chunks(k))
        .map(|(s, m)| {
            let e: Vec<f64> = s.iter().map(|x| (x / tau).exp()).collect();
            let num: f64 = e.iter().zip(m).map(|(e, m)| e * m).sum();
            -(num / e.iter().sum::<f64>() + eps).ln()
        })
        .collect()
}

fn mask() -> Tensor {
    Tensor::new(
        &[
            [1f64, 0., 0., 1., 0., 0.],
            [0., 0., 0., 0., 0., 0.],
            [1., 1., 1., 1., 1., 1.],
            [0., 1., 0., 0., 0., 1.],
        ],
        &Device::Cpu,
    )
    .unwrap()
}

#[test]
fn forward_matches_naive_loops_in_both_precisions() {
    let s = tensor(1, &[4, 6]);
    let want = naive(&values(&s), &values(&mask()), 6, 0.5, 1e-7);
    let got = neg_log_softmax_mass(&s, &mask(), 0.5, 1e-7).unwrap();
    assert_close(&values(&got), &want, 1e-12, "f64");
    let s32 = s.to_dtype(DType::F32).unwrap();
    let got = neg_log_softmax_mass(&s32, &mask(), 0.5, 1e-7).unwrap();
    assert_eq!(got.dtype(), DType::F32);
    assert_close(&values(&got), &want, 1e-5, "f32");
    assert_close(&values(&got)[1..2], &[-(1e-7f64).ln()], 1e-6, "empty mask");
}

#[test]
fn large_logits_do_not_overflow() {
    let s = Tensor::new(&[[1000f32, 999., -1000.]], &Device::Cpu).unwrap();
    let m = Tensor::new(&[[0f32, 1., 1.]], &Device::Cpu).unwrap();
    let l = values(&neg_log_softmax_mass(&s, &m, 0.07, 0.0).unwrap())[0];
    let want = -(1f64 / (1. + (1f64 / 0.07).exp())).ln();
    assert!((l - want).abs() < 1e-3 * want, "{l} vs {want}");
}

#[test]
fn backward_matches_finite_differences_and_an_empty_mask_has_none() {
    let f = |t: &[Tensor]| neg_log_softmax_mass(&t[0], &mask(), 0.5, 1e-7);
    check_gradients(&[tensor(2, &[4, 6])], f, 1e-6);
    let s = Var::from_tensor(&tensor(3, &[4, 6])).unwrap();
    let g = neg_log_softmax_mass(s.as_tensor(), &mask(), 0.07, 1e-7)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = g.get(s.as_tensor()).unwrap().to_vec2::<f64>().unwrap();
    assert!(g[1].iter().all(|&x| x == 0.0), "{g:?}");
}

#[test]
fn bad_inputs_are_errors_naming_the_op() {
    let s = tensor(4, &[4, 6]);
    let err = |r: candle_core::Result<Tensor>| r.unwrap_err().to_string();
    let e = err(neg_log_softmax_mass(&s, &tensor(5, &[4, 5]), 1.0, 0.0));
    assert!(
        e.contains("neg_log_softmax_mass") && e.contains("mask"),
        "{e}"
    );
    let e = err(neg_log_softmax_mass(&tensor(6, &[24]), &mask(), 1.0, 0.0));
    assert!(
        e.contains("neg_log_softmax_mass") && e.contains("[24]"),
        "{e}"
    );
    for (tau, eps) in [
        (0.0, 0.0),
        (f64::NAN, 0.0),
        (1.0, -1.0),
        (1.0, f64::INFINITY),
    ] {
        let e = err(neg_log_softmax_mass(&s, &mask(), tau, eps));
        assert!(
            e.contains("neg_log_softmax_mass") && e.contains("expected a finite"),
            "{e}"
        );
    }
}
