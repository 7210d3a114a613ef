//! Run checkpoints: every tensor of a run in one safetensors file, the rest in a JSON sidecar.

mod commit;
mod restore;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use candle_core::{Device, Tensor};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const FORMAT: &str = "la-train checkpoint";
// Version 2: the objective's state under `objective.` (version 1 had a fixed memory bank).
const VERSION: u32 = 2;
/// The safetensors metadata key holding the save id that ties the two files together.
const SAVE_ID_KEY: &str = "la_train_save_id";
const MODEL: &str = "model.";
const OPTIMIZER: &str = "optimizer.";
const OBJECTIVE: &str = "objective.";

/// Where a run stands and how it was configured (the sidecar's `run` object).
///
/// Randomness is not saved: every random stream is derived from `seed` and the position
/// ([`derive_seed`](crate::derive_seed)), so these counters are the whole RNG state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// The epoch (from 0) the next optimiser step belongs to.
    pub epoch: u64,
    /// The next step within that epoch (from 0).
    pub step_in_epoch: u64,
    /// Optimiser steps taken since the start of the run.
    pub global_step: u64,
    /// The run's seed.
    pub seed: u64,
    /// The run's configuration, as the trainer serialised it.
    pub config: serde_json::Value,
}

/// Everything needed to continue a run exactly: saved as `<name>.safetensors` (tensors
/// `model.<param>`, `optimizer.<param>`, `objective.<name>`: the objective's state, e.g. a
/// memory bank) and `<name>.json` (the [`RunInfo`], the list of tensors, and a save id also
/// stored in the safetensors metadata).
///
/// # Crash safety
///
/// The sidecar's rename is the commit point. A save writes `<name>.safetensors.tmp`, then
/// `<name>.json.tmp`, each synced to disk; renames the sidecar over `<name>.json` (the commit)
/// and syncs the directory; then renames the tensors over `<name>.safetensors` and syncs the
/// directory again. The save id ties the files together, so a crash at any point leaves one
/// loadable save, the old or the new:
///
/// - before the commit, `<name>.json` and `<name>.safetensors` are still the old pair (the
///   temporary files beside them are ignored);
/// - after it, `<name>.json` names the new save, whose tensors are in `<name>.safetensors`,
///   or still in `<name>.safetensors.tmp`: [`load`](Self::load) reads them there.
///
/// A save interrupted between its two renames by the earlier protocol (tensors renamed first,
/// the new sidecar left in `<name>.json.tmp`) loads too. Loading never changes the directory
/// (a reader may look at a run while it trains); the next [`save`](Self::save) first finishes
/// a committed save that was cut short (its pending rename) and removes every other
/// temporary file, and a save that fails removes its temporary files, or finishes itself when
/// it failed after its commit. Non-finite values are refused on loading, naming the tensor.
///
/// ```
/// use std::collections::HashMap;
/// use candle_core::{Device, Tensor};
/// use la_train::{Checkpoint, RunInfo};
/// let dir = tempfile::tempdir()?;
/// let run = RunInfo { epoch: 2, step_in_epoch: 0, global_step: 20, seed: 7, config: serde_json::json!({"lr": 0.03}) };
/// let mut ckpt = Checkpoint::new(run);
/// ckpt.model.insert("w".into(), Tensor::new(&[1f32, 2.], &Device::Cpu)?);
/// ckpt.save(dir.path(), "last")?;
/// let back = Checkpoint::load(dir.path(), "last", &Device::Cpu)?;
/// assert_eq!(back.run, ckpt.run);
/// assert_eq!(back.model["w"].to_vec1::<f32>()?, [1., 2.]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Model variables by name (as `la_segnet::state` returns them).
    pub model: HashMap<String, Tensor>,
    /// Optimiser state by parameter name ([`Optimizer::state`](crate::Optimizer::state)).
    pub optimizer: HashMap<String, Tensor>,
    /// The state of the training objective by name (a memory bank and clusterings for Local
    /// Aggregation).
    pub objective: HashMap<String, Tensor>,
    /// Position, seed and configuration.
    pub run: RunInfo,
}

/// The JSON sidecar.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    format: String,
    version: u32,
    save_id: String,
    run: RunInfo,
    tensors: Vec<String>,
}

impl Checkpoint {
    /// An empty checkpoint at `run`.
    pub fn new(run: RunInfo) -> Self {
        Self {
            model: HashMap::new(),
            optimizer: HashMap::new(),
            objective: HashMap::new(),
            run,
        }
    }

    /// The two files of checkpoint `name` in `dir`: (`<name>.safetensors`, `<name>.json`).
    /// `<name>.json` exists once a save of `name` has been committed.
    pub fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let files = commit::Files::new(dir, name);
        (files.tensors, files.sidecar)
    }

    /// Writes the checkpoint as `dir/<name>.safetensors` and `dir/<name>.json`, replacing the
    /// previous save of `name` atomically (see [crash safety](Self#crash-safety)).
    pub fn save(&self, dir: &Path, name: &str) -> Result<()> {
        self.save_with(dir, name, &mut commit::Disk)
    }

    /// [`save`](Self::save) through the file operations `ops`.
    fn save_with(&self, dir: &Path, name: &str, ops: &mut dyn commit::FileOps) -> Result<()> {
        let files = commit::Files::new(dir, name);
        let tensors = self.named_tensors()?;
        let save_id = save_id(self.run.global_step);
        let sidecar = Sidecar {
            format: FORMAT.into(),
            version: VERSION,
            save_id: save_id.clone(),
            run: self.run.clone(),
            tensors: tensors.iter().map(|(k, _)| k.clone()).collect(),
        };
        let meta = HashMap::from([(SAVE_ID_KEY.to_string(), save_id)]);
        let bytes = safetensors::serialize(tensors, Some(meta))
            .map_err(|e| Error::checkpoint(&files.tensors, format!("cannot serialise: {e}")))?;
        let json = serde_json::to_vec_pretty(&sidecar)
            .map_err(|e| Error::checkpoint(&files.sidecar, format!("cannot serialise: {e}")))?;
        commit::replace(&files, &bytes, &json, ops)
    }

    /// Reads checkpoint `name` from `dir`, tensors onto `device`, from the committed pair of
    /// files (see [crash safety](Self#crash-safety)), checking that both exist and parse, that
    /// they come from the same save, that every tensor the sidecar lists is present (and no
    /// other), and that every value is finite.
    pub fn load(dir: &Path, name: &str, device: &Device) -> Result<Self> {
        let files = commit::Files::new(dir, name);
        let (json_path, tensor_path) = match commit::committed(&files) {
            commit::Committed::TensorsPending => (files.sidecar, files.tensors_tmp),
            commit::Committed::SidecarPending => (files.sidecar_tmp, files.tensors),
            commit::Committed::Complete | commit::Committed::Unknown => {
                (files.sidecar, files.tensors)
            }
        };
        let sidecar = read_sidecar(&json_path)?;
        let bytes = std::fs::read(&tensor_path).map_err(Error::io(&tensor_path))?;
        let bad = |e: &dyn std::fmt::Display| {
            Error::checkpoint(
                &tensor_path,
                format!("not a readable safetensors file ({e})"),
            )
        };
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(&e))?;
        let file_id = header.metadata().as_ref().and_then(|m| m.get(SAVE_ID_KEY));
        if file_id != Some(&sidecar.save_id) {
            return Err(Error::checkpoint(
                &tensor_path,
                format!(
                    "save id {file_id:?} differs from {:?} in {} (the two files come from \
                     different saves, and no complete temporary file beside them belongs to \
                     either)",
                    sidecar.save_id,
                    json_path.display()
                ),
            ));
        }
        let mut tensors =
            candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| bad(&e))?;
        restore::check_listed(&tensor_path, &sidecar.tensors, &tensors)?;
        restore::check_finite(&tensor_path, &tensors)?;
        restore::split(&tensor_path, &mut tensors, sidecar.run)
    }

    /// Every tensor under its file name, sorted.
    fn named_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out: Vec<(String, Tensor)> = Vec::new();
        for (prefix, map) in [
            (MODEL, &self.model),
            (OPTIMIZER, &self.optimizer),
            (OBJECTIVE, &self.objective),
        ] {
            for (k, t) in map {
                out.push((format!("{prefix}{k}"), t.contiguous()?));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Reads and checks the JSON sidecar.
fn read_sidecar(path: &Path) -> Result<Sidecar> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let sidecar: Sidecar = serde_json::from_str(&text)
        .map_err(|e| Error::checkpoint(path, format!("invalid sidecar JSON: {e}")))?;
    if sidecar.format != FORMAT || sidecar.version != VERSION {
        return Err(Error::checkpoint(
            path,
            format!(
                "format {:?} version {}, expected {FORMAT:?} version {VERSION}",
                sidecar.format, sidecar.version
            ),
        ));
    }
    Ok(sidecar)
}

/// A save id unique to this save: the step, the time and the process.
fn save_id(global_step: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{global_step}-{nanos}-{}", std::process::id())
}
