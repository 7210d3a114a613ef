//! An estimate of the memory a run needs, checked before anything large is allocated, so
//! that an image size, batch size or width too large for the machine is a clear error and not
//! an abort.

use la_vgg::{FeatureLayer, VggConfig};

use crate::config::{ObjectiveKind, RunConfig};
use crate::{Error, Result};

/// Bytes per activation value in a training step of the encoder: the convolution's output
/// kept for backward (the batch norm, ReLU and pool are rebuilt from it, `la_ops::norm_conv2d`)
/// and, at the largest layer, its gradient, the rebuilt input and the gradient's accumulation
/// (calibrated on the measured peak of a 224-pixel step, docs/benchmarks.md: 3.6-3.8 GB at batch
/// 128 x 2 views, image cache included).
const TRAINING_BYTES_PER_VALUE: u64 = 4 * 3;

/// Bytes per activation value of the decoder in a training step: its transposed convolution,
/// batch norm and ReLU outputs are separate ops, each kept for backward, and their gradients
/// (calibrated on the measured peak of 7.4 GB at batch 128 before the encoder's fused op).
const DECODER_BYTES_PER_VALUE: u64 = 4 * 5;

/// Bytes per activation value when only embedding (no backward).
const INFERENCE_BYTES_PER_VALUE: u64 = 4 * 2;

/// Memory an embedding pass may take for its activations: batches are cut to fit, since
/// without a backward pass a smaller batch costs only a little speed.
const EMBEDDING_BUDGET: u64 = 2 << 30;

/// Images per batch when embedding every item: the training batch, or fewer when their
/// feature maps would pass [`EMBEDDING_BUDGET`] (large photos at full width).
pub fn embedding_batch(config: &RunConfig) -> Result<usize> {
    let batch = config.embedding.batch_size.max(config.ae.batch_size);
    let per_image = activations_per_image(config, u64::from(config.data.input_side()))?;
    let fits = EMBEDDING_BUDGET / (per_image * INFERENCE_BYTES_PER_VALUE).max(1);
    Ok((fits as usize).clamp(1, batch))
}

/// The estimated peak memory, in bytes, of `config` on `items` items: the image cache and the
/// largest step (a training step of either stage, or an embedding pass).
pub fn estimate(config: &RunConfig, items: usize) -> Result<u64> {
    let side = u64::from(config.data.effective_side());
    let input = u64::from(config.data.input_side());
    let cache = if config.data.cache {
        items as u64 * side * side * 3
    } else {
        0
    };
    let per_image = activations_per_image(config, input)?;
    let eval_batch = embedding_batch(config)? as u64;
    let mut step = per_image * INFERENCE_BYTES_PER_VALUE * eval_batch;
    if config.ae.enabled {
        // The decoder mirrors the encoder's activations.
        let per_value = TRAINING_BYTES_PER_VALUE + DECODER_BYTES_PER_VALUE;
        step = step.max(per_image * per_value * config.ae.batch_size as u64);
    }
    if config.embedding.enabled {
        let views = match config.embedding.objective {
            ObjectiveKind::LocalAggregation => 1,
            ObjectiveKind::Contrastive => 2,
        };
        let images = (views * config.embedding.batch_size) as u64;
        step = step.max(per_image * TRAINING_BYTES_PER_VALUE * images);
    }
    Ok(cache.saturating_add(step))
}

/// Values of the encoder's feature maps for one square image of `side` pixels.
fn activations_per_image(config: &RunConfig, side: u64) -> Result<u64> {
    let (depth, width_divisor) = config.model.vgg();
    let layers = VggConfig {
        depth,
        width_divisor,
        in_channels: 3,
    }
    .features()
    .map_err(la_segnet::Error::from)?;
    let mut area = side.saturating_mul(side);
    let mut values: u64 = 3 * area;
    for layer in layers {
        match layer {
            FeatureLayer::Conv { out_channels, .. } => {
                values = values.saturating_add(out_channels as u64 * area);
            }
            FeatureLayer::Pool { .. } => area /= 4,
        }
    }
    Ok(values)
}

/// Memory the system can give a new process now, where known (Linux: MemAvailable).
pub fn available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Fails with [`Error::Memory`] when the estimate for `config` on `items` items exceeds
/// `available` bytes (no check when that is unknown).
pub fn check(config: &RunConfig, items: usize, available: Option<u64>) -> Result<()> {
    let needed = estimate(config, items)?;
    match available {
        Some(available) if needed > available => Err(Error::Memory { needed, available }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_map_values_match_a_hand_count() {
        // VGG11 at width 1/8 on 32 x 32: 8 @ 32², pool, 16 @ 16², pool, 32 x 2 @ 8², pool,
        // 64 x 2 @ 4², pool, 64 x 2 @ 2², pool; plus the 3 input channels.
        let c = RunConfig::default();
        assert_eq!(c.model.vgg(), (la_vgg::Depth::Vgg11, 8));
        let expected = 3 * 1024 + 8 * 1024 + 16 * 256 + 2 * 32 * 64 + 2 * 64 * 16 + 2 * 64 * 4;
        assert_eq!(activations_per_image(&c, 32).unwrap(), expected);
    }

    #[test]
    fn the_estimate_grows_with_batch_and_side_and_refuses_what_does_not_fit() {
        let mut c = RunConfig::default();
        let small = estimate(&c, 2000).unwrap();
        c.embedding.batch_size *= 2;
        assert!(estimate(&c, 2000).unwrap() > small);
        c.data.side = Some(65_536);
        let err = check(&c, 9, Some(24 << 30)).unwrap_err().to_string();
        assert!(err.contains("GiB") && err.contains("--image-size"), "{err}");
        check(&RunConfig::default(), 2000, Some(24 << 30)).unwrap();
        check(&RunConfig::default(), 2000, None).unwrap();
    }

    #[test]
    fn embedding_batches_shrink_for_large_photos_at_full_width() {
        let mut c = RunConfig::default();
        assert_eq!(embedding_batch(&c).unwrap(), 128);
        c.model.backbone = crate::config::BackboneSpec::Vgg {
            depth: la_vgg::Depth::Vgg16,
            width_divisor: 1,
        };
        c.data.side = Some(224);
        let per_image = activations_per_image(&c, 224).unwrap() * INFERENCE_BYTES_PER_VALUE;
        let b = embedding_batch(&c).unwrap();
        assert!(b < 128 && b as u64 * per_image <= EMBEDDING_BUDGET, "{b}");
        assert!((b as u64 + 1) * per_image > EMBEDDING_BUDGET, "{b}");
    }
}
