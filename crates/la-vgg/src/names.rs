//! Checkpoint tensor names (torchvision's `features.{i}.*`, shared by timm) and the pure
//! function that sorts the names found in a file.

use crate::{Error, FeatureLayer, VggConfig};

/// What a tensor of the `features` part holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorRole {
    /// Convolution kernel, `[out, in, 3, 3]`.
    ConvWeight,
    /// Convolution bias, `[out]`.
    ConvBias,
    /// Batch-norm scale (gamma), `[channels]`.
    BnWeight,
    /// Batch-norm shift (beta), `[channels]`.
    BnBias,
    /// Batch-norm running mean, `[channels]`.
    RunningMean,
    /// Batch-norm running variance, `[channels]`.
    RunningVar,
}

impl TensorRole {
    /// The suffix after `features.{i}.` in a torchvision state dict.
    pub fn suffix(self) -> &'static str {
        match self {
            TensorRole::ConvWeight | TensorRole::BnWeight => "weight",
            TensorRole::ConvBias | TensorRole::BnBias => "bias",
            TensorRole::RunningMean => "running_mean",
            TensorRole::RunningVar => "running_var",
        }
    }

    /// Whether the tensor is a trained parameter (false for the running statistics).
    pub fn is_parameter(self) -> bool {
        !matches!(self, TensorRole::RunningMean | TensorRole::RunningVar)
    }
}

/// One tensor a VGG-bn `features` state dict must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Canonical name, `features.{layer_index}.{suffix}`.
    pub name: String,
    /// Expected shape.
    pub shape: Vec<usize>,
    /// What it holds.
    pub role: TensorRole,
    /// Index in `features` of the layer owning it (conv or batch norm).
    pub layer_index: usize,
}

/// The name of a tensor of `features`: `features.{index}.{suffix}`.
pub fn feature_tensor_name(index: usize, suffix: &str) -> String {
    format!("{FEATURES_PREFIX}{index}.{suffix}")
}

const FEATURES_PREFIX: &str = "features.";

/// Every tensor of the `features` part of `config`, in torchvision's state-dict order:
/// per conv block, conv weight and bias, then batch-norm weight, bias, running mean and
/// running variance (`num_batches_tracked` is not needed and not listed).
pub fn tensor_specs(config: &VggConfig) -> Result<Vec<TensorSpec>, Error> {
    let mut specs = Vec::new();
    for layer in config.features()? {
        let FeatureLayer::Conv {
            index,
            in_channels,
            out_channels,
        } = layer
        else {
            continue;
        };
        let conv = [
            (
                TensorRole::ConvWeight,
                vec![out_channels, in_channels, 3, 3],
            ),
            (TensorRole::ConvBias, vec![out_channels]),
        ];
        let bn = [
            TensorRole::BnWeight,
            TensorRole::BnBias,
            TensorRole::RunningMean,
            TensorRole::RunningVar,
        ]
        .map(|role| (role, vec![out_channels]));
        let owned = conv
            .into_iter()
            .map(|c| (index, c))
            .chain(bn.into_iter().map(|b| (index + 1, b)));
        specs.extend(owned.map(|(layer_index, (role, shape))| TensorSpec {
            name: feature_tensor_name(layer_index, role.suffix()),
            shape,
            role,
            layer_index,
        }));
    }
    Ok(specs)
}

/// How a tensor name found in a checkpoint relates to the `features` part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind<'a> {
    /// Under `features.`; the payload is the canonical name (the prefix removed).
    Feature(&'a str),
    /// `features.{i}.num_batches_tracked`: a batch counter, not needed for inference or
    /// fine-tuning.
    BatchCounter,
    /// The classifier of torchvision (`classifier.*`) or timm (`pre_logits.*`, `head.*`).
    Classifier,
    /// Anything else.
    Other,
}

/// Sorts a checkpoint name (timm's `_filter_fn` in reverse, as a pure function).
///
/// `prefix` is what precedes `features.` in the file: empty for torchvision and timm
/// checkpoints, e.g. `encoder.` for a whole auto-encoder. Classifier names are recognised
/// after the same prefix.
pub fn classify_name<'a>(name: &'a str, prefix: &str) -> NameKind<'a> {
    let Some(rest) = name.strip_prefix(prefix) else {
        return NameKind::Other;
    };
    if rest.starts_with(FEATURES_PREFIX) {
        return if rest.ends_with(".num_batches_tracked") {
            NameKind::BatchCounter
        } else {
            NameKind::Feature(rest)
        };
    }
    let head = ["classifier.", "pre_logits.", "head."];
    if head.iter().any(|h| rest.starts_with(h)) {
        NameKind::Classifier
    } else {
        NameKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_by_prefix() {
        assert_eq!(
            classify_name("features.40.weight", ""),
            NameKind::Feature("features.40.weight")
        );
        assert_eq!(
            classify_name("features.41.num_batches_tracked", ""),
            NameKind::BatchCounter
        );
        for head in [
            "classifier.6.bias",
            "pre_logits.fc1.weight",
            "head.fc.weight",
        ] {
            assert_eq!(classify_name(head, ""), NameKind::Classifier, "{head}");
        }
        assert_eq!(
            classify_name("model.features.0.weight", ""),
            NameKind::Other
        );
        assert_eq!(classify_name("featuresx.0.weight", ""), NameKind::Other);
        assert_eq!(
            classify_name("encoder.features.3.bias", "encoder."),
            NameKind::Feature("features.3.bias")
        );
        assert_eq!(
            classify_name("decoder.features.3.bias", "encoder."),
            NameKind::Other
        );
    }
}
