//! One test per loading error: every message names the file or tensor and what was expected.

mod common;

use candle_core::Device;
use common::{Data, f32_entries, tiny_config, tiny_vgg11, write};
use la_vgg::{Depth, Error, Problem, VggConfig, load_weights};
use safetensors::Dtype;

fn mismatch(entries: &[common::Entry]) -> (Vec<Problem>, String) {
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
