//! Test helpers: a safetensors writer whose trailing tensors may be left as sparse zeros (so
//! that full-size VGG checkpoints with their 500 MB classifier cost neither time nor disk), and
//! synthesized vgg16_bn state dicts with torchvision or timm names.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::Dtype;
use safetensors::tensor::{Metadata, TensorInfo};

/// What a tensor of a written file holds.
pub enum Data {
    /// These little-endian bytes.
    Bytes(Vec<u8>),
    /// Zeros, left as a hole in the file; only allowed after every `Bytes` entry.
    Zeros,
}

/// One tensor of a written file.
pub struct Entry {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Data,
}

/// Bytes per element of the dtypes the tests write.
pub fn dtype_size(dtype: Dtype) -> usize {
    match dtype {
        Dtype::F64 | Dtype::I64 => 8,
        Dtype::F32 | Dtype::I32 => 4,
        Dtype::F16 | Dtype::BF16 => 2,
        Dtype::U8 => 1,
        other => panic!("test writer does not know {other:?}"),
    }
}

/// Writes `entries` as a safetensors file, data in the order given.
pub fn write_safetensors(path: &Path, entries: &[Entry]) {
    let mut offset = 0;
    let mut infos = Vec::new();
    for e in entries {
        let len = e.shape.iter().product::<usize>() * dtype_size(e.dtype);
        if let Data::Bytes(b) = &e.data {
            assert_eq!(b.len(), len, "{}", e.name);
        }
        let info = TensorInfo {
            dtype: e.dtype,
            shape: e.shape.clone(),
            data_offsets: (offset, offset + len),
        };
        infos.push((e.name.clone(), info));
        offset += len;
    }
    let metadata = Metadata::new(None, infos).expect("valid test metadata");
    let mut header = serde_json::to_string(&metadata).unwrap().into_bytes();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut file = File::create(path).unwrap();
    file.write_all(&(header.len() as u64).to_le_bytes())
        .unwrap();
    file.write_all(&header).unwrap();
    let mut zeros_started = false;
    for e in entries {
        match &e.data {
            Data::Bytes(b) => {
                assert!(
                    !zeros_started,
                    "{}: Bytes entry after a Zeros entry",
                    e.name
                );
                file.write_all(b).unwrap();
            }
            Data::Zeros => zeros_started = true,
        }
    }
    file.set_len((8 + header.len() + offset) as u64).unwrap();
}

/// The value the synthesized checkpoints hold at flat position `k` of their `t`-th tensor:
/// multiples of 1/64 in [-2, 2), exact in f16 and bf16.
pub fn value(t: usize, k: usize) -> f32 {
    ((k * 7 + t * 13) % 256) as f32 / 64.0 - 2.0
}

/// `n` values of tensor `t` encoded as `dtype`.
pub fn encode(t: usize, n: usize, dtype: Dtype) -> Vec<u8> {
    let values = (0..n).map(|k| value(t, k));
    match dtype {
        Dtype::F32 => values.flat_map(f32::to_le_bytes).collect(),
        Dtype::F64 => values.flat_map(|v| f64::from(v).to_le_bytes()).collect(),
        Dtype::F16 => values
            .flat_map(|v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
        Dtype::BF16 => values
            .flat_map(|v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
        Dtype::I64 => (0..n).flat_map(|k| (k as i64).to_le_bytes()).collect(),
        other => panic!("test encoder does not know {other:?}"),
    }
}

// vgg16_bn as torchvision builds it, written down independently of la-vgg's plan code.
// Produced with torchvision 0.29.2:
//
//     import torchvision
//     m = torchvision.models.vgg16_bn()
//     convs = [(i, l.in_channels, l.out_channels) for i, l in enumerate(m.features)
//              if l.__class__.__name__ == "Conv2d"]
//     print([c[0] for c in convs]); print([c[2] for c in convs])
//     print([(k, tuple(v.shape)) for k, v in m.state_dict().items() if not k.startswith("features.")])
//
// which printed
//
//     [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]
//     [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
//     [('classifier.0.weight', (4096, 25088)), ('classifier.0.bias', (4096,)),
//      ('classifier.3.weight', (4096, 4096)), ('classifier.3.bias', (4096,)),
//      ('classifier.6.weight', (1000, 4096)), ('classifier.6.bias', (1000,))]
//
// and the last `features` keys of its state dict are features.40.weight, features.40.bias,
// features.41.{weight, bias, running_mean, running_var, num_batches_tracked}.
pub const VGG16_CONV_INDICES: [usize; 13] = [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40];
pub const VGG16_CONV_OUT: [usize; 13] = [
    64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512,
];
/// Parameters and running statistics of vgg16_bn's `features` (torchvision: 14731584).
pub const VGG16_FEATURE_ELEMENTS: usize = 14_731_584;

/// The classifier of torchvision's vgg16_bn (shapes above).
pub fn torchvision_head() -> Vec<(String, Vec<usize>)> {
    [
        ("classifier.0.weight", vec![4096, 25088]),
        ("classifier.0.bias", vec![4096]),
        ("classifier.3.weight", vec![4096, 4096]),
        ("classifier.3.bias", vec![4096]),
        ("classifier.6.weight", vec![1000, 4096]),
        ("classifier.6.bias", vec![1000]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect()
}

/// The same classifier as timm stores it (timm `models/vgg.py`, `_filter_fn`: classifier.0 ->
/// pre_logits.fc1 as a 7x7 conv, classifier.3 -> pre_logits.fc2 as a 1x1 conv,
/// classifier.6 -> head.fc).
pub fn timm_head() -> Vec<(String, Vec<usize>)> {
    [
        ("pre_logits.fc1.weight", vec![4096, 512, 7, 7]),
        ("pre_logits.fc1.bias", vec![4096]),
        ("pre_logits.fc2.weight", vec![4096, 4096, 1, 1]),
        ("pre_logits.fc2.bias", vec![4096]),
        ("head.fc.weight", vec![1000, 4096]),
        ("head.fc.bias", vec![1000]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect()
}

/// The `features` tensors of vgg16_bn in state-dict order: (name, shape), without
/// `num_batches_tracked`.
pub fn vgg16_features() -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut in_ch = 3;
    for (&i, &c) in VGG16_CONV_INDICES.iter().zip(&VGG16_CONV_OUT) {
        out.push((format!("features.{i}.weight"), vec![c, in_ch, 3, 3]));
        out.push((format!("features.{i}.bias"), vec![c]));
        for s in ["weight", "bias", "running_mean", "running_var"] {
            out.push((format!("features.{}.{s}", i + 1), vec![c]));
        }
        in_ch = c;
    }
    out
}

/// A full-size vgg16_bn checkpoint: `features` in `dtype` holding [`value`]s (tensor `t` is
/// the `t`-th of [`vgg16_features`]), the batch counters, then `head` as sparse zeros.
pub fn vgg16_checkpoint(dtype: Dtype, head: Vec<(String, Vec<usize>)>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = vgg16_features()
        .into_iter()
        .enumerate()
        .map(|(t, (name, shape))| {
            let data = Data::Bytes(encode(t, shape.iter().product(), dtype));
            Entry {
                name,
                dtype,
                shape,
                data,
            }
        })
        .collect();
    for i in VGG16_CONV_INDICES {
        let name = format!("features.{}.num_batches_tracked", i + 1);
        let data = Data::Bytes(encode(0, 1, Dtype::I64));
        entries.push(Entry {
            name,
            dtype: Dtype::I64,
            shape: vec![],
            data,
        });
    }
    for (name, shape) in head {
        entries.push(Entry {
            name,
            dtype,
            shape,
            data: Data::Zeros,
        });
    }
    entries
}

/// Writes `entries` to `dir/file` and returns the path.
pub fn write(dir: &Path, file: &str, entries: &[Entry]) -> PathBuf {
    let path = dir.join(file);
    write_safetensors(&path, entries);
    path
}

/// A tiny vgg11_bn (width 1/16) checkpoint in f32, as (name, shape) pairs in the torchvision
/// layout: conv indices 0, 4, 8, 11, 15, 18, 22, 25 (torchvision vgg11_bn, see tests/plan.rs).
pub fn tiny_vgg11() -> Vec<(String, Vec<usize>)> {
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

/// The network [`tiny_vgg11`] fits.
pub fn tiny_config() -> la_vgg::VggConfig {
    la_vgg::VggConfig {
        depth: la_vgg::Depth::Vgg11,
        width_divisor: 16,
        in_channels: 3,
    }
}

/// Entries holding [`value`]s in f32 (tensor `t` is the `t`-th of `tensors`).
pub fn f32_entries(tensors: &[(String, Vec<usize>)]) -> Vec<Entry> {
    tensors
        .iter()
        .enumerate()
        .map(|(t, (name, shape))| Entry {
            name: name.clone(),
            dtype: Dtype::F32,
            shape: shape.clone(),
            data: Data::Bytes(encode(t, shape.iter().product(), Dtype::F32)),
        })
        .collect()
}
