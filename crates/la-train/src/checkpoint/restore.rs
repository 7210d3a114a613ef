//! Loading checks and restoring model variables from a checkpoint.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use candle_core::Tensor;
use la_segnet::Param;

use super::{Checkpoint, MODEL, OBJECTIVE, OPTIMIZER, RunInfo};
use crate::{Error, Result};

/// Fails unless the file holds exactly the tensors the sidecar lists, naming the first
/// missing (or unexpected) ones.
pub(super) fn check_listed(
    path: &Path,
    listed: &[String],
    tensors: &HashMap<String, Tensor>,
) -> Result<()> {
    let mut problems: Vec<String> = listed
        .iter()
        .filter(|k| !tensors.contains_key(*k))
        .map(|k| format!("missing tensor {k}"))
        .collect();
    let listed: HashSet<&String> = listed.iter().collect();
    let mut extra: Vec<String> = tensors
        .keys()
        .filter(|k| !listed.contains(k))
        .map(|k| format!("unexpected tensor {k} (not in the sidecar)"))
        .collect();
    extra.sort();
    problems.extend(extra);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::checkpoint(path, problems.join("; ")))
    }
}

/// Fails if a tensor of the file holds NaN or infinite values, naming them.
pub(super) fn check_finite(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let bad = la_segnet::non_finite(tensors)?;
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::checkpoint(
            path,
            format!(
                "non-finite values in {} (the run had diverged when this was saved)",
                bad.join(", ")
            ),
        ))
    }
}

/// Sorts the file's tensors into a [`Checkpoint`].
pub(super) fn split(
    path: &Path,
    tensors: &mut HashMap<String, Tensor>,
    run: RunInfo,
) -> Result<Checkpoint> {
    let mut ckpt = Checkpoint::new(run);
    for (name, t) in tensors.drain() {
        let slot = [
            (MODEL, &mut ckpt.model),
            (OPTIMIZER, &mut ckpt.optimizer),
            (OBJECTIVE, &mut ckpt.objective),
        ]
        .into_iter()
        .find_map(|(prefix, map)| Some((name.strip_prefix(prefix)?.to_string(), map)));
        match slot {
            Some((k, map)) => {
                map.insert(k, t);
            }
            None => {
                return Err(Error::checkpoint(
                    path,
                    format!(
                        "unexpected tensor {name} (expected {MODEL}*, {OPTIMIZER}* or {OBJECTIVE}*)"
                    ),
                ));
            }
        }
    }
    Ok(ckpt)
}

impl Checkpoint {
    /// The tensors holding NaN or infinite values, under their file names (`model.<param>`
    /// ...), as [`la_segnet::non_finite`] describes them; empty when every value is finite.
    pub(crate) fn non_finite(&self) -> Result<Vec<String>> {
        let mut all = HashMap::new();
        for (prefix, map) in [
            (MODEL, &self.model),
            (OPTIMIZER, &self.optimizer),
            (OBJECTIVE, &self.objective),
        ] {
            all.extend(map.iter().map(|(k, t)| (format!("{prefix}{k}"), t.clone())));
        }
        Ok(la_segnet::non_finite(&all)?)
    }

    /// Sets the variables `params` (all of a model's, e.g. `HasParams::variables()`) from
    /// [`model`](Self::model): every variable must be present with its shape and no other
    /// tensor may be there; all problems are reported together and nothing is set unless all
    /// fit.
    pub fn restore_model(&self, params: &[Param]) -> Result<()> {
        let problems = la_segnet::state_mismatches(params, &self.model, |_| false);
        if !problems.is_empty() {
            return Err(Error::Mismatch {
                what: "checkpoint model tensors".into(),
                problems,
            });
        }
        la_segnet::load_state(params, &self.model)?;
        Ok(())
    }
}
