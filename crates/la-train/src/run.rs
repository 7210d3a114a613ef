//! A whole run, as the CLI starts it: data, stage 1, stage 2, final clustering and reports,
//! continuing from whatever checkpoints the run directory already holds.

use std::path::{Path, PathBuf};

use candle_core::Device;
use la_segnet::{
    AutoEncoder, Embedder, EmbedderConfig, Encoder, HasParams, Merger, ModelConfig, Param,
};
use la_vgg::{Depth, HfCache, Variant, VggConfig};

use crate::config::{MergerSpec, Precision, RunConfig, Weights};
use crate::data::RunData;
use crate::fingerprint::DataFingerprint;
use crate::monitor::{Event, Monitor};
use crate::report::{EvalReport, SkipRow};
use crate::run_dir::RunDir;
use crate::stage_ae::{AE_CHECKPOINT, train_autoencoder};
use crate::stage_embedding::{EMBEDDING_CHECKPOINT, train_embedding};
use crate::trainer::Outcome;
use crate::{Checkpoint, Result, RngStream, derive_seed};

/// Sets la-ops' convolution precision and restores the previous one when dropped.
struct PrecisionScope(la_ops::ConvPrecision);

impl PrecisionScope {
    fn set(precision: la_ops::ConvPrecision) -> Self {
        let previous = la_ops::conv_precision();
        la_ops::set_conv_precision(precision);
        PrecisionScope(previous)
    }
}

impl Drop for PrecisionScope {
    fn drop(&mut self) {
        la_ops::set_conv_precision(self.0);
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Finished, or stopped at a step boundary (resumable).
    pub outcome: Outcome,
    /// The evaluation, when the run finished.
    pub report: Option<EvalReport>,
}

/// Runs (or continues) the run of `config` in `dir` on `device`: every enabled stage, then the
/// final k-means and the reports. A stage whose checkpoint is complete is not trained again;
/// an incomplete one continues from its checkpoint. The convolutions multiply in
/// `config.model.precision` until it returns (a process-wide setting of la-ops).
pub fn run(
    config: &RunConfig,
    dir: &Path,
    device: &Device,
    monitor: &mut dyn Monitor,
) -> Result<RunSummary> {
    config.check()?;
    let _precision = PrecisionScope::set(config.model.precision.into());
    if config.model.precision == Precision::Bf16 && !la_ops::has_bf16_products() {
        monitor.event(&Event::Note {
            message: "this CPU has no AVX512-BF16: the convolutions multiply in f32".into(),
        });
    }
    let dir = RunDir::new(dir);
    dir.create()?;
    let data = open_data(config, device, monitor)?;
    crate::memory::check(config, data.len(), crate::memory::available())?;
    dir.check_data(&DataFingerprint::of(data.dataset()))?;
    let seed = config.seed;
    let mut ae = AutoEncoder::new(&model_config(config)?, device)?;
    if let Some(path) = pretrained_weights(&config.model.weights, config.model.vgg().0)? {
        ae.encoder().load_pretrained(&path)?;
    }
    if config.ae.enabled {
        let vars = ae.variables();
        let outcome = stage(
            &dir,
            AE_CHECKPOINT,
            config.ae.epochs,
            device,
            &vars,
            |resume| {
                let out = dir.path();
                train_autoencoder(&mut ae, &data, &config.ae, seed, out, resume, monitor)
            },
        )?;
        if outcome == Outcome::Stopped {
            return Ok(stopped());
        }
        la_segnet::save(&ae, dir.autoencoder())?;
        la_ops::release_freed_memory();
    }
    let (mut encoder, _) = ae.into_parts();
    encoder.set_frozen(false);
    let embedder = build_embedder(config, encoder, data.input_side())?;
    if config.embedding.enabled {
        let vars = embedder.variables();
        let outcome = stage(
            &dir,
            EMBEDDING_CHECKPOINT,
            config.embedding.epochs,
            device,
            &vars,
            |resume| {
                let (c, out) = (&config.embedding, dir.path());
                train_embedding(&embedder, &data, c, seed, out, resume, monitor)
            },
        )?;
        if outcome == Outcome::Stopped {
            return Ok(stopped());
        }
        la_ops::release_freed_memory();
    }
    // Without stage 2 the embedder is the (initial or pretrained) encoder and its merger.
    la_segnet::save(&embedder, dir.embedder())?;
    // A stop asked during the last step or the saves: the report is made on resume.
    if monitor.should_stop() {
        return Ok(stopped());
    }
    let report =
        crate::cluster_report::cluster_and_report(config, &data, &embedder, &dir, monitor)?;
    Ok(RunSummary {
        outcome: Outcome::Finished,
        report: Some(report),
    })
}

fn open_data(config: &RunConfig, device: &Device, monitor: &mut dyn Monitor) -> Result<RunData> {
    let data = RunData::open(&config.data, device)?;
    let skipped = data.dataset().skipped();
    if let Some(first) = skipped.first() {
        let first = SkipRow::from(first);
        let row = first
            .row
            .map(|r| format!(" (CSV row {r})"))
            .unwrap_or_default();
        monitor.event(&Event::Note {
            message: format!(
                "{} unreadable files left out while listing the data (more may follow when \
                 decoding; the run lists them all in skipped.csv); the first: {}{row}: {}",
                skipped.len(),
                first.path,
                first.reason
            ),
        });
    }
    Ok(data)
}

/// The embedder of `config` around `encoder` for square inputs of `side` pixels: merger and,
/// when stage 2 trains it, the projection (without stage 2 a projection would stay random,
/// so the merged code itself is the embedding).
pub fn build_embedder(config: &RunConfig, encoder: Encoder, side: u32) -> Result<Embedder> {
    let projection = config.model.projection;
    Ok(Embedder::new(
        encoder,
        &EmbedderConfig {
            merger: match config.model.merger {
                MergerSpec::Mean => Merger::Mean,
                MergerSpec::Flatten => Merger::Flatten,
            },
            projection: (config.embedding.enabled && projection > 0).then_some(projection),
            image_hw: (side as usize, side as usize),
            seed: derive_seed(config.seed, RngStream::ModelInit, 1, 0),
        },
    )?)
}

/// The network of `config`, seeded from the run's seed.
pub fn model_config(config: &RunConfig) -> Result<ModelConfig> {
    let (depth, width_divisor) = config.model.vgg();
    Ok(ModelConfig {
        vgg: VggConfig {
            depth,
            width_divisor,
            in_channels: 3,
        },
        seed: derive_seed(config.seed, RngStream::ModelInit, 0, 0),
    })
}

/// The file of the configured pretrained weights, if any: ImageNet weights come from the
/// Hugging Face cache (an error says how to put them there).
pub fn pretrained_weights(weights: &Weights, depth: Depth) -> Result<Option<PathBuf>> {
    match weights {
        Weights::None => Ok(None),
        Weights::Path(p) => Ok(Some(p.clone())),
        Weights::Imagenet => {
            let path = Variant::for_depth(depth)
                .cached_weights(&HfCache::from_env())
                .map_err(la_segnet::Error::from)?;
            Ok(Some(path))
        }
    }
}

fn stopped() -> RunSummary {
    RunSummary {
        outcome: Outcome::Stopped,
        report: None,
    }
}

/// One stage of a run: restores `vars` from the stage's checkpoint when it is complete,
/// otherwise trains, continuing from the checkpoint if there is one.
fn stage(
    dir: &RunDir,
    name: &str,
    epochs: usize,
    device: &Device,
    vars: &[Param],
    train: impl FnOnce(Option<&Checkpoint>) -> Result<Outcome>,
) -> Result<Outcome> {
    match load_checkpoint(dir, name, device)? {
        Some(done) if done.run.epoch as usize >= epochs => {
            done.restore_model(vars)?;
            Ok(Outcome::Finished)
        }
        resume => train(resume.as_ref()),
    }
}

fn load_checkpoint(dir: &RunDir, name: &str, device: &Device) -> Result<Option<Checkpoint>> {
    let (_, json) = Checkpoint::paths(&dir.checkpoints(), name);
    if !json.exists() {
        return Ok(None);
    }
    Checkpoint::load(&dir.checkpoints(), name, device).map(Some)
}
