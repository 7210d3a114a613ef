//! Strict loading of the `features` tensors of a VGG-bn checkpoint from a safetensors file.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::Dtype;
use safetensors::tensor::TensorInfo;

use crate::names::{NameKind, classify_name};
use crate::st_file::SafetensorsFile;
use crate::{Error, Problem, TensorSpec, VggConfig, tensor_specs};

/// The `features` tensors of a checkpoint, checked against a [`VggConfig`] and converted to
/// f32, under their canonical torchvision names (`features.{i}.weight`, ..).
#[derive(Debug, Clone)]
pub struct VggWeights {
    tensors: HashMap<String, Tensor>,
    ignored: Vec<String>,
    unexpected: Vec<String>,
}

impl VggWeights {
    /// The tensor with this canonical name, if the network has it.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Every tensor, by canonical name: exactly the names of [`tensor_specs`].
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    /// The tensors, by canonical name.
    pub fn into_tensors(self) -> HashMap<String, Tensor> {
        self.tensors
    }

    /// Names in the file that were skipped as expected: the classifier (`classifier.*`,
    /// `pre_logits.*`, `head.*`) and batch counters (`num_batches_tracked`). Sorted.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Names in the file outside `features` that are not a known classifier either: not an
    /// error, but worth a warning from the caller (a file of another model?). Sorted.
    pub fn unexpected(&self) -> &[String] {
        &self.unexpected
    }
}

/// Loads the `features` tensors of `config` from a torchvision or timm safetensors file.
///
/// Every expected tensor must be present with its exact shape and a float dtype (F32, F16,
/// BF16 or F64; all are converted to f32). Otherwise the error is [`Error::Mismatch`], listing
/// every missing tensor, wrong shape and wrong dtype at once, as well as tensors under
/// `features.` that the network lacks. The classifier and `num_batches_tracked` are skipped;
/// other names are reported by [`VggWeights::unexpected`]. Only the needed tensors are read.
pub fn load_weights(
    path: impl AsRef<Path>,
    config: &VggConfig,
    device: &Device,
) -> Result<VggWeights, Error> {
    load_weights_with_prefix(path, "", config, device)
}

/// As [`load_weights`], for files whose names carry a prefix before `features.`, e.g.
/// `encoder.` in a checkpoint of a whole auto-encoder. The returned names have no prefix.
pub fn load_weights_with_prefix(
    path: impl AsRef<Path>,
    prefix: &str,
    config: &VggConfig,
    device: &Device,
) -> Result<VggWeights, Error> {
    let specs = tensor_specs(config)?;
    let mut file = SafetensorsFile::open(path.as_ref())?;
    let checked = check(&file, prefix, &specs);
    if !checked.problems.is_empty() {
        return Err(Error::Mismatch {
            path: file.path().to_path_buf(),
            network: config.to_string(),
            problems: checked.problems,
        });
    }
    let mut tensors = HashMap::with_capacity(specs.len());
    for found in checked.found {
        let bytes = file.read(&found.info)?;
        let tensor = Tensor::from_raw_buffer(&bytes, found.dtype, &found.info.shape, device)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|source| Error::Tensor {
                name: found.name.clone(),
                source,
            })?;
        tensors.insert(found.name, tensor);
    }
    Ok(VggWeights {
        tensors,
        ignored: checked.ignored,
        unexpected: checked.unexpected,
    })
}

/// The outcome of comparing a file's header with the specs.
struct Checked {
    /// Expected tensors present with a float dtype (whether their shape fits or not).
    found: Vec<Found>,
    problems: Vec<Problem>,
    ignored: Vec<String>,
    unexpected: Vec<String>,
}

/// An expected tensor found in the file.
struct Found {
    /// Canonical name.
    name: String,
    info: TensorInfo,
    dtype: DType,
}

/// Compares the file's header with the specs, without reading any tensor data.
fn check(file: &SafetensorsFile, prefix: &str, specs: &[TensorSpec]) -> Checked {
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    for spec in specs {
        let name = format!("{prefix}{}", spec.name);
        let Some(info) = file.info(&name) else {
            problems.push(Problem::Missing {
                name,
                expected: spec.shape.clone(),
            });
            continue;
        };
        match to_candle(info.dtype) {
            Some(dtype) => found.push(Found {
                name: spec.name.clone(),
                info: info.clone(),
                dtype,
            }),
            None => {
                let actual = format!("{:?}", info.dtype);
                problems.push(Problem::DType {
                    name: name.clone(),
                    actual,
                });
            }
        }
        if info.shape != spec.shape {
            let (expected, actual) = (spec.shape.clone(), info.shape.clone());
            problems.push(Problem::Shape {
                name,
                expected,
                actual,
            });
        }
    }
    let known: HashSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut extra = Vec::new();
    let (mut ignored, mut unexpected) = (Vec::new(), Vec::new());
    for (name, info) in file.tensors() {
        match classify_name(&name, prefix) {
            NameKind::Feature(canonical) if known.contains(canonical) => {}
            NameKind::Feature(_) => extra.push(Problem::Unexpected {
                shape: info.shape.clone(),
                name,
            }),
            NameKind::BatchCounter | NameKind::Classifier => ignored.push(name),
            NameKind::Other => unexpected.push(name),
        }
    }
    extra.sort_by(|a, b| a.name().cmp(b.name()));
    problems.extend(extra);
    ignored.sort();
    unexpected.sort();
    Checked {
        found,
        problems,
        ignored,
        unexpected,
    }
}

/// The candle dtype of a float safetensors dtype; `None` for every other dtype.
fn to_candle(dtype: Dtype) -> Option<DType> {
    match dtype {
        Dtype::F32 => Some(DType::F32),
        Dtype::F16 => Some(DType::F16),
        Dtype::BF16 => Some(DType::BF16),
        Dtype::F64 => Some(DType::F64),
        _ => None,
    }
}
