//! Saving and strict loading of named variables in safetensors files.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::params::{HasParams, Param};
use crate::{Error, Result};

/// Every variable of `model` by name (a copy: later training does not change it).
pub fn state(model: &impl HasParams) -> Result<HashMap<String, Tensor>> {
    model
        .variables()
        .into_iter()
        .map(|p| Ok((p.name, p.var.as_tensor().copy()?)))
        .collect()
}

/// Writes every variable of `model` to a safetensors file, atomically ([`write_atomic`]: an
/// interrupted save never leaves a truncated checkpoint).
///
/// [`write_atomic`]: crate::write_atomic
pub fn save(model: &impl HasParams, path: impl AsRef<Path>) -> Result<()> {
    let bytes = safetensors::serialize(&state(model)?, None).map_err(candle_core::Error::from)?;
    crate::write_atomic(path.as_ref(), &bytes)
}

/// Loads `vars` from a safetensors file: every variable must be present with its exact shape
/// (any float dtype, converted); names for which `ignore` is true may be in the file without
/// being loaded, any other extra name is an error. All problems are reported together.
pub(crate) fn load_into(
    vars: &[Param],
    path: &Path,
    model: &str,
    ignore: impl Fn(&str) -> bool,
) -> Result<()> {
    let unreadable = |reason: String| Error::Checkpoint {
        path: path.to_path_buf(),
        model: model.to_string(),
        problems: vec![format!("not a readable safetensors file ({reason})")],
    };
    if offsets_overflow(path) {
        return Err(unreadable(
            "its tensors' offsets add up past 2^64 bytes".into(),
        ));
    }
    let tensors = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| unreadable(e.to_string()))?;
    let problems = state_mismatches(vars, &tensors, ignore);
    if !problems.is_empty() {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            model: model.to_string(),
            problems,
        });
    }
    load_state(vars, &tensors)
}

/// What keeps `tensors` from loading into `vars`, one line each: missing names, shape or
/// dtype mismatches, then (sorted) names in `tensors` that are not variables and for which
/// `ignore` is false. Empty when every variable can be set.
pub fn state_mismatches(
    vars: &[Param],
    tensors: &HashMap<String, Tensor>,
    ignore: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut problems: Vec<String> = vars
        .iter()
        .filter_map(|p| match tensors.get(&p.name) {
            None => Some(format!("missing {}", p.name)),
            Some(t) if t.dims() != p.var.dims() => Some(format!(
                "{} has shape {:?}, expected {:?}",
                p.name,
                t.dims(),
                p.var.dims()
            )),
            Some(t) if !convertible(t.dtype()) => Some(format!(
                "{} has dtype {:?}, expected F16, BF16, F32, F64 or F8E4M3",
                p.name,
                t.dtype()
            )),
            Some(_) => None,
        })
        .collect();
    let known: HashSet<&str> = vars.iter().map(|p| p.name.as_str()).collect();
    let mut extra: Vec<String> = tensors
        .keys()
        .filter(|k| !known.contains(k.as_str()) && !ignore(k))
        .map(|k| format!("unexpected {k}"))
        .collect();
    extra.sort();
    problems.extend(extra);
    problems
}

/// True for the float dtypes candle converts; not `is_float`, which includes F4, F6 and
/// F8_E8M0, placeholders that candle reads but cannot convert.
fn convertible(dtype: DType) -> bool {
    matches!(
        dtype,
        DType::F16 | DType::BF16 | DType::F32 | DType::F64 | DType::F8E4M3
    )
}

/// True if the safetensors header at `path` describes tensors whose offsets, added to the
/// header's length, pass `u64::MAX`: safetensors 0.8 adds them unchecked, a panic in debug
/// builds (safetensors/safetensors#808). Any other problem is left to the loader to report.
fn offsets_overflow(path: &Path) -> bool {
    let header = || -> std::io::Result<Vec<u8>> {
        let mut file = std::fs::File::open(path)?;
        let mut len = [0u8; 8];
        file.read_exact(&mut len)?;
        // safetensors refuses a longer header itself.
        let len = u64::from_le_bytes(len).min(100_000_000);
        let mut header = Vec::new();
        file.take(len).read_to_end(&mut header)?;
        Ok(header)
    };
    header().is_ok_and(|h| {
        serde_json::from_slice::<safetensors::tensor::Metadata>(&h).is_ok_and(|m| {
            (m.data_len() as u64)
                .checked_add(8 + h.len() as u64)
                .is_none()
        })
    })
}

/// Sets every variable found in `tensors` (checked first by [`state_mismatches`]), converted
/// to the variable's dtype and device.
pub fn load_state(vars: &[Param], tensors: &HashMap<String, Tensor>) -> Result<()> {
    set_all(vars, |name| tensors.get(name).cloned())
}

/// Sets each variable from `source(name)`, converted to the variable's dtype and device.
pub(crate) fn set_all(vars: &[Param], source: impl Fn(&str) -> Option<Tensor>) -> Result<()> {
    for p in vars {
        if let Some(t) = source(&p.name) {
            let t = t.to_dtype(DType::F32)?.to_dtype(p.var.dtype())?;
            p.var.set(&t.to_device(p.var.device())?)?;
        }
    }
    Ok(())
}
