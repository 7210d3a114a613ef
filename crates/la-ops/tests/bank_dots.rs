//! bank_dots against naive dot products and central finite differences.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{assert_close, check_gradients, tensor, values};
use la_ops::bank_dots;

/// The reference: `v_i . bank_j` by loops, at `columns` (or every row of the bank).
fn naive(v: &Tensor, bank: &Tensor, columns: Option<&[Vec<u32>]>) -> Vec<f64> {
    let (v, bank) = (v.to_vec2::<f64>().unwrap(), bank.to_vec2::<f64>().unwrap());
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let all: Vec<u32> = (0..bank.len() as u32).collect();
    let mut out = Vec::new();
    for (i, vi) in v.iter().enumerate() {
        for &j in columns.map_or(all.as_slice(), |c| c[i].as_slice()) {
            out.push(dot(vi, &bank[j as usize]));
        }
    }
    out
}

/// Columns with a repeat, for the sparse (k = 2 of 20) and dense (k = 6) backward paths.
fn columns(k: usize) -> Vec<Vec<u32>> {
    (0..3u32)
        .map(|i| {
            (0..k as u32)
                .map(|c| (7 * i + 3 * c) % 20)
                .chain([i])
                .take(k)
                .collect()
        })
        .collect()
}

fn column_tensor(c: &[Vec<u32>]) -> Tensor {
    Tensor::new(c.to_vec(), &Device::Cpu).unwrap()
}

/// The op with `values` recomputed from `v`, as its callers do.
fn dots(v: &Tensor, bank: &Tensor, c: Option<&[Vec<u32>]>) -> candle_core::Result<Tensor> {
    let k = c.map_or(bank.dims()[0], |c| c[0].len());
    let values = Tensor::from_vec(naive(v, bank, c), (v.dims()[0], k), &Device::Cpu)?;
    bank_dots(v, bank, c.map(column_tensor).as_ref(), &values)
}

#[test]
fn forward_returns_the_values_and_backward_matches_finite_differences() {
    let bank = tensor(1, &[20, 4]);
    for k in [None, Some(2), Some(6)] {
        let c = k.map(columns);
        let v = tensor(2, &[3, 4]);
        let s = dots(&v, &bank, c.as_deref()).unwrap();
        assert_close(
            &values(&s),
            &naive(&v, &bank, c.as_deref()),
            1e-15,
            "forward",
        );
        check_gradients(&[v], |t| dots(&t[0], &bank, c.as_deref()), 1e-7);
    }
}

#[test]
fn no_gradient_reaches_the_bank() {
    let bank = Var::from_tensor(&tensor(3, &[20, 4])).unwrap();
    let v = Var::from_tensor(&tensor(4, &[3, 4])).unwrap();
    let s = dots(v.as_tensor(), bank.as_tensor(), Some(&columns(2))).unwrap();
    let grads = s.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(v.as_tensor()).is_some());
    assert!(grads.get(bank.as_tensor()).is_none());
}

#[test]
fn bad_inputs_are_errors_naming_the_op() {
    let (v, bank) = (tensor(5, &[3, 4]), tensor(6, &[20, 4]));
    let values = tensor(7, &[3, 2]);
    let cols = column_tensor(&columns(2));
    let err = |r: candle_core::Result<Tensor>| r.unwrap_err().to_string();
    let e = err(bank_dots(&v, &tensor(8, &[20, 5]), Some(&cols), &values));
    assert!(
        e.contains("bank_dots") && e.contains("bank") && e.contains("[20, 5]"),
        "{e}"
    );
    let e = err(bank_dots(&v, &bank, None, &values));
    assert!(
        e.contains("bank_dots") && e.contains("values") && e.contains("[3, 20]"),
        "{e}"
    );
    let e = err(bank_dots(
        &v,
        &bank,
        Some(&cols.to_dtype(DType::I64).unwrap()),
        &values,
    ));
    assert!(
        e.contains("bank_dots") && e.contains("columns") && e.contains("u32"),
        "{e}"
    );
    let f32_values = values.to_dtype(DType::F32).unwrap();
    let e = err(bank_dots(&v, &bank, Some(&cols), &f32_values));
    assert!(
        e.contains("bank_dots") && e.contains("values") && e.contains("F32"),
        "{e}"
    );
    // An out-of-range column fails in the backward pass, naming the bank size.
    let v = Var::from_tensor(&v).unwrap();
    let bad = Tensor::new(&[[0u32, 20], [1, 2], [3, 4]], &Device::Cpu).unwrap();
    let s = bank_dots(v.as_tensor(), &bank, Some(&bad), &values).unwrap();
    let e = s.sum_all().unwrap().backward().unwrap_err().to_string();
    assert!(
        e.contains("columns = 20") && e.contains("20 bank rows"),
        "{e}"
    );
}
