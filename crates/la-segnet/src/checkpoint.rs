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
/// (any float dtype, converted) and finite values; names for which `ignore` is true may be in
/// the file without being loaded (nor checked), any other extra name is an error. All problems
/// are reported together.
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
    let loaded: HashMap<String, Tensor> = vars
        .iter()
        .filter_map(|p| Some((p.name.clone(), tensors.get(&p.name)?.clone())))
        .collect();
    let bad = non_finite(&loaded)?;
    if !bad.is_empty() {
        return Err(Error::NonFinite {
            path: path.to_path_buf(),
            tensors: bad,
        });
    }
    load_state(vars, &tensors)
}

/// The tensors of `tensors` that hold NaN or infinite values, sorted by name, each described
/// as `"<name> (<n> NaN, <m> infinite)"`; empty when every value is finite. Only the float
/// dtypes a model can load are checked (F16, BF16, F32, F64, F8E4M3); integers are always
/// finite, and the placeholder floats (F4, F6, F8E8M0) are refused by [`state_mismatches`].
/// Runs on the tensors' device.
///
/// ```
/// use std::collections::HashMap;
/// use candle_core::{Device, Tensor};
/// let t = |v: &[f32]| Tensor::new(v, &Device::Cpu);
/// let tensors = HashMap::from([
///     ("a".to_string(), t(&[1., f32::NAN, f32::INFINITY, f32::NAN])?),
///     ("b".to_string(), t(&[0., -3.5, f32::MAX])?),
/// ]);
/// assert_eq!(la_segnet::non_finite(&tensors)?, ["a (2 NaN, 1 infinite)"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn non_finite(tensors: &HashMap<String, Tensor>) -> Result<Vec<String>> {
    let mut bad = Vec::new();
    for (name, t) in tensors {
        let t = match t.dtype() {
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 => t.clone(),
            // Few ops are implemented for 8-bit floats; the conversion keeps NaN.
            DType::F8E4M3 => t.to_dtype(DType::F32)?,
            _ => continue,
        };
        let count = |mask: Tensor| -> Result<usize> {
            Ok(mask.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? as usize)
        };
        // NaN is the one value unequal to itself.
        let nan = count(t.ne(&t)?)?;
        let infinite = count(t.abs()?.eq(f64::INFINITY)?)?;
        if nan + infinite > 0 {
            bad.push(format!("{name} ({nan} NaN, {infinite} infinite)"));
        }
    }
    bad.sort();
    Ok(bad)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AutoEncoder, ModelConfig};

    fn tiny(seed: u64) -> AutoEncoder {
        let vgg = la_vgg::VggConfig {
            width_divisor: 16,
            ..Default::default()
        };
        AutoEncoder::new(&ModelConfig { vgg, seed }, &Device::Cpu).unwrap()
    }

    fn values(model: &AutoEncoder) -> Vec<(String, Vec<f32>)> {
        let mut v: Vec<_> = state(model)
            .unwrap()
            .into_iter()
            .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn a_file_with_nan_or_infinity_refuses_to_load_naming_file_and_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("diverged.safetensors");
        let mut tensors = state(&tiny(1)).unwrap();
        let name = tiny(1).variables()[0].name.clone();
        let t = &tensors[&name];
        let mut v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        (v[1], v[3], v[4]) = (f32::NAN, f32::NEG_INFINITY, f32::NAN);
        let bad = Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap();
        tensors.insert(name.clone(), bad);
        let bytes = safetensors::serialize(&tensors, None).unwrap();
        std::fs::write(&path, bytes).unwrap();

        let target = tiny(2);
        let before = values(&target);
        match target.load(&path) {
            Err(Error::NonFinite { path: p, tensors }) => {
                assert_eq!(p, path);
                assert_eq!(tensors, [format!("{name} (2 NaN, 1 infinite)")]);
            }
            other => panic!("expected a non-finite error, got {other:?}"),
        }
        let msg = target.load(&path).unwrap_err().to_string();
        assert!(
            msg.contains("diverged.safetensors") && msg.contains(&name),
            "{msg}"
        );
        assert!(values(&target) == before, "nothing was loaded");

        // The same file with finite values loads.
        crate::save(&tiny(1), &path).unwrap();
        target.load(&path).unwrap();
        assert!(values(&target) == values(&tiny(1)));
    }
}
