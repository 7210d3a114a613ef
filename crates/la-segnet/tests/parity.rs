//! The auto-encoder against the PyTorch reference of the seed tutorial, at 1/16 width:
//! one training-mode forward pass, the MSE loss and its gradients. The fixture is made by
//! scripts/make_parity_fixture.py.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use la_segnet::{AutoEncoder, HasParams, ModelConfig};
use la_vgg::VggConfig;

const REL_TOL: f64 = 1e-4;

fn fixture() -> HashMap<String, Tensor> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/segnet_parity.safetensors"
    );
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Below this, a reference is a structural zero in rounding noise: the gradient of a conv bias
/// followed by training-mode batch norm, which subtracts the batch mean, is exactly zero.
const STRUCTURAL_ZERO: f64 = 1e-5;

/// Relative agreement: the largest difference, scaled by the largest reference magnitude.
fn assert_matches(got: &Tensor, expected: &Tensor, what: &str) {
    assert_eq!(got.dims(), expected.dims(), "{what}: shape");
    let (g, e) = (f64s(got), f64s(expected));
    let scale = e.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
    if scale < STRUCTURAL_ZERO {
        let ours = g.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(
            ours < STRUCTURAL_ZERO,
            "{what}: {ours:e} where the reference is zero"
        );
        return;
    }
    let worst = g
        .iter()
        .zip(&e)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= REL_TOL * scale,
        "{what}: max difference {worst:e}, reference scale {scale:e}"
    );
}

fn model(fx: &HashMap<String, Tensor>) -> AutoEncoder {
    let config = ModelConfig {
        vgg: VggConfig {
            width_divisor: 16,
            ..Default::default()
        },
        seed: 0,
    };
    let ae = AutoEncoder::new(&config, &Device::Cpu).unwrap();
    for p in ae.variables() {
        let t = &fx[&format!("weights.{}", p.name)];
        p.var.set(t).unwrap();
    }
    ae
}

#[test]
fn every_reference_tensor_has_a_variable_and_vice_versa() {
    let fx = fixture();
    let ae = model(&fx);
    let ours: Vec<String> = ae.variables().into_iter().map(|p| p.name).collect();
    let mut theirs: Vec<String> = fx
        .keys()
        .filter_map(|k| k.strip_prefix("weights.").map(String::from))
        .collect();
    theirs.sort();
    let mut sorted = ours.clone();
    sorted.sort();
    assert_eq!(sorted, theirs);
}

#[test]
fn forward_backward_match_pytorch() {
    let fx = fixture();
    let ae = model(&fx);
    let x = Var::from_tensor(&fx["input"]).unwrap();
    let encoded = ae.encoder().forward_t(x.as_tensor(), true).unwrap();
    let recon = ae
        .decoder()
        .forward_t(&encoded.code, &encoded.pools, true)
        .unwrap();
    assert_matches(&encoded.code, &fx["out.code"], "code");
    for (k, p) in encoded.pools.iter().enumerate() {
        let expected = fx[&format!("out.indices.{k}")]
            .to_dtype(DType::U32)
            .unwrap();
        let same = p
            .indices
            .eq(&expected)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let mismatches =
            same.elem_count() as f32 - same.sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(mismatches, 0.0, "pool {k} indices");
    }
    assert_matches(&recon, &fx["out.reconstruction"], "reconstruction");

    let loss = (&recon - &fx["input"])
        .unwrap()
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap();
    assert_matches(&loss.reshape(1).unwrap(), &fx["out.loss"], "loss");
    let grads = loss.backward().unwrap();
    assert_matches(
        grads.get(x.as_tensor()).unwrap(),
        &fx["grad.input"],
        "input gradient",
    );
    for p in ae.variables() {
        match fx.get(&format!("grad.{}", p.name)) {
            Some(expected) => {
                let got = grads
                    .get(&p.var)
                    .unwrap_or_else(|| panic!("no gradient for {}", p.name));
                assert_matches(got, expected, &format!("gradient of {}", p.name));
            }
            None => assert_matches(
                p.var.as_tensor(),
                &fx[&format!("out.running.{}", p.name)],
                &format!("updated {}", p.name),
            ),
        }
    }
}
