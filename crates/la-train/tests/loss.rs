//! The losses against naive, independently written implementations (plain loops over sets),
//! and their gradients against central finite differences, in f64.

mod common;

use std::collections::HashSet;

use candle_core::{DType, Device, Tensor, Var};
use common::{dot, naive_top_k, rows, tensor, top_k_gap, unit_rows};
use la_train::{Clusterings, ContrastiveLoss, InstanceLoss, LocalAggregationLoss, MemoryBank};

const N: usize = 30;
const D: usize = 6;
const K: usize = 8;

/// The Local Aggregation loss of one embedding, by the definition: B = the k nearest bank
/// rows, C = the items sharing a cluster with `item` in some clustering,
/// L = -ln( sum_{B and C} exp(d/tau) / sum_B exp(d/tau) + eps ).
fn naive_la(
    v: &[f64],
    item: usize,
    bank: &[Vec<f64>],
    labels: &[Vec<u32>],
    la: &LocalAggregationLoss,
) -> f64 {
    let background: HashSet<usize> = naive_top_k(v, bank, la.background).into_iter().collect();
    let close: HashSet<usize> = (0..bank.len())
        .filter(|&j| labels.iter().any(|l| l[j] == l[item]))
        .collect();
    let w = |j: usize| (dot(v, &bank[j]) / la.temperature).exp();
    let num: f64 = background.intersection(&close).map(|&j| w(j)).sum();
    let den: f64 = background.iter().map(|&j| w(j)).sum();
    -(num / den + la.epsilon).ln()
}

/// The instance-recognition loss of one embedding: -ln softmax over the whole bank at `item`.
fn naive_ir(v: &[f64], item: usize, bank: &[Vec<f64>], tau: f64) -> f64 {
    let den: f64 = bank.iter().map(|b| (dot(v, b) / tau).exp()).sum();
    -((dot(v, &bank[item]) / tau).exp() / den).ln()
}

/// The batch mean of `per_item` over the rows of `v`.
fn batch_mean(v: &[Vec<f64>], per_item: impl Fn(usize, &[f64]) -> f64) -> f64 {
    v.iter()
        .enumerate()
        .map(|(r, x)| per_item(r, x))
        .sum::<f64>()
        / v.len() as f64
}

/// Central finite differences of `f` at `v`, entry by entry.
fn finite_differences(v: &[Vec<f64>], f: impl Fn(&[Vec<f64>]) -> f64) -> Vec<Vec<f64>> {
    let h = 1e-6;
    let mut grad = vec![vec![0.0; v[0].len()]; v.len()];
    for r in 0..v.len() {
        for c in 0..v[0].len() {
            let (mut plus, mut minus) = (v.to_vec(), v.to_vec());
            plus[r][c] += h;
            minus[r][c] -= h;
            grad[r][c] = (f(&plus) - f(&minus)) / (2.0 * h);
        }
    }
    grad
}

fn assert_close(got: &[Vec<f64>], want: &[Vec<f64>], tol: f64) {
    for (g, w) in got.iter().zip(want) {
        for (a, b) in g.iter().zip(w) {
            assert!(
                (a - b).abs() <= tol * (1.0 + b.abs()),
                "got {got:?}\nwant {want:?}"
            );
        }
    }
}

/// A bank, clusterings with overlapping clusters, a batch of items and embeddings near their
/// bank rows (so that their own rows and some cluster mates are background neighbours).
struct Setup {
    bank: MemoryBank,
    bank_rows: Vec<Vec<f64>>,
    labels: Vec<Vec<u32>>,
    clusterings: Clusterings,
    items: Vec<u32>,
    v: Vec<Vec<f64>>,
}

fn setup(seed: u64) -> Setup {
    let bank = MemoryBank::from_embeddings(&tensor(&unit_rows(N, D, seed))).unwrap();
    let bank_rows = rows(bank.tensor());
    let labels: Vec<Vec<u32>> = vec![
        (0..N).map(|i| (i % 4) as u32).collect(),
        (0..N).map(|i| (i / 5) as u32).collect(),
        (0..N).map(|i| ((i * 7) % 5) as u32).collect(),
    ];
    let clusterings = Clusterings::new(labels.clone()).unwrap();
    let items = vec![2u32, 11, 19, 28];
    let noise = unit_rows(items.len(), D, seed + 100);
    let v = items
        .iter()
        .zip(&noise)
        .map(|(&i, n)| {
            let x: Vec<f64> = bank_rows[i as usize]
                .iter()
                .zip(n)
                .map(|(b, e)| b + 0.7 * e)
                .collect();
            let norm = x.iter().map(|a| a * a).sum::<f64>().sqrt();
            x.iter().map(|a| a / norm).collect()
        })
        .collect();
    Setup {
        bank,
        bank_rows,
        labels,
        clusterings,
        items,
        v,
    }
}

fn la_config(temperature: f64) -> LocalAggregationLoss {
    LocalAggregationLoss {
        temperature,
        background: K,
        ..Default::default()
    }
}

/// Background sizes that take both backward paths: a sparse gather of bank rows (k much
/// smaller than N) and a dense product with the whole bank.
const KS: [usize; 2] = [3, K];

#[test]
fn la_loss_matches_the_naive_definition() {
    for (seed, tau, k) in [
        (1, 0.07, KS[0]),
        (1, 0.07, KS[1]),
        (2, 0.5, KS[1]),
        (3, 1.0, KS[1]),
    ] {
        let s = setup(seed);
        let la = LocalAggregationLoss {
            background: k,
            ..la_config(tau)
        };
        let out = la
            .forward(&tensor(&s.v), &s.items, &s.bank, &s.clusterings)
            .unwrap();
        let per_item = out.per_item.to_vec1::<f64>().unwrap();
        for (r, x) in s.v.iter().enumerate() {
            let want = naive_la(x, s.items[r] as usize, &s.bank_rows, &s.labels, &la);
            assert!(
                (per_item[r] - want).abs() < 1e-10,
                "item {r}: {} vs {want}",
                per_item[r]
            );
        }
        let want = batch_mean(&s.v, |r, x| {
            naive_la(x, s.items[r] as usize, &s.bank_rows, &s.labels, &la)
        });
        assert!((out.loss.to_scalar::<f64>().unwrap() - want).abs() < 1e-10);
    }
}

#[test]
fn la_gradient_matches_finite_differences() {
    for (seed, tau) in [(4, 0.07), (5, 0.3)] {
        let s = setup(seed);
        for x in &s.v {
            assert!(
                top_k_gap(x, &s.bank_rows, K) > 1e-4,
                "background stable under the step"
            );
        }
        let la = la_config(tau);
        let v = Var::from_tensor(&tensor(&s.v)).unwrap();
        let out = la
            .forward(v.as_tensor(), &s.items, &s.bank, &s.clusterings)
            .unwrap();
        let grads = out.loss.backward().unwrap();
        let got = rows(grads.get(v.as_tensor()).unwrap());
        let want = finite_differences(&s.v, |v| {
            batch_mean(v, |r, x| {
                naive_la(x, s.items[r] as usize, &s.bank_rows, &s.labels, &la)
            })
        });
        assert_close(&got, &want, 1e-6);
        assert!(
            grads.get(s.bank.tensor()).is_none(),
            "the bank gets no gradient"
        );
    }
}

#[test]
fn empty_numerator_gives_minus_log_epsilon_and_no_gradient() {
    // Item 0's only close neighbour is itself; its embedding points at item 1, and with k = 1
    // the background is {1}: C and B do not meet.
    let bank =
        MemoryBank::from_embeddings(&tensor(&[vec![1.0, 0.0], vec![0.0, 1.0], vec![-1.0, 0.0]]))
            .unwrap();
    let clusterings = Clusterings::new(vec![vec![0, 1, 1]]).unwrap();
    let la = LocalAggregationLoss {
        background: 1,
        ..Default::default()
    };
    let v = Var::from_tensor(&tensor(&[vec![0.0, 1.0]])).unwrap();
    let out = la
        .forward(v.as_tensor(), &[0], &bank, &clusterings)
        .unwrap();
    let want = -(1e-7f64).ln();
    assert!((out.loss.to_scalar::<f64>().unwrap() - want).abs() < 1e-9);
    let grads = out.loss.backward().unwrap();
    assert_eq!(rows(grads.get(v.as_tensor()).unwrap()), [[0.0, 0.0]]);
}

#[test]
fn tiny_temperatures_do_not_overflow() {
    // tau = 1e-3 puts the logits at +-1000: exp overflows f64, and even more f32.
    let bank = MemoryBank::from_embeddings(
        &Tensor::new(&[[1f32, 0.], [0.6, 0.8], [0., 1.], [-1., 0.]], &Device::Cpu).unwrap(),
    )
    .unwrap();
    let clusterings = Clusterings::new(vec![vec![0, 0, 1, 1]]).unwrap();
    let v = Var::new(&[[1f32, 0.], [0., 1.]], &Device::Cpu).unwrap();
    let la = LocalAggregationLoss {
        temperature: 1e-3,
        background: 3,
        ..Default::default()
    };
    let out = la
        .forward(v.as_tensor(), &[0, 1], &bank, &clusterings)
        .unwrap();
    // Item 0: its nearest row (itself, logit 1000) is close, the others are 400 lower: the
    // ratio is 1 to within exp(-400). Item 1 (embedding (0, 1), cluster {0, 1}): row 2
    // (logit 1000) is not close, row 1 (800) is: the ratio is exp(-200) ~ 0, so the loss is
    // -ln(1e-7).
    let per_item = out.per_item.to_vec1::<f32>().unwrap();
    assert!(per_item[0].abs() < 1e-6, "{per_item:?}");
    assert!((per_item[1] - 16.118_095).abs() < 1e-4, "{per_item:?}");
    let grad = out.loss.backward().unwrap();
    let g = grad.get(v.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
    assert!(g.iter().flatten().all(|x| x.is_finite()), "{g:?}");
}

#[test]
fn instance_loss_matches_the_naive_softmax_and_its_gradient() {
    let s = setup(6);
    let ir = InstanceLoss { temperature: 0.1 };
    let v = Var::from_tensor(&tensor(&s.v)).unwrap();
    let out = ir.forward(v.as_tensor(), &s.items, &s.bank).unwrap();
    let naive = |v: &[Vec<f64>]| {
        batch_mean(v, |r, x| {
            naive_ir(x, s.items[r] as usize, &s.bank_rows, 0.1)
        })
    };
    assert!((out.loss.to_scalar::<f64>().unwrap() - naive(&s.v)).abs() < 1e-10);
    let grads = out.loss.backward().unwrap();
    let got = rows(grads.get(v.as_tensor()).unwrap());
    assert_close(&got, &finite_differences(&s.v, naive), 1e-6);
}

#[test]
fn f32_loss_agrees_with_f64() {
    let s = setup(7);
    let la = la_config(0.07);
    let want = la
        .forward(&tensor(&s.v), &s.items, &s.bank, &s.clusterings)
        .unwrap()
        .loss
        .to_scalar::<f64>()
        .unwrap();
    let bank32 = MemoryBank::from_tensor(&s.bank.tensor().to_dtype(DType::F32).unwrap()).unwrap();
    let v32 = tensor(&s.v).to_dtype(DType::F32).unwrap();
    let got = la
        .forward(&v32, &s.items, &bank32, &s.clusterings)
        .unwrap()
        .loss;
    assert!((got.to_scalar::<f32>().unwrap() as f64 - want).abs() < 1e-4);
}

#[test]
fn inputs_are_checked() {
    let s = setup(8);
    let la = la_config(0.07);
    let v = tensor(&s.v);
    let other = Clusterings::singletons(N + 1, 1).unwrap();
    let msg = la
        .forward(&v, &s.items, &s.bank, &other)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("31 items") && msg.contains("30 items"),
        "{msg}"
    );
    assert!(
        la.forward(&v, &s.items[..2], &s.bank, &s.clusterings)
            .is_err()
    );
    assert!(
        la.forward(&v, &[0, 1, 2, 30], &s.bank, &s.clusterings)
            .is_err()
    );
    let bad = LocalAggregationLoss {
        temperature: 0.0,
        ..la.clone()
    };
    assert!(bad.forward(&v, &s.items, &s.bank, &s.clusterings).is_err());
    let v32 = v.to_dtype(DType::F32).unwrap();
    assert!(
        la.forward(&v32, &s.items, &s.bank, &s.clusterings).is_err(),
        "dtype differs"
    );
}

/// The contrastive loss of 2B views by the definition: view i against every other view,
/// its partner (i + B mod 2B) in the numerator.
fn naive_contrastive(z: &[Vec<f64>], tau: f64) -> f64 {
    let n = z.len();
    let total: f64 = (0..n)
        .map(|i| {
            let partner = (i + n / 2) % n;
            let den: f64 = (0..n)
                .filter(|&k| k != i)
                .map(|k| (dot(&z[i], &z[k]) / tau).exp())
                .sum();
            -((dot(&z[i], &z[partner]) / tau).exp() / den).ln()
        })
        .sum();
    total / n as f64
}

#[test]
fn contrastive_loss_and_gradient_match_the_definition() {
    let z = unit_rows(8, D, 41);
    for tau in [0.2, 1.0] {
        let var = Var::from_tensor(&tensor(&z)).unwrap();
        let out = ContrastiveLoss { temperature: tau }
            .forward(var.as_tensor())
            .unwrap();
        let got = out.loss.to_scalar::<f64>().unwrap();
        let want = naive_contrastive(&z, tau);
        assert!((got - want).abs() < 1e-10, "tau {tau}: {got} vs {want}");
        let grad = out.loss.backward().unwrap();
        let grad = rows(grad.get(var.as_tensor()).unwrap());
        assert_close(
            &grad,
            &finite_differences(&z, |z| naive_contrastive(z, tau)),
            1e-6,
        );
    }
    // Odd or too few rows are refused.
    let odd = tensor(&unit_rows(5, D, 1));
    assert!(ContrastiveLoss::default().forward(&odd).is_err());
    let two = tensor(&unit_rows(2, D, 1));
    assert!(ContrastiveLoss::default().forward(&two).is_err());
}
