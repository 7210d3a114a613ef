//! Construction, initialisation, parameter groups, modes, checkpoints and errors.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use la_segnet::{
    AutoEncoder, Backbone, Embedder, EmbedderConfig, Encoder, HasParams, Merger, ModelConfig,
    ParamGroup, Role, save,
};
use la_vgg::{VggConfig, tensor_specs};

fn tiny(seed: u64) -> ModelConfig {
    ModelConfig {
        vgg: VggConfig {
            width_divisor: 16,
            ..Default::default()
        },
        seed,
    }
}

fn batch(seed: u64) -> Tensor {
    let n = 2 * 3 * 32 * 32;
    let v: Vec<f32> = (0..n)
        .map(|i| ((i as u64 * 7919 + seed) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::from_vec(v, (2, 3, 32, 32), &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn initialisation_is_seeded_and_follows_torchvision() {
    let full = ModelConfig::default();
    let a = Encoder::init(&full, &Device::Cpu).unwrap();
    let b = Encoder::init(&full, &Device::Cpu).unwrap();
    let c = Encoder::init(&ModelConfig { seed: 1, ..full }, &Device::Cpu).unwrap();
    let (va, vb, vc) = (a.variables(), b.variables(), c.variables());
    assert_eq!(values(va[0].var.as_tensor()), values(vb[0].var.as_tensor()));
    assert_ne!(values(va[0].var.as_tensor()), values(vc[0].var.as_tensor()));
    // The last conv weight (512, 512, 3, 3): Kaiming normal, fan-out: std sqrt(2 / (512 * 9)).
    let w = va.iter().rev().find(|p| p.role == Role::Weight).unwrap();
    assert_eq!(w.var.dims(), &[512, 512, 3, 3]);
    let v = values(w.var.as_tensor());
    let mean = v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let expected = (2.0 / (512.0 * 9.0f64)).sqrt();
    assert!(
        mean.abs() < 1e-4 && (std / expected - 1.0).abs() < 0.01,
        "mean {mean} std {std}"
    );
    for p in &va {
        let v = values(p.var.as_tensor());
        match p.role {
            Role::Bias | Role::NormBias | Role::RunningMean => assert!(v.iter().all(|x| *x == 0.0)),
            Role::NormWeight | Role::RunningVar => assert!(v.iter().all(|x| *x == 1.0)),
            Role::Weight => {}
        }
    }
}

#[test]
fn decoder_transposed_convs_use_pytorch_default_bounds() {
    let ae = AutoEncoder::new(&ModelConfig::default(), &Device::Cpu).unwrap();
    let last = ae
        .variables()
        .into_iter()
        .rev()
        .find(|p| p.role == Role::Weight)
        .unwrap();
    // The final layer maps 64 -> 3 channels: weight (64, 3, 3, 3), fan_in = 3 * 9.
    assert_eq!(last.var.dims(), &[64, 3, 3, 3]);
    let bound = 1.0 / 27f32.sqrt();
    let v = values(last.var.as_tensor());
    assert!(v.iter().all(|x| x.abs() <= bound));
    assert!(v.iter().any(|x| x.abs() > 0.9 * bound));
}

#[test]
fn parameter_groups_and_roles() {
    let ae = AutoEncoder::new(&tiny(0), &Device::Cpu).unwrap();
    let vars = ae.variables();
    let count =
        |g: ParamGroup, r: Role| vars.iter().filter(|p| p.group == g && p.role == r).count();
    assert_eq!(count(ParamGroup::Encoder, Role::Weight), 13);
    assert_eq!(count(ParamGroup::Encoder, Role::NormWeight), 13);
    assert_eq!(count(ParamGroup::Decoder, Role::Weight), 13);
    // The last decoder layer has no batch norm.
    assert_eq!(count(ParamGroup::Decoder, Role::NormWeight), 12);
    assert_eq!(count(ParamGroup::Decoder, Role::RunningVar), 12);
    assert!(ae.trainable().iter().all(|p| p.role.is_trained()));
    assert_eq!(
        vars.iter().filter(|p| p.role.takes_weight_decay()).count(),
        26
    );
    assert!(vars.iter().any(|p| p.name == "encoder.features.40.weight"));
    assert!(
        vars.iter()
            .any(|p| p.name == "encoder.features.41.running_var")
    );
    // decoder.layers.0 is the unpool of the last pool; its first transposed conv is 1.
    assert!(vars.iter().any(|p| p.name == "decoder.layers.1.weight"));
    // VGG16 at full width: 14,723,136 parameters in `features`, as torchvision.
    let full = Encoder::init(&ModelConfig::default(), &Device::Cpu).unwrap();
    assert_eq!(full.parameter_count(), 14_723_136);
}

#[test]
fn evaluation_mode_leaves_running_statistics_alone_and_training_mode_updates_them() {
    let ae = AutoEncoder::new(&tiny(0), &Device::Cpu).unwrap();
    let rm = ae
        .variables()
        .into_iter()
        .find(|p| p.role == Role::RunningMean)
        .unwrap();
    let before = values(rm.var.as_tensor());
    ae.forward_t(&batch(1), false).unwrap();
    assert_eq!(values(rm.var.as_tensor()), before);
    ae.forward_t(&batch(1), true).unwrap();
    assert_ne!(values(rm.var.as_tensor()), before);
}

#[test]
fn a_frozen_encoder_gets_no_gradients() {
    let mut ae = AutoEncoder::new(&tiny(0), &Device::Cpu).unwrap();
    ae.encoder_mut().set_frozen(true);
    let x = batch(2);
    let loss = (ae.forward_t(&x, true).unwrap() - &x)
        .unwrap()
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    for p in ae.trainable() {
        let has = grads.get(&p.var).is_some();
        assert_eq!(has, p.group == ParamGroup::Decoder, "{}", p.name);
    }
}

#[test]
fn save_and_load_round_trip_and_encoder_alone_from_the_auto_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ae.safetensors");
    let ae = AutoEncoder::new(&tiny(0), &Device::Cpu).unwrap();
    ae.forward_t(&batch(3), true).unwrap(); // move the running statistics off their defaults
    save(&ae, &path).unwrap();
    let other = AutoEncoder::new(&tiny(7), &Device::Cpu).unwrap();
    let x = batch(4);
    assert_ne!(
        values(&ae.forward_t(&x, false).unwrap()),
        values(&other.forward_t(&x, false).unwrap())
    );
    other.load(&path).unwrap();
    assert_eq!(
        values(&ae.forward_t(&x, false).unwrap()),
        values(&other.forward_t(&x, false).unwrap())
    );

    let encoder = Encoder::init(&tiny(9), &Device::Cpu).unwrap();
    encoder.load(&path).unwrap();
    let a = ae.encoder().forward_t(&x, false).unwrap().code;
    let b = encoder.forward_t(&x, false).unwrap().code;
    assert_eq!(values(&a), values(&b));
}

#[test]
fn loading_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let ae = AutoEncoder::new(&tiny(0), &Device::Cpu).unwrap();
    let mut state = la_segnet::state(&ae).unwrap();
    state.remove("decoder.layers.1.bias");
    state.insert(
        "encoder.features.0.weight".into(),
        Tensor::zeros((4, 3, 5, 5), DType::F32, &Device::Cpu).unwrap(),
    );
    state.insert(
        "decoder.extra".into(),
        Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap(),
    );
    let path = dir.path().join("bad.safetensors");
    candle_core::safetensors::save(&state, &path).unwrap();
    let msg = ae.load(&path).unwrap_err().to_string();
    assert!(msg.contains("bad.safetensors"), "{msg}");
    assert!(msg.contains("missing decoder.layers.1.bias"), "{msg}");
    assert!(
        msg.contains("encoder.features.0.weight has shape [4, 3, 5, 5], expected [4, 3, 3, 3]"),
        "{msg}"
    );
    assert!(msg.contains("unexpected decoder.extra"), "{msg}");

    let text = dir.path().join("notes.safetensors");
    std::fs::write(&text, "not a tensor file").unwrap();
    let msg = ae.load(&text).unwrap_err().to_string();
    assert!(
        msg.contains("notes.safetensors") && msg.contains("safetensors"),
        "{msg}"
    );
    let msg = ae
        .load(dir.path().join("absent.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("absent.safetensors"), "{msg}");
}

/// A full-size vgg16_bn checkpoint with random `features` and the classifier names of
/// torchvision (`classifier.*`) or timm (`pre_logits.*`, `head.*`).
fn synthesized_vgg16_bn(path: &std::path::Path, classifier: &[&str]) -> HashMap<String, Tensor> {
    let mut t: HashMap<String, Tensor> = tensor_specs(&VggConfig::default())
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.name,
                Tensor::randn(0f32, 1., s.shape.as_slice(), &Device::Cpu).unwrap(),
            )
        })
        .collect();
    for name in classifier {
        t.insert(
            format!("{name}.weight"),
            Tensor::zeros((10, 4), DType::F32, &Device::Cpu).unwrap(),
        );
    }
    t.insert(
        "features.1.num_batches_tracked".into(),
        Tensor::zeros(1, DType::I64, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&t, path).unwrap();
    t
}

#[test]
fn imagenet_weights_with_timm_or_torchvision_names_load_into_the_encoder() {
    let dir = tempfile::tempdir().unwrap();
    for (file, heads) in [
        ("timm.safetensors", &["pre_logits.fc1", "head.fc"][..]),
        (
            "torchvision.safetensors",
            &["classifier.0", "classifier.6"][..],
        ),
    ] {
        let path = dir.path().join(file);
        let written = synthesized_vgg16_bn(&path, heads);
        let encoder = Encoder::init(&ModelConfig::default(), &Device::Cpu).unwrap();
        encoder.load_pretrained(&path).unwrap();
        for p in encoder.variables() {
            let name = p.name.strip_prefix("encoder.").unwrap();
            assert_eq!(
                values(p.var.as_tensor()),
                values(&written[name]),
                "{file}: {name}"
            );
        }
    }
}

#[test]
fn embedder_gives_unit_rows_of_the_configured_size() {
    let x = batch(5);
    for (merger, projection, dim) in [
        (Merger::Mean, Some(16), 16),
        (Merger::Mean, None, 32),
        (Merger::Flatten, None, 32),
    ] {
        let encoder = Encoder::init(&tiny(0), &Device::Cpu).unwrap();
        let config = EmbedderConfig {
            merger,
            projection,
            image_hw: (32, 32),
            seed: 0,
        };
        let emb = Embedder::new(encoder, &config).unwrap();
        assert_eq!(emb.dim(), dim);
        let v = emb.forward_t(&x, true).unwrap();
        assert_eq!(v.dims(), &[2, dim]);
        for n in v.sqr().unwrap().sum(1).unwrap().to_vec1::<f32>().unwrap() {
            assert!((n - 1.0).abs() < 1e-5);
        }
        let grads = v.sum_all().unwrap().backward().unwrap();
        assert!(emb.trainable().iter().all(|p| grads.get(&p.var).is_some()));
    }
    let encoder = Encoder::init(&tiny(0), &Device::Cpu).unwrap();
    let bad = EmbedderConfig {
        projection: Some(0),
        ..Default::default()
    };
    assert!(
        Embedder::new(encoder.clone(), &bad)
            .unwrap_err()
            .to_string()
            .contains("projection")
    );
    let bad = EmbedderConfig {
        merger: Merger::Flatten,
        image_hw: (40, 32),
        ..Default::default()
    };
    assert!(
        Embedder::new(encoder, &bad)
            .unwrap_err()
            .to_string()
            .contains("40x32")
    );
}

#[test]
fn the_projection_starts_as_pytorchs_linear_layer() {
    let encoder = Encoder::init(&tiny(0), &Device::Cpu).unwrap();
    let config = EmbedderConfig {
        projection: Some(64),
        ..Default::default()
    };
    let emb = Embedder::new(encoder, &config).unwrap();
    let head: Vec<_> = emb
        .variables()
        .into_iter()
        .filter(|p| p.group == ParamGroup::Head)
        .collect();
    assert_eq!(head.len(), 2);
    // 32 merged channels: U(-1/sqrt(32), 1/sqrt(32)), variance bound^2 / 3.
    let bound = 1.0 / 32f32.sqrt();
    let w = values(head[0].var.as_tensor());
    assert_eq!(w.len(), 64 * 32);
    assert!(w.iter().all(|v| v.abs() <= bound));
    let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
    assert!((var / (bound * bound / 3.0) - 1.0).abs() < 0.1, "{var}");
    let b = values(head[1].var.as_tensor());
    assert!(b.iter().all(|v| v.abs() <= bound) && b.iter().any(|v| *v != 0.0));
}

#[test]
fn inputs_that_do_not_fit_are_errors() {
    let ae = AutoEncoder::new(&tiny(0), &Device::Cpu).unwrap();
    for dims in [&[2, 3, 48, 32][..], &[2, 1, 32, 32], &[3, 32, 32]] {
        let x = Tensor::zeros(dims, DType::F32, &Device::Cpu).unwrap();
        let msg = ae.forward_t(&x, false).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("{dims:?}")) && msg.contains("multiples of 32"),
            "{msg}"
        );
    }
}

/// A backbone that is not VGG: 2x2 average pooling of the image, then a 1x1 channel mix.
#[derive(Debug)]
struct PoolAndMix {
    mix: candle_core::Var,
}

impl HasParams for PoolAndMix {
    fn variables(&self) -> Vec<la_segnet::Param> {
        vec![la_segnet::Param {
            name: "backbone.mix".into(),
            var: self.mix.clone(),
            group: ParamGroup::Encoder,
            role: Role::Weight,
        }]
    }
}

impl Backbone for PoolAndMix {
    fn features(&self, xs: &Tensor, _train: bool) -> la_segnet::Result<Tensor> {
        let pooled = xs.avg_pool2d(2)?;
        // (N, 3, h, w) -> (N, h, w, 3) x (3, 5) -> (N, 5, h, w)
        let mixed = pooled
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .broadcast_matmul(self.mix.as_tensor())?
            .permute((0, 3, 1, 2))?;
        Ok(mixed)
    }

    fn channels(&self) -> usize {
        5
    }

    fn reduction(&self) -> usize {
        2
    }

    fn describe(&self) -> String {
        "pool-and-mix".into()
    }
}

#[test]
fn any_backbone_fits_the_embedder() {
    let mix = candle_core::Var::from_tensor(
        &Tensor::arange(0f32, 15., &Device::Cpu)
            .unwrap()
            .reshape((3, 5))
            .unwrap(),
    )
    .unwrap();
    let backbone = PoolAndMix { mix: mix.clone() };
    let x = batch(3);
    // The mean merger of this backbone is the image's channel means times the mix matrix.
    let want = x
        .mean((2, 3))
        .unwrap()
        .matmul(mix.as_tensor())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let config = EmbedderConfig {
        projection: None,
        image_hw: (32, 32),
        ..Default::default()
    };
    let emb = Embedder::new(backbone, &config).unwrap();
    assert_eq!(emb.dim(), 5);
    let got = emb.forward_t(&x, true).unwrap().to_vec2::<f32>().unwrap();
    for (g, w) in got.iter().zip(&want) {
        let norm = w.iter().map(|v| v * v).sum::<f32>().sqrt();
        for (a, b) in g.iter().zip(w) {
            assert!((a - b / norm).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }
    let flat = EmbedderConfig {
        merger: Merger::Flatten,
        ..config
    };
    let emb = Embedder::new(PoolAndMix { mix }, &flat).unwrap();
    assert_eq!(emb.dim(), 5 * 16 * 16);
}

#[test]
fn an_embedder_backbone_loads_from_an_autoencoder_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let trained = AutoEncoder::new(&tiny(1), &Device::Cpu).unwrap();
    let file = dir.path().join("ae.safetensors");
    save(&trained, &file).unwrap();
    let (encoder, _) = AutoEncoder::new(&tiny(2), &Device::Cpu)
        .unwrap()
        .into_parts();
    let emb = Embedder::new(encoder, &EmbedderConfig::default()).unwrap();
    emb.backbone().load_from(&file).unwrap();
    let x = batch(4);
    let want = trained.encoder().forward_t(&x, false).unwrap().code;
    let got = emb.backbone().features(&x, false).unwrap();
    assert_eq!(values(&got), values(&want));
}
