//! What `la info` shows: the network of a configuration and what a weights file holds.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::Device;
use la_segnet::{AutoEncoder, HasParams};
use la_vgg::{Depth, VggConfig};

use crate::Result;
use crate::config::RunConfig;
use crate::run::model_config;

/// The network of a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSummary {
    /// The backbone, in words (e.g. `VGG16-bn, width 1/8, 3 input channels`).
    pub network: String,
    /// Trainable parameters of the auto-encoder per parameter group.
    pub parameters: BTreeMap<String, usize>,
}

impl ModelSummary {
    /// The summary of the network of `config` (built on the CPU, not trained).
    pub fn of(config: &RunConfig) -> Result<Self> {
        let model = model_config(config)?;
        let ae = AutoEncoder::new(&model, &Device::Cpu)?;
        let mut parameters = BTreeMap::new();
        for p in ae.trainable() {
            *parameters.entry(format!("{:?}", p.group)).or_insert(0) += p.var.elem_count();
        }
        Ok(ModelSummary {
            network: model.vgg.to_string(),
            parameters,
        })
    }
}

/// What a safetensors file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSummary {
    /// Number of tensors.
    pub tensors: usize,
    /// Number of values in all of them.
    pub values: usize,
    /// Their element types, sorted, without repeats.
    pub dtypes: Vec<String>,
    /// Each full-width VGG the file fits as pretrained weights, with the tensors it uses.
    pub fits: Vec<(String, usize)>,
}

impl WeightsSummary {
    /// Reads the safetensors file at `path`.
    pub fn of(path: &Path) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            crate::Error::RunFile {
                path: path.to_path_buf(),
                problem: format!("not a readable safetensors file: {e}"),
            }
        })?;
        let mut dtypes: Vec<String> = tensors
            .values()
            .map(|t| format!("{:?}", t.dtype()))
            .collect();
        dtypes.sort();
        dtypes.dedup();
        let fits = Depth::ALL
            .into_iter()
            .filter_map(|depth| {
                let config = VggConfig {
                    depth,
                    ..Default::default()
                };
                let used = la_vgg::load_weights(path, &config, &Device::Cpu).ok()?;
                Some((config.to_string(), used.tensors().len()))
            })
            .collect();
        Ok(WeightsSummary {
            tensors: tensors.len(),
            values: tensors.values().map(|t| t.elem_count()).sum(),
            dtypes,
            fits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;

    #[test]
    fn weights_summary_counts_tensors_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let a = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::zeros(5, candle_core::DType::U32, &Device::Cpu).unwrap();
        candle_core::safetensors::save(&[("a", a), ("b", b)].into_iter().collect(), &path).unwrap();
        let s = WeightsSummary::of(&path).unwrap();
        assert_eq!((s.tensors, s.values), (2, 11));
        assert_eq!(s.dtypes, ["F32", "U32"]);
        assert!(s.fits.is_empty());
    }
}
