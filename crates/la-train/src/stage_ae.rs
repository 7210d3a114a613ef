//! Stage 1: the auto-encoder learns to reconstruct its input (mean squared error).

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use la_data::{Batch, ImageGrid, Normalize};
use la_segnet::{AutoEncoder, HasParams, ParamGroup};

use crate::config::AeConfig;
use crate::data::RunData;
use crate::monitor::{Monitor, Stage};
use crate::trainer::{EpochLoop, Outcome, Position, StageTask};
use crate::{Checkpoint, Error, Optimizer, Result, RngStream, RunInfo, Sgd, derive_seed};

/// Name of stage 1's resumable checkpoint in the checkpoint folder.
pub const AE_CHECKPOINT: &str = "autoencoder";

/// Trains `model` for the epochs of `config` (from `resume` if given), writing a resumable
/// checkpoint to `dir/checkpoints` after every epoch and the reconstructions of a fixed
/// sample to `dir/reconstructions/epoch_NNN.png`.
pub fn train_autoencoder(
    model: &mut AutoEncoder,
    data: &RunData,
    config: &AeConfig,
    seed: u64,
    dir: &Path,
    resume: Option<&Checkpoint>,
    monitor: &mut dyn Monitor,
) -> Result<Outcome> {
    model.encoder_mut().set_frozen(config.freeze_encoder);
    let params = model
        .trainable()
        .into_iter()
        .filter(|p| !config.freeze_encoder || p.group == ParamGroup::Decoder)
        .collect();
    let mut sgd = Sgd::new(params, config.sgd.clone())?;
    let start = match resume {
        Some(ckpt) => {
            ckpt.restore_model(&model.variables())?;
            sgd.load_state(&ckpt.optimizer)?;
            Position::of(&ckpt.run)
        }
        None => Position::default(),
    };
    let loader = data.train_loader(
        config.batch_size,
        derive_seed(seed, RngStream::Shuffle, 0, 0),
        None,
    )?;
    let sample = fixed_sample(data, config.reconstructions)?;
    let mut task = AeTask {
        model,
        sgd,
        sample,
        normalize: *loader.pipeline().normalization(),
        dir: dir.join("reconstructions"),
    };
    let config_json =
        serde_json::to_value(config).map_err(|e| Error::config("ae", e, "serialisable"))?;
    EpochLoop {
        stage: Stage::AutoEncoder,
        epochs: config.epochs,
        base_lr: config.sgd.lr,
        schedule: &config.schedule,
        seed,
        config: config_json,
        checkpoint_dir: &dir.join("checkpoints"),
        checkpoint_name: AE_CHECKPOINT,
    }
    .run(&mut task, &loader, start, monitor)
}

/// The first `n` items, unaugmented: the images whose reconstructions are saved.
fn fixed_sample(data: &RunData, n: usize) -> Result<Option<Tensor>> {
    if n == 0 {
        return Ok(None);
    }
    let batch = data
        .eval_loader(n.min(data.len()))?
        .epoch(0)
        .next()
        .transpose()?;
    Ok(batch.map(|b| b.images))
}

struct AeTask<'a> {
    model: &'a AutoEncoder,
    sgd: Sgd,
    sample: Option<Tensor>,
    normalize: Normalize,
    dir: PathBuf,
}

impl StageTask for AeTask<'_> {
    fn step(&mut self, batch: &Batch, _at: Position, lr: f64, _: &mut dyn Monitor) -> Result<f64> {
        let x = &batch.images;
        let loss = (self.model.forward_t(x, true)? - x)?.sqr()?.mean_all()?;
        self.sgd.set_learning_rate(lr);
        self.sgd.backward_step(&loss)?;
        Ok(loss.to_dtype(candle_core::DType::F64)?.to_scalar()?)
    }

    fn epoch_end(&mut self, epoch: usize) -> Result<()> {
        let Some(sample) = &self.sample else {
            return Ok(());
        };
        let recon = self.model.forward_t(sample, false)?;
        save_reconstructions(
            sample,
            &recon,
            &self.normalize,
            &self.dir.join(format!("epoch_{epoch:03}.png")),
        )
    }

    fn checkpoint(&self, run: RunInfo) -> Result<Checkpoint> {
        let mut ckpt = Checkpoint::new(run);
        ckpt.model = la_segnet::state(self.model)?;
        ckpt.optimizer = self.sgd.state()?;
        Ok(ckpt)
    }
}

/// Originals above their reconstructions, row by row, un-normalised, as one PNG.
pub fn save_reconstructions(
    originals: &Tensor,
    reconstructions: &Tensor,
    normalize: &Normalize,
    path: &Path,
) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    let originals = normalize.to_images(originals)?;
    let recon = normalize.to_images(reconstructions)?;
    let columns = originals.len().clamp(1, 8);
    let mut images = Vec::with_capacity(2 * originals.len());
    for (o, r) in originals.chunks(columns).zip(recon.chunks(columns)) {
        images.extend_from_slice(o);
        images.extend_from_slice(r);
    }
    ImageGrid {
        columns,
        ..Default::default()
    }
    .save(&images, path)?;
    Ok(())
}
