//! mix_rows_in_place against naive loops.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{assert_close, tensor, values};
use la_ops::mix_rows_in_place;

/// The reference: each listed row mixed and divided by its norm (floored at 1e-12), by loops.
fn naive(bank: &[Vec<f64>], rows: &[u32], v: &[Vec<f64>], m: f64) -> Vec<f64> {
    let mut out = bank.to_vec();
    for (&r, v) in rows.iter().zip(v) {
        let mixed: Vec<f64> = out[r as usize]
            .iter()
            .zip(v)
            .map(|(b, x)| (1.0 - m) * b + m * x)
            .collect();
        let norm = mixed.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        out[r as usize] = mixed.iter().map(|x| x / norm).collect();
    }
    out.concat()
}

#[test]
fn listed_rows_are_mixed_and_normalised_the_others_kept() {
    for m in [0.0, 0.5, 1.0] {
        let bank = tensor(1, &[6, 5]);
        let v = tensor(2, &[3, 5]);
        let rows = [4, 0, 2];
        let want = naive(&bank.to_vec2().unwrap(), &rows, &v.to_vec2().unwrap(), m);
        let shared = bank.clone();
        mix_rows_in_place(&bank, &rows, &v, m).unwrap();
        assert_close(&values(&shared), &want, 1e-15, &format!("mixing {m}"));
    }
    let bank = tensor(3, &[4, 3]).to_dtype(DType::F32).unwrap();
    let v = tensor(4, &[1, 3]).to_dtype(DType::F32).unwrap();
    let want = naive(
        &tensor(3, &[4, 3]).to_vec2().unwrap(),
        &[1],
        &tensor(4, &[1, 3]).to_vec2().unwrap(),
        0.5,
    );
    mix_rows_in_place(&bank, &[1], &v, 0.5).unwrap();
    assert_close(&values(&bank), &want, 1e-6, "f32");
}

#[test]
fn bad_rows_mixing_and_shapes_are_errors_naming_the_op() {
    let bank = tensor(5, &[4, 3]);
    let v = tensor(6, &[2, 3]);
    let before = values(&bank);
    let err = |r: candle_core::Result<()>| r.unwrap_err().to_string();
    let e = err(mix_rows_in_place(&bank, &[1, 4], &v, 0.5));
    assert!(
        e.contains("mix_rows_in_place") && e.contains("rows = 4"),
        "{e}"
    );
    let e = err(mix_rows_in_place(&bank, &[1, 1], &v, 0.5));
    assert!(e.contains("at most once"), "{e}");
    let e = err(mix_rows_in_place(&bank, &[1, 2], &v, 1.5));
    assert!(e.contains("mixing = 1.5"), "{e}");
    let e = err(mix_rows_in_place(&bank, &[1], &v, 0.5));
    assert!(e.contains("values") && e.contains("[2, 3]"), "{e}");
    let e = err(mix_rows_in_place(
        &bank.t().unwrap(),
        &[1, 2],
        &tensor(7, &[2, 4]),
        0.5,
    ));
    assert!(e.contains("contiguous"), "{e}");
    let e = err(mix_rows_in_place(
        &bank,
        &[1, 2],
        &v.to_dtype(DType::F32).unwrap(),
        0.5,
    ));
    assert!(e.contains("F32"), "{e}");
    assert_eq!(values(&bank), before, "a rejected update changes nothing");
    let ok = Tensor::zeros((0, 3), DType::F64, &Device::Cpu).unwrap();
    mix_rows_in_place(&bank, &[], &ok, 0.5).unwrap();
}
