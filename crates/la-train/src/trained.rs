//! A finished run's model as the front ends use it: found from a run directory (or a model
//! file in one), then clustering new data or reconstructing images.

use std::path::{Path, PathBuf};

use candle_core::Device;
use la_data::PipelineBuilder;
use la_segnet::{AutoEncoder, Embedder, Encoder};

use crate::cluster_report::cluster_and_report;
use crate::config::{DataConfig, EvalConfig, RunConfig};
use crate::data::RunData;
use crate::monitor::Monitor;
use crate::report::EvalReport;
use crate::run::{build_embedder, model_config};
use crate::run_dir::RunDir;
use crate::stage_ae::save_reconstructions;
use crate::{Error, Result};

/// Which model of a run is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFile {
    /// The embedder (stage 2), else the auto-encoder's encoder.
    Embedder,
    /// The auto-encoder.
    AutoEncoder,
}

/// A trained model: the run's configuration and the file of the model wanted.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    config: RunConfig,
    file: PathBuf,
}

impl TrainedModel {
    /// Resolves `path` (a run directory, or a model file inside one) to the model wanted:
    /// for [`ModelFile::Embedder`] the embedder, else the auto-encoder's encoder.
    pub fn open(path: &Path, want: ModelFile) -> Result<Self> {
        let dir = RunDir::new(if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new("."))
        });
        let config = dir.config()?;
        if path.is_file() {
            return Ok(TrainedModel {
                config,
                file: path.to_path_buf(),
            });
        }
        let candidates = match want {
            ModelFile::Embedder => vec![dir.embedder(), dir.autoencoder()],
            ModelFile::AutoEncoder => vec![dir.autoencoder()],
        };
        let problem = if want == ModelFile::AutoEncoder && !config.ae.enabled {
            "has no auto-encoder: its run skipped stage 1 (ae.enabled = false); train one \
             with `la train --stages both` or `--stages ae`"
        } else {
            "holds no trained model yet: is the run finished? (`la train --resume` continues it)"
        };
        match candidates.into_iter().find(|p| p.is_file()) {
            Some(file) => Ok(TrainedModel { config, file }),
            None => Err(Error::RunFile {
                path: dir.path().to_path_buf(),
                problem: problem.into(),
            }),
        }
    }

    /// The configuration of the run that trained it.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// The safetensors file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether the file is a whole auto-encoder (whose encoder embeds, without projection).
    pub fn is_autoencoder(&self) -> bool {
        self.file
            .file_name()
            .is_some_and(|n| n == "autoencoder.safetensors")
    }

    /// The configuration for clustering `data` with this model: the run's network and
    /// `eval`; the input side is the one it was trained at unless `data.side` says.
    pub fn cluster_config(&self, mut data: DataConfig, eval: EvalConfig) -> Result<RunConfig> {
        let mut config = self.config.clone();
        data.side = data.side.or(config.data.side);
        config.data = data;
        config.eval = eval;
        // An auto-encoder file gives the encoder alone: no projection.
        config.embedding.enabled &= !self.is_autoencoder();
        config.check()?;
        Ok(config)
    }

    /// Embeds and clusters the data of `config` (from [`cluster_config`](Self::cluster_config))
    /// and writes config.toml, clusters.csv, the contact sheets and eval.json into `out`, a
    /// new or empty directory.
    pub fn cluster_with(
        &self,
        config: &RunConfig,
        out: &RunDir,
        device: &Device,
        monitor: &mut dyn Monitor,
    ) -> Result<EvalReport> {
        let data = RunData::open(&config.data, device)?;
        crate::memory::check(config, data.len(), crate::memory::available())?;
        let embedder = self.embedder(config, data.input_side(), device)?;
        out.create_new()?;
        out.write_config(config)?;
        cluster_and_report(config, &data, &embedder, out, monitor)
    }

    fn embedder(&self, config: &RunConfig, side: u32, device: &Device) -> Result<Embedder> {
        let encoder = Encoder::init(&model_config(config)?, device)?;
        let embedder = build_embedder(config, encoder, side)?;
        if self.is_autoencoder() {
            embedder.backbone().load_from(&self.file)?;
        } else {
            embedder.load(&self.file)?;
        }
        Ok(embedder)
    }

    /// The images at `images` through the auto-encoder, originals above reconstructions, as
    /// one PNG at `out` (a new file, not one of the images).
    pub fn reconstruct(&self, images: &[PathBuf], out: &Path, device: &Device) -> Result<()> {
        if out.exists() {
            return Err(Error::RunFile {
                path: out.to_path_buf(),
                problem: "already exists; la writes reconstructions only to a new file".into(),
            });
        }
        let ae = AutoEncoder::new(&model_config(&self.config)?, device)?;
        ae.load(&self.file)?;
        let pipeline = PipelineBuilder::new()
            .side(self.config.data.effective_side())
            .build()?;
        let prepared = images
            .iter()
            .map(|p| pipeline.prepare_file(p))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let normalize = pipeline.normalization();
        let x = normalize.to_tensor(&prepared, device)?;
        let recon = ae.forward_t(&x, false)?;
        save_reconstructions(&x, &recon, normalize, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = TrainedModel::open(dir.path(), ModelFile::Embedder).unwrap_err();
        assert!(err.to_string().contains("not a run directory"), "{err}");
        let run = RunDir::new(dir.path());
        let mut config = RunConfig::default();
        config.ae.enabled = false;
        run.write_config(&config).unwrap();
        let err = TrainedModel::open(dir.path(), ModelFile::Embedder).unwrap_err();
        assert!(err.to_string().contains("no trained model yet"), "{err}");
        let err = TrainedModel::open(dir.path(), ModelFile::AutoEncoder).unwrap_err();
        assert!(err.to_string().contains("has no auto-encoder"), "{err}");
        std::fs::write(run.autoencoder(), b"").unwrap();
        let found = TrainedModel::open(dir.path(), ModelFile::Embedder).unwrap();
        assert!(found.is_autoencoder());
        std::fs::write(run.embedder(), b"").unwrap();
        let found = TrainedModel::open(dir.path(), ModelFile::Embedder).unwrap();
        assert_eq!(found.file(), run.embedder());
        let named = TrainedModel::open(&run.autoencoder(), ModelFile::Embedder).unwrap();
        assert!(named.is_autoencoder());
    }

    #[test]
    fn cluster_config_keeps_the_trained_side_and_drops_the_projection_of_an_encoder() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let mut config = RunConfig::default();
        config.data.side = Some(64);
        run.write_config(&config).unwrap();
        std::fs::write(run.autoencoder(), b"").unwrap();
        let model = TrainedModel::open(&run.autoencoder(), ModelFile::Embedder).unwrap();
        let c = model
            .cluster_config(DataConfig::default(), EvalConfig::default())
            .unwrap();
        assert_eq!(c.data.side, Some(64));
        assert!(!c.embedding.enabled);
        let asked = DataConfig {
            side: Some(96),
            ..DataConfig::default()
        };
        let c = model.cluster_config(asked, EvalConfig::default()).unwrap();
        assert_eq!(c.data.side, Some(96));
    }
}
