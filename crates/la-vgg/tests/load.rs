//! Loading synthesized checkpoints: full-size vgg16_bn files with timm and torchvision names
//! in f32 / f16 / bf16, and one test per loading error.

mod common;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use common::{Data, Entry};
use la_vgg::{Depth, Error, Problem, VggConfig, load_weights, load_weights_with_prefix};
use safetensors::Dtype;

fn write(dir: &Path, file: &str, entries: &[Entry]) -> PathBuf {
    let path = dir.join(file);
    common::write_safetensors(&path, entries);
    path
}

/// Loads a full-size vgg16_bn file and checks every tensor, element by element.
fn load_full_vgg16(dtype: Dtype, head: Vec<(String, Vec<usize>)>) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "model.safetensors",
        &common::vgg16_checkpoint(dtype, head.clone()),
    );
    let weights = load_weights(&path, &VggConfig::default(), &Device::Cpu).unwrap();
    let expected = common::vgg16_features();
    assert_eq!(weights.tensors().len(), expected.len());
    for (t, (name, shape)) in expected.iter().enumerate() {
        let tensor = weights
            .get(name)
            .unwrap_or_else(|| panic!("{name} not loaded"));
        assert_eq!(tensor.dims(), shape.as_slice(), "{name}");
        assert_eq!(tensor.dtype(), DType::F32, "{name}");
        let got = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let want: Vec<f32> = (0..got.len()).map(|k| common::value(t, k)).collect();
        assert!(got == want, "{name}: values differ");
    }
    let mut ignored: Vec<String> = head.into_iter().map(|(n, _)| n).collect();
    ignored.extend(
        common::VGG16_CONV_INDICES.map(|i| format!("features.{}.num_batches_tracked", i + 1)),
    );
    ignored.sort();
    assert_eq!(weights.ignored(), ignored);
    assert!(weights.unexpected().is_empty());
}

#[test]
fn loads_full_size_timm_vgg16_bn_f32() {
    load_full_vgg16(Dtype::F32, common::timm_head());
}

#[test]
fn loads_full_size_torchvision_vgg16_bn_f32() {
    load_full_vgg16(Dtype::F32, common::torchvision_head());
}

#[test]
fn loads_full_size_timm_vgg16_bn_f16() {
    load_full_vgg16(Dtype::F16, common::timm_head());
}

#[test]
fn loads_full_size_timm_vgg16_bn_bf16() {
    load_full_vgg16(Dtype::BF16, common::timm_head());
}

#[test]
fn test_writer_output_is_read_by_the_safetensors_crate() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![
        Entry {
            name: "a".into(),
            dtype: Dtype::F16,
            shape: vec![3],
            data: Data::Bytes(common::encode(1, 3, Dtype::F16)),
        },
        Entry {
            name: "b".into(),
            dtype: Dtype::I64,
            shape: vec![],
            data: Data::Bytes(common::encode(0, 1, Dtype::I64)),
        },
        Entry {
            name: "z".into(),
            dtype: Dtype::F32,
            shape: vec![2, 5],
            data: Data::Zeros,
        },
    ];
    let path = write(dir.path(), "t.safetensors", &entries);
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        st.tensor("a").unwrap().data(),
        common::encode(1, 3, Dtype::F16)
    );
    assert_eq!(st.tensor("b").unwrap().shape(), &[] as &[usize]);
    assert_eq!(st.tensor("z").unwrap().data(), &[0u8; 40]);
}

/// A tiny vgg11_bn (width 1/16) checkpoint in f32, as (name, shape) pairs in the torchvision
/// layout: conv indices 0, 4, 8, 11, 15, 18, 22, 25 (torchvision vgg11_bn, see tests/plan.rs).
fn tiny_vgg11() -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut in_ch = 3;
    for (i, c) in [0, 4, 8, 11, 15, 18, 22, 25]
        .into_iter()
        .zip([4, 8, 16, 16, 32, 32, 32, 32])
    {
        out.push((format!("features.{i}.weight"), vec![c, in_ch, 3, 3]));
        out.push((format!("features.{i}.bias"), vec![c]));
        for s in ["weight", "bias", "running_mean", "running_var"] {
            out.push((format!("features.{}.{s}", i + 1), vec![c]));
        }
        in_ch = c;
    }
    out
}

fn tiny_config() -> VggConfig {
    VggConfig {
        depth: Depth::Vgg11,
        width_divisor: 16,
        in_channels: 3,
    }
}

fn f32_entries(tensors: &[(String, Vec<usize>)]) -> Vec<Entry> {
    tensors
        .iter()
        .enumerate()
        .map(|(t, (name, shape))| Entry {
            name: name.clone(),
            dtype: Dtype::F32,
            shape: shape.clone(),
            data: Data::Bytes(common::encode(t, shape.iter().product(), Dtype::F32)),
        })
        .collect()
}

fn mismatch(entries: &[Entry]) -> (Vec<Problem>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.safetensors", entries);
    match load_weights(&path, &tiny_config(), &Device::Cpu) {
        Err(e @ Error::Mismatch { .. }) => {
            let message = e.to_string();
            let Error::Mismatch {
                problems, path: p, ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!(p, path);
            (problems, message)
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn f64_is_accepted_and_other_names_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries: Vec<Entry> = tiny_vgg11()
        .into_iter()
        .enumerate()
        .map(|(t, (name, shape))| {
            let data = Data::Bytes(common::encode(t, shape.iter().product(), Dtype::F64));
            Entry {
                name,
                dtype: Dtype::F64,
                shape,
                data,
            }
        })
        .collect();
    entries.push(Entry {
        name: "projection.weight".into(),
        dtype: Dtype::F32,
        shape: vec![2],
        data: Data::Zeros,
    });
    let path = write(dir.path(), "f64.safetensors", &entries);
    let weights = load_weights(&path, &tiny_config(), &Device::Cpu).unwrap();
    let got = weights
        .get("features.25.weight")
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let t = tiny_vgg11()
        .iter()
        .position(|(n, _)| n == "features.25.weight")
        .unwrap();
    assert_eq!(
        got,
        (0..got.len())
            .map(|k| common::value(t, k))
            .collect::<Vec<_>>()
    );
    assert_eq!(weights.unexpected(), ["projection.weight"]);
    assert!(weights.ignored().is_empty());
}

#[test]
fn prefixed_names_load_under_canonical_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = tiny_vgg11();
    for (name, _) in &mut tensors {
        *name = format!("encoder.{name}");
    }
    let mut entries = f32_entries(&tensors);
    entries.push(Entry {
        name: "decoder.0.weight".into(),
        dtype: Dtype::F32,
        shape: vec![1],
        data: Data::Zeros,
    });
    let path = write(dir.path(), "ae.safetensors", &entries);
    let weights =
        load_weights_with_prefix(&path, "encoder.", &tiny_config(), &Device::Cpu).unwrap();
    assert_eq!(
        weights.get("features.0.weight").unwrap().dims(),
        &[4, 3, 3, 3]
    );
    assert_eq!(weights.unexpected(), ["decoder.0.weight"]);
    // Without the prefix nothing fits, and every tensor is listed as missing.
    let (problems, _) = mismatch(&entries);
    assert_eq!(problems.len(), tiny_vgg11().len());
}

#[test]
fn every_missing_tensor_is_listed() {
    let mut tensors = tiny_vgg11();
    let gone = [
        "features.0.weight",
        "features.12.running_var",
        "features.25.bias",
    ];
    tensors.retain(|(n, _)| !gone.contains(&n.as_str()));
    let (problems, message) = mismatch(&f32_entries(&tensors));
    let names: Vec<&str> = problems.iter().map(Problem::name).collect();
    assert_eq!(names, gone);
    assert!(matches!(&problems[2], Problem::Missing { expected, .. } if expected == &[32]));
    assert!(message.contains("bad.safetensors"), "{message}");
    assert!(
        message.contains("vgg11_bn (width 1/16, 3 input channels) (3 problems)"),
        "{message}"
    );
    assert!(
        message.contains("missing tensor features.0.weight (expected shape [4, 3, 3, 3])"),
        "{message}"
    );
}

#[test]
fn wrong_shape_names_tensor_and_both_shapes() {
    let mut tensors = tiny_vgg11();
    let at = tensors
        .iter()
        .position(|(n, _)| n == "features.8.weight")
        .unwrap();
    tensors[at].1 = vec![16, 8, 1, 9];
    let (problems, message) = mismatch(&f32_entries(&tensors));
    assert_eq!(
        problems,
        [Problem::Shape {
            name: "features.8.weight".into(),
            expected: vec![16, 8, 3, 3],
            actual: vec![16, 8, 1, 9]
        }]
    );
    assert!(
        message
            .contains("tensor features.8.weight has shape [16, 8, 1, 9], expected [16, 8, 3, 3]"),
        "{message}"
    );
}

#[test]
fn integer_weights_are_rejected() {
    let mut entries = f32_entries(&tiny_vgg11());
    let at = entries
        .iter()
        .position(|e| e.name == "features.5.running_mean")
        .unwrap();
    entries[at].dtype = Dtype::I64;
    entries[at].data = Data::Bytes(common::encode(0, 8, Dtype::I64));
    let (problems, message) = mismatch(&entries);
    assert_eq!(
        problems,
        [Problem::DType {
            name: "features.5.running_mean".into(),
            actual: "I64".into()
        }]
    );
    assert!(
        message.contains("features.5.running_mean has dtype I64, expected F32, F16, BF16 or F64"),
        "{message}"
    );
}

#[test]
fn unexpected_feature_tensors_are_errors() {
    // A vgg11_bn file with one more conv block, as a deeper network would have.
    let mut tensors = tiny_vgg11();
    tensors.push(("features.29.weight".into(), vec![32, 32, 3, 3]));
    let (problems, message) = mismatch(&f32_entries(&tensors));
    assert_eq!(
        problems,
        [Problem::Unexpected {
            name: "features.29.weight".into(),
            shape: vec![32, 32, 3, 3]
        }]
    );
    assert!(
        message.contains("unexpected tensor features.29.weight"),
        "{message}"
    );
}

#[test]
fn a_file_of_another_depth_lists_its_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "vgg16.safetensors",
        &common::vgg16_checkpoint(Dtype::F16, vec![]),
    );
    let config = VggConfig {
        depth: Depth::Vgg19,
        ..Default::default()
    };
    let Err(Error::Mismatch { problems, .. }) = load_weights(&path, &config, &Device::Cpu) else {
        panic!("a vgg16_bn file must not load as vgg19_bn");
    };
    // vgg19_bn's conv at 23 is missing from vgg16_bn, whose features.24.weight is a conv
    // kernel where vgg19_bn has a batch-norm scale.
    let shape_24 = Problem::Shape {
        name: "features.24.weight".into(),
        expected: vec![256],
        actual: vec![512, 256, 3, 3],
    };
    assert!(problems.contains(&shape_24), "{problems:?}");
    assert!(problems.contains(&Problem::Missing {
        name: "features.23.weight".into(),
        expected: vec![256, 256, 3, 3]
    }));
}

#[test]
fn not_a_safetensors_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("weights.pth");
    std::fs::write(
        &text,
        b"PK\x03\x04 this is a zip archive, as torch.save writes",
    )
    .unwrap();
    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    common::write_safetensors(&truncated, &f32_entries(&tiny_vgg11()));
    let len = std::fs::metadata(&truncated).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(len - 4)
        .unwrap();
    let bad_json = dir.path().join("json.safetensors");
    std::fs::write(&bad_json, [&4u64.to_le_bytes()[..], b"{no}"].concat()).unwrap();
    for (path, needle) in [
        (&text, "header length field says"),
        (&empty, "fewer than the 8"),
        (&truncated, "truncated"),
        (&bad_json, "not valid safetensors JSON"),
    ] {
        let err = load_weights(path, &tiny_config(), &Device::Cpu).unwrap_err();
        assert!(matches!(err, Error::NotSafetensors { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&path.display().to_string()) && message.contains(needle),
            "{message}"
        );
    }
}

#[test]
fn file_not_found_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.safetensors");
    let err = load_weights(&path, &tiny_config(), &Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    assert!(err.to_string().contains("nowhere.safetensors"), "{err}");
}

#[test]
fn invalid_config_is_reported_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let config = VggConfig {
        width_divisor: 7,
        ..Default::default()
    };
    let err = load_weights(dir.path().join("missing"), &config, &Device::Cpu).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config {
                field: "width_divisor",
                ..
            }
        ),
        "{err:?}"
    );
}
