//! Fuzz-style property test of model loading: from valid checkpoints of a tiny auto-encoder
//! and embedder, a few hundred seeded mutations of their bytes, of the numbers and dtypes in
//! their JSON header and of the header-length field, plus random files, loaded through every
//! entry point (`AutoEncoder::load`, `Encoder::load`, `Encoder::load_pretrained`,
//! `Embedder::load`, `Backbone::load_from`): each must load or give an error naming the file,
//! never panic.

#[path = "../../la-data/tests/mutate/mod.rs"]
mod mutate;

use std::path::Path;

use candle_core::Device;
use la_segnet::{AutoEncoder, Backbone, Embedder, EmbedderConfig, Encoder, ModelConfig, save};
use la_vgg::{Depth, VggConfig};
use mutate::{Case, Field};
use rand::Rng;

fn tiny() -> ModelConfig {
    ModelConfig {
        vgg: VggConfig {
            depth: Depth::Vgg11,
            width_divisor: 64,
            ..Default::default()
        },
        seed: 3,
    }
}

fn embedder_config() -> EmbedderConfig {
    EmbedderConfig {
        projection: Some(4),
        ..Default::default()
    }
}

/// The JSON header and the data section of a safetensors file.
fn split(file: &[u8]) -> (&[u8], &[u8]) {
    let header_len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    file[8..].split_at(header_len)
}

/// A safetensors file with this header (its length field matching) and data.
fn join(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(data);
    out
}

/// Dtype names, some of the same width as the F32 the checkpoints hold (so that the header
/// still validates), some that candle reads as placeholder types (F4, F6_*, F8_E8M0).
const DTYPES: [&str; 10] = [
    "I32", "U32", "F16", "BF16", "U8", "F4", "F6_E2M3", "F8_E8M0", "F8_E4M3", "BOOL",
];

/// Replaces one `"F32"` of the header with another dtype name.
fn mutate_dtype(case: &mut Case, header: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(header.to_vec()).unwrap();
    let count = text.matches("\"F32\"").count();
    let nth = case.rng().random_range(0..count);
    let at = text.match_indices("\"F32\"").nth(nth).unwrap().0;
    let new = DTYPES[case.rng().random_range(0..DTYPES.len())];
    case.note(format_args!("dtype at {at} -> {new}"));
    format!("{}\"{new}\"{}", &text[..at], &text[at + 5..]).into_bytes()
}

/// A mutated checkpoint: its bytes, its header (numbers, dtypes or bytes, the length field
/// kept right), its data section, or random bytes.
fn mutated(case: &mut Case, valid: &[u8]) -> Vec<u8> {
    let (header, data) = split(valid);
    match case.rng().random_range(0..6) {
        0 => case.mutate(valid, &[Field::le(0, 8)]),
        1 => {
            case.note("header mutated");
            join(&case.mutate(header, &[]), data)
        }
        2 => join(&case.mutate_number(header), data),
        3 => join(&mutate_dtype(case, header), data),
        4 => {
            case.note("data mutated");
            join(header, &case.mutate(data, &[]))
        }
        _ => case.random_bytes(64),
    }
}

/// Loads `path` through one of the entry points, chosen by `how`.
fn load(how: u32, path: &Path) -> la_segnet::Result<()> {
    let device = Device::Cpu;
    match how {
        0 => AutoEncoder::new(&tiny(), &device)?.load(path),
        1 => Encoder::init(&tiny(), &device)?.load(path),
        2 => Encoder::init(&tiny(), &device)?.load_pretrained(path),
        3 => Embedder::new(Encoder::init(&tiny(), &device)?, &embedder_config())?.load(path),
        _ => Encoder::init(&tiny(), &device)?.load_from(path),
    }
}

#[test]
fn mutated_checkpoints_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::Cpu;
    let ae_path = dir.path().join("ae.safetensors");
    save(&AutoEncoder::new(&tiny(), &device).unwrap(), &ae_path).unwrap();
    let embedder = Embedder::new(Encoder::init(&tiny(), &device).unwrap(), &embedder_config());
    let embedder_path = dir.path().join("embedder.safetensors");
    save(&embedder.unwrap(), &embedder_path).unwrap();
    // (file, the entry points that load it unchanged)
    let valid = [
        (std::fs::read(&ae_path).unwrap(), [0, 1, 4]),
        (std::fs::read(&embedder_path).unwrap(), [3, 4, 4]),
    ];
    for (bytes, hows) in &valid {
        std::fs::write(&ae_path, bytes).unwrap();
        for &how in hows {
            load(how, &ae_path).expect("the valid checkpoint loads");
        }
    }
    let path = dir.path().join("case.safetensors");
    mutate::run("checkpoint", 8000, 400, |case| {
        let (valid, hows) = &valid[case.rng().random_range(0..valid.len())];
        let bytes = mutated(case, valid);
        std::fs::write(&path, &bytes).unwrap();
        // Mostly the entry points the file is for, so that mutations that keep it valid load.
        let how = if case.rng().random_bool(0.8) {
            hows[case.rng().random_range(0..hows.len())]
        } else {
            case.rng().random_range(0..5)
        };
        case.note(format_args!("entry point {how}"));
        match load(how, &path) {
            Ok(()) => Ok(()),
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
    join(format!("{{{}}}", tensors.join(",")).as_bytes(), &[])
}

#[test]
fn lying_headers_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ae.safetensors");
    save(&AutoEncoder::new(&tiny(), &Device::Cpu).unwrap(), &path).unwrap();
    let valid = std::fs::read(&path).unwrap();
    let with_len = |len: u64| {
        let mut bytes = valid.clone();
        bytes[..8].copy_from_slice(&len.to_le_bytes());
        bytes
    };
    let cases = [
        ("offsets past u64", header_past_u64()),
        ("length u64::MAX", with_len(u64::MAX)),
        ("length past the end", with_len(valid.len() as u64 - 7)),
        ("length 0", with_len(0)),
        ("truncated", valid[..valid.len() - 1].to_vec()),
        ("header cut", valid[..20].to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        for how in 0..5 {
            let err = load(how, &path).unwrap_err();
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{what}, entry point {how}: {err}"
            );
        }
    }
}

/// The auto-encoder's checkpoint with its first 1-D variable of even length stored as F4 (two
/// 4-bit values a byte, so that the header validates), a dtype candle reads as a placeholder
/// that it cannot convert.
fn checkpoint_with_a_4_bit_tensor() -> Vec<u8> {
    let ae = AutoEncoder::new(&tiny(), &Device::Cpu).unwrap();
    let state = la_segnet::state(&ae).unwrap();
    let mut names: Vec<&String> = state.keys().collect();
    names.sort();
    let four_bit = names
        .iter()
        .find(|n| state[**n].dims().len() == 1 && state[**n].dims()[0].is_multiple_of(2))
        .expect("a 1-D variable of even length");
    let bytes: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| {
            let values: Vec<f32> = state[*n].flatten_all().unwrap().to_vec1().unwrap();
            let bytes = if n == four_bit {
                vec![0x11; values.len() / 2]
            } else {
                values.iter().flat_map(|v| v.to_le_bytes()).collect()
            };
            (n.to_string(), bytes)
        })
        .collect();
    let views = bytes.iter().map(|(n, b)| {
        let dtype = if n == *four_bit {
            safetensors::Dtype::F4
        } else {
            safetensors::Dtype::F32
        };
        let view = safetensors::tensor::TensorView::new(dtype, state[n].dims().to_vec(), b);
        (n.clone(), view.unwrap())
    });
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn a_placeholder_dtype_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f4.safetensors");
    std::fs::write(&path, checkpoint_with_a_4_bit_tensor()).unwrap();
    let err = load(0, &path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}
