//! Fuzz-style property test of the safetensors reader behind `load_weights`: from a valid tiny
//! VGG11-bn checkpoint, a few hundred seeded mutations of its bytes, of the numbers in its JSON
//! header (shapes and offsets) and of its header-length field, plus random files, each must
//! load or give an error naming the file, never panic.

mod common;
#[path = "../../la-data/tests/mutate/mod.rs"]
mod mutate;

use std::path::Path;

use candle_core::Device;
use la_vgg::{Depth, Error, VggConfig, load_weights, load_weights_with_prefix, tensor_specs};
use mutate::Field;
use rand::Rng;
use safetensors::Dtype;

use common::{Data, Entry};

fn tiny_config() -> VggConfig {
    VggConfig {
        depth: Depth::Vgg11,
        width_divisor: 64,
        ..Default::default()
    }
}

/// A valid checkpoint of [`tiny_config`] in f16, with a classifier tensor and a batch counter
/// that loading skips.
fn valid_checkpoint(path: &Path) -> Vec<u8> {
    let mut entries: Vec<Entry> = tensor_specs(&tiny_config())
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(t, spec)| Entry {
            data: Data::Bytes(common::encode(t, spec.shape.iter().product(), Dtype::F16)),
            name: spec.name,
            dtype: Dtype::F16,
            shape: spec.shape,
        })
        .collect();
    entries.push(Entry {
        name: "features.1.num_batches_tracked".into(),
        dtype: Dtype::I64,
        shape: vec![],
        data: Data::Bytes(common::encode(0, 1, Dtype::I64)),
    });
    entries.push(Entry {
        name: "classifier.0.bias".into(),
        dtype: Dtype::F32,
        shape: vec![3],
        data: Data::Bytes(common::encode(1, 3, Dtype::F32)),
    });
    common::write_safetensors(path, &entries);
    std::fs::read(path).unwrap()
}

/// The JSON header and the data section of a checkpoint.
fn split(file: &[u8]) -> (&[u8], &[u8]) {
    let header_len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    file[8..].split_at(header_len)
}

/// A checkpoint with this header (its length field matching) and data.
fn join(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(data);
    out
}

#[test]
fn mutated_checkpoints_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vgg.safetensors");
    let valid = valid_checkpoint(&path);
    let config = tiny_config();
    load_weights(&path, &config, &Device::Cpu).expect("the valid checkpoint loads");
    mutate::run("safetensors", 7000, 500, |case| {
        let (header, data) = split(&valid);
        let bytes = match case.rng().random_range(0..6) {
            0 => case.mutate(&valid, &[Field::le(0, 8)]),
            1 => {
                case.note("header mutated");
                join(&case.mutate(header, &[]), data)
            }
            2 => {
                let mut header = case.mutate_number(header);
                if case.rng().random_bool(0.3) {
                    header = case.mutate_number(&header);
                }
                join(&header, data)
            }
            3 => {
                case.note("data mutated");
                join(header, &case.mutate(data, &[]))
            }
            4 => {
                let mut bytes = case.rng().random_range(0..64u64).to_le_bytes().to_vec();
                bytes.extend(case.random_bytes(64));
                bytes
            }
            _ => case.random_bytes(32),
        };
        std::fs::write(&path, &bytes).unwrap();
        let loaded = if case.rng().random_bool(0.8) {
            load_weights(&path, &config, &Device::Cpu)
        } else {
            load_weights_with_prefix(&path, "encoder.", &config, &Device::Cpu)
        };
        match loaded {
            Ok(weights) if weights.tensors().len() == tensor_specs(&config).unwrap().len() => {
                Ok(())
            }
            Ok(weights) => Err(format!("{} tensors loaded", weights.tensors().len())),
            Err(err) if err.to_string().contains(&path.display().to_string()) => Ok(()),
            Err(err) => Err(format!("the error does not name the file: {err}")),
        }
    });
}

/// A header whose tensors are each valid but whose offsets add up to nearly `u64::MAX`: eight
/// `U8` tensors of 2^61 - 1 bytes.
fn header_past_u64() -> Vec<u8> {
    let size: u64 = (1 << 61) - 1;
    let tensors: Vec<String> = (0..8u64)
        .map(|i| {
            format!(
                r#""t{i}":{{"dtype":"U8","shape":[{size}],"data_offsets":[{},{}]}}"#,
                i * size,
                (i + 1) * size
            )
        })
        .collect();
    let header = format!("{{{}}}", tensors.join(","));
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.bytes());
    bytes
}

#[test]
fn lying_headers_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vgg.safetensors");
    let valid = valid_checkpoint(&path);
    let with_len = |len: u64| {
        let mut bytes = valid.clone();
        bytes[..8].copy_from_slice(&len.to_le_bytes());
        bytes
    };
    let file_len = valid.len() as u64;
    let mut cases = vec![
        ("offsets past u64", header_past_u64()),
        ("length u64::MAX", with_len(u64::MAX)),
        ("length past the end", with_len(file_len - 7)),
        ("length over 100 MB", with_len(100_000_001)),
        ("length 0", with_len(0)),
        ("length 2", with_len(2)),
    ];
    // Every cut of the first 100 bytes and a stride of the rest.
    for n in (0..100).chain((100..valid.len()).step_by(37)) {
        cases.push(("truncated", valid[..n].to_vec()));
    }
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let err = load_weights(&path, &tiny_config(), &Device::Cpu).unwrap_err();
        assert!(
            matches!(err, Error::NotSafetensors { .. }),
            "{what} ({} bytes): {err}",
            bytes.len()
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}
