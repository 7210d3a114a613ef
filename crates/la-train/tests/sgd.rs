//! Sgd against hand-computed updates and a torch.optim.SGD fixture.
// The fixture values are printed by the script with 9 significant digits (f32 round trip).
#![allow(clippy::excessive_precision)]

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use la_segnet::{Param, ParamGroup, Role};
use la_train::{Error, Optimizer, Sgd, SgdConfig};

fn param(name: &str, var: &Var, role: Role) -> Param {
    Param {
        name: name.into(),
        var: var.clone(),
        group: ParamGroup::Encoder,
        role,
    }
}

/// A scalar f64 parameter at 1.0.
fn scalar(name: &str, role: Role) -> (Var, Param) {
    let var = Var::new(&[1f64], &Device::Cpu).unwrap();
    let p = param(name, &var, role);
    (var, p)
}

/// Steps with the fixed gradients 1, -2, 0.5 (the gradient of `g * p` is `g`) and returns the
/// parameter after each step.
fn three_steps(config: SgdConfig, role: Role) -> Vec<f64> {
    let (var, p) = scalar("p", role);
    let mut sgd = Sgd::new(vec![p], config).unwrap();
    [1.0, -2.0, 0.5]
        .iter()
        .map(|g| {
            sgd.backward_step(&(var.as_tensor() * *g).unwrap().sum_all().unwrap())
                .unwrap();
            var.to_vec1::<f64>().unwrap()[0]
        })
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "got {got:?}, want {want:?}");
    }
}

fn config(momentum: f64, dampening: f64, weight_decay: f64, nesterov: bool) -> SgdConfig {
    SgdConfig {
        lr: 0.1,
        momentum,
        dampening,
        weight_decay,
        nesterov,
    }
}

#[test]
fn plain_sgd_by_hand() {
    // p = 1 - 0.1 * 1 = 0.9; 0.9 + 0.2 = 1.1; 1.1 - 0.05 = 1.05.
    let got = three_steps(config(0.0, 0.0, 0.0, false), Role::Weight);
    assert_close(&got, &[0.9, 1.1, 1.05], 1e-12);
}

#[test]
fn momentum_by_hand() {
    // buf = 1 -> p = 0.9; buf = 0.9 - 2 = -1.1 -> p = 1.01; buf = -0.99 + 0.5 = -0.49 -> 1.059.
    let got = three_steps(config(0.9, 0.0, 0.0, false), Role::Weight);
    assert_close(&got, &[0.9, 1.01, 1.059], 1e-12);
}

#[test]
fn dampening_skips_the_first_step() {
    // buf = 1 (undamped) -> 0.9; buf = 0.9 - 0.5 * 2 = -0.1 -> 0.91;
    // buf = -0.09 + 0.25 = 0.16 -> 0.894.
    let got = three_steps(config(0.9, 0.5, 0.0, false), Role::Weight);
    assert_close(&got, &[0.9, 0.91, 0.894], 1e-12);
}

#[test]
fn nesterov_by_hand() {
    // buf = 1, d = 1 + 0.9 = 1.9 -> 0.81; buf = -1.1, d = -2 - 0.99 = -2.99 -> 1.109;
    // buf = -0.49, d = 0.5 - 0.441 = 0.059 -> 1.1031.
    let got = three_steps(config(0.9, 0.0, 0.0, true), Role::Weight);
    assert_close(&got, &[0.81, 1.109, 1.1031], 1e-12);
}

#[test]
fn weight_decay_by_hand() {
    // d = 1 + 0.1 = 1.1 -> 0.89; d = -2 + 0.089 = -1.911 -> 1.0811;
    // d = 0.5 + 0.10811 = 0.60811 -> 1.020289.
    let got = three_steps(config(0.0, 0.0, 0.1, false), Role::Weight);
    assert_close(&got, &[0.89, 1.0811, 1.020289], 1e-12);
    // With momentum: buf = 1.1 -> 0.89; buf = 0.99 - 1.911 = -0.921 -> 0.9821;
    // d = 0.5 + 0.09821, buf = -0.8289 + 0.59821 = -0.23069 -> 1.005169.
    let got = three_steps(config(0.9, 0.0, 0.1, false), Role::Weight);
    assert_close(&got, &[0.89, 0.9821, 1.005169], 1e-12);
}

#[test]
fn weight_decay_only_on_weights() {
    for role in [Role::Bias, Role::NormWeight, Role::NormBias] {
        let got = three_steps(config(0.0, 0.0, 0.1, false), role);
        assert_close(&got, &[0.9, 1.1, 1.05], 1e-12);
    }
}

#[test]
fn running_statistics_and_params_without_gradient_are_untouched() {
    let (w, pw) = scalar("w", Role::Weight);
    let (mean, pm) = scalar("bn.running_mean", Role::RunningMean);
    let (other, po) = scalar("unused", Role::Weight);
    let mut sgd = Sgd::new(vec![pw, pm, po], config(0.9, 0.0, 0.1, false)).unwrap();
    assert_eq!(
        sgd.weight_decays(),
        [("w", 0.1), ("unused", 0.1)],
        "running statistics are not optimised"
    );
    // The running mean takes part in the loss, so it has a gradient, which must be ignored.
    let loss = ((w.as_tensor() + mean.as_tensor()).unwrap() * 2.0)
        .unwrap()
        .sum_all()
        .unwrap();
    sgd.backward_step(&loss).unwrap();
    assert_close(&w.to_vec1::<f64>().unwrap(), &[1.0 - 0.1 * 2.1], 1e-12);
    assert_eq!(mean.to_vec1::<f64>().unwrap(), [1.0]);
    assert_eq!(other.to_vec1::<f64>().unwrap(), [1.0]);
    assert_eq!(sgd.state().unwrap().keys().collect::<Vec<_>>(), ["w"]);
}

// Fixture from crates/la-train/scripts/sgd_fixture.py (torch.optim.SGD, two parameter
// groups: w with weight_decay 0.01, b with 0):
//
//     w = torch.tensor(W0, requires_grad=True); b = torch.tensor(B0, requires_grad=True)
//     opt = torch.optim.SGD([{"params": [w], "weight_decay": 0.01},
//                            {"params": [b], "weight_decay": 0.0}], lr=0.05, momentum=0.9, ...)
//     loss = (a_w*w*w).sum()/2 + (c_w*w).sum() + (a_b*b*b).sum()/2 + (c_b*b).sum()
//     for _ in range(3): opt.zero_grad(); loss.backward(); opt.step()
const W0: [f32; 6] = [0.5, -1.0, 2.0, 1.5, 0.25, -0.75];
const A_W: [f32; 6] = [1.0, 2.0, 0.5, 0.25, 3.0, 1.5];
const C_W: [f32; 6] = [0.1, -0.2, 0.3, -0.4, 0.5, -0.6];
const B0: [f32; 3] = [0.3, -0.2, 0.1];
const A_B: [f32; 3] = [2.0, 1.0, 0.5];
const C_B: [f32; 3] = [-0.5, 0.25, 1.0];

/// `torch.optim.SGD(lr=0.05, momentum=0.9, dampening=0.1)`: (w, b) after each step.
const TORCH_MOMENTUM_DAMPENING: [([f32; 6], [f32; 3]); 3] = [
    (
        [
            0.469749987,
            -0.889500022,
            1.93400002,
            1.50049996,
            0.187374994,
            -0.66337502,
        ],
        [0.295000017, -0.202500001, 0.0475000031],
    ),
    (
        [
            0.416674852,
            -0.700594723,
            1.81671476,
            1.50139415,
            0.0831325501,
            -0.513336182,
        ],
        [0.286450028, -0.206887498, -0.0458187461],
    ),
    (
        [
            0.345469356,
            -0.458211184,
            1.65596437,
            1.50263262,
            -0.0444459505,
            -0.316420019,
        ],
        [0.275474519, -0.212776318, -0.173774704],
    ),
];

/// `torch.optim.SGD(lr=0.05, momentum=0.9, nesterov=True)`: (w, b) after each step.
const TORCH_NESTEROV: [([f32; 6], [f32; 3]); 3] = [
    (
        [
            0.442524999,
            -0.79005003,
            1.87460005,
            1.50094998,
            0.131012499,
            -0.585412502,
        ],
        [0.290500015, -0.204750001, 0.000250005716],
    ),
    (
        [
            0.366062224,
            -0.530685008,
            1.70181572,
            1.50228155,
            -0.00467678532,
            -0.37426883,
        ],
        [0.278755009, -0.211073756, -0.137286857],
    ),
    (
        [
            0.277234823,
            -0.257382214,
            1.49187887,
            1.50393474,
            -0.132714167,
            -0.140329435,
        ],
        [0.266366065, -0.218426868, -0.304543287],
    ),
];

/// The fixture's quadratic loss.
fn fixture_loss(w: &Var, b: &Var) -> Tensor {
    let dev = Device::Cpu;
    let t = |x: &[f32], shape: &[usize]| Tensor::from_slice(x, shape, &dev).unwrap();
    let quad = |p: &Tensor, a: &Tensor, c: &Tensor| {
        let q = ((a * p).unwrap() * p).unwrap().sum_all().unwrap() * 0.5;
        (q.unwrap() + (c * p).unwrap().sum_all().unwrap()).unwrap()
    };
    let lw = quad(w.as_tensor(), &t(&A_W, &[2, 3]), &t(&C_W, &[2, 3]));
    let lb = quad(b.as_tensor(), &t(&A_B, &[3]), &t(&C_B, &[3]));
    (lw + lb).unwrap()
}

fn fixture_params() -> (Var, Var, Vec<Param>) {
    let w = Var::from_slice(&W0, (2, 3), &Device::Cpu).unwrap();
    let b = Var::from_slice(&B0, 3, &Device::Cpu).unwrap();
    let params = vec![param("w", &w, Role::Weight), param("b", &b, Role::Bias)];
    (w, b, params)
}

fn check_against_torch(cfg: SgdConfig, expected: &[([f32; 6], [f32; 3]); 3]) {
    let (w, b, params) = fixture_params();
    let mut sgd = Sgd::new(params, cfg).unwrap();
    for (ew, eb) in expected {
        sgd.backward_step(&fixture_loss(&w, &b)).unwrap();
        let gw = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let gb = b.to_vec1::<f32>().unwrap();
        for (g, e) in gw.iter().chain(&gb).zip(ew.iter().chain(eb)) {
            assert!((g - e).abs() <= 1e-6 * (1.0 + e.abs()), "{g} vs torch {e}");
        }
    }
}

#[test]
fn matches_torch_momentum_dampening() {
    let cfg = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        dampening: 0.1,
        weight_decay: 0.01,
        nesterov: false,
    };
    check_against_torch(cfg, &TORCH_MOMENTUM_DAMPENING);
}

#[test]
fn matches_torch_nesterov() {
    let cfg = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 0.01,
        nesterov: true,
    };
    check_against_torch(cfg, &TORCH_NESTEROV);
}

#[test]
fn exported_state_resumes_exactly() {
    let cfg = SgdConfig {
        lr: 0.05,
        weight_decay: 0.01,
        ..Default::default()
    };
    // Three steps straight.
    let (w, b, params) = fixture_params();
    let mut sgd = Sgd::new(params, cfg.clone()).unwrap();
    for _ in 0..3 {
        sgd.backward_step(&fixture_loss(&w, &b)).unwrap();
    }
    // Two steps, export, a fresh optimiser on copies of the parameters, import, one step.
    let (w2, b2, params) = fixture_params();
    let mut first = Sgd::new(params, cfg.clone()).unwrap();
    for _ in 0..2 {
        first.backward_step(&fixture_loss(&w2, &b2)).unwrap();
    }
    let state = first.state().unwrap();
    let w3 = Var::from_tensor(&w2.as_tensor().copy().unwrap()).unwrap();
    let b3 = Var::from_tensor(&b2.as_tensor().copy().unwrap()).unwrap();
    let params = vec![param("w", &w3, Role::Weight), param("b", &b3, Role::Bias)];
    let mut second = Sgd::new(params, cfg).unwrap();
    second.load_state(&state).unwrap();
    second.backward_step(&fixture_loss(&w3, &b3)).unwrap();
    for (a, b) in [(&w, &w3), (&b, &b3)] {
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a, b, "bit-identical after resume");
    }
}

#[test]
fn bad_state_is_rejected_with_names() {
    let (_, _, params) = fixture_params();
    let mut sgd = Sgd::new(params, SgdConfig::default()).unwrap();
    let state = HashMap::from([
        (
            "w".to_string(),
            Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap(),
        ),
        (
            "nope".to_string(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        ),
    ]);
    let msg = sgd.load_state(&state).unwrap_err().to_string();
    assert!(msg.contains("unexpected momentum buffer nope"), "{msg}");
    assert!(
        msg.contains("momentum buffer w has shape [4], expected [2, 3]"),
        "{msg}"
    );
}

#[test]
fn invalid_configurations_name_the_field() {
    let cases = [
        (
            SgdConfig {
                lr: -1.0,
                ..Default::default()
            },
            "sgd.lr",
        ),
        (
            SgdConfig {
                momentum: f64::NAN,
                ..Default::default()
            },
            "sgd.momentum",
        ),
        (
            SgdConfig {
                dampening: 2.0,
                ..Default::default()
            },
            "sgd.dampening",
        ),
        (
            SgdConfig {
                weight_decay: -0.1,
                ..Default::default()
            },
            "sgd.weight_decay",
        ),
        (
            SgdConfig {
                nesterov: true,
                momentum: 0.0,
                ..Default::default()
            },
            "sgd.nesterov",
        ),
        (
            SgdConfig {
                nesterov: true,
                dampening: 0.1,
                ..Default::default()
            },
            "sgd.nesterov",
        ),
    ];
    for (cfg, field) in cases {
        match Sgd::new(vec![], cfg) {
            Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected a config error for {field}, got {other:?}"),
        }
    }
    let (_, p) = scalar("same", Role::Weight);
    let err = Sgd::new(vec![p.clone(), p], SgdConfig::default()).unwrap_err();
    assert!(err.to_string().contains("same appears twice"));
}

#[test]
fn learning_rate_can_be_set() {
    let (var, p) = scalar("p", Role::Weight);
    let mut sgd = Sgd::new(vec![p], config(0.0, 0.0, 0.0, false)).unwrap();
    sgd.set_learning_rate(0.5);
    assert_eq!(sgd.learning_rate(), 0.5);
    sgd.backward_step(&var.as_tensor().sum_all().unwrap())
        .unwrap();
    assert_eq!(var.to_vec1::<f64>().unwrap(), [0.5]);
}
