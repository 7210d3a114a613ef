//! Loading synthesized checkpoints: full-size vgg16_bn files with timm and torchvision names
//! in f32 / f16 / bf16, other float dtypes, prefixed names.

mod common;

use candle_core::{DType, Device};
use common::{Data, Entry, f32_entries, tiny_config, tiny_vgg11, write};
use la_vgg::{Error, VggConfig, load_weights, load_weights_with_prefix};
use safetensors::Dtype;

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
    let Err(Error::Mismatch { problems, .. }) = load_weights(&path, &tiny_config(), &Device::Cpu)
    else {
        panic!("prefixed names must not load without the prefix");
    };
    assert_eq!(problems.len(), tiny_vgg11().len());
}
