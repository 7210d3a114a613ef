//! Finding a trained model: a run directory, or one of its model files next to its
//! config.toml.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use la_train::{RunConfig, RunDir};

use crate::settings::{CONFIG_FILE, read_config};

/// Which file of a run holds the model wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFile {
    /// The embedder (stage 2), else the auto-encoder's encoder.
    Embedder,
    /// The auto-encoder.
    AutoEncoder,
}

/// A trained model: the run's configuration and the model file.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// The run's configuration.
    pub config: RunConfig,
    /// The safetensors file.
    pub file: PathBuf,
}

impl TrainedModel {
    /// Resolves `path` (a run directory or a model file inside one) to the wanted file.
    pub fn find(path: &Path, want: ModelFile) -> anyhow::Result<Self> {
        let dir = if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new("."))
        };
        let config = read_config(&dir.join(CONFIG_FILE)).with_context(|| {
            format!(
                "{} is not in a run directory (its config.toml describes the network)",
                path.display()
            )
        })?;
        let run = RunDir::new(dir);
        let file = if path.is_file() {
            path.to_path_buf()
        } else {
            let candidates = match want {
                ModelFile::Embedder => vec![run.embedder(), run.autoencoder()],
                ModelFile::AutoEncoder => vec![run.autoencoder()],
            };
            match candidates.into_iter().find(|p| p.is_file()) {
                Some(f) => f,
                None if want == ModelFile::AutoEncoder && !config.ae.enabled => bail!(
                    "{} has no auto-encoder: its run skipped stage 1 (ae.enabled = false); \
                     train one with `la train --stages both` or `--stages ae`",
                    dir.display()
                ),
                None => bail!(
                    "{} holds no trained model yet (is the run finished?)",
                    dir.display()
                ),
            }
        };
        Ok(TrainedModel { config, file })
    }

    /// Whether the file is a whole auto-encoder.
    pub fn is_autoencoder(&self) -> bool {
        self.file
            .file_name()
            .is_some_and(|n| n == "autoencoder.safetensors")
    }
}
