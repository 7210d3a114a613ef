//! The commit protocol of a checkpoint's two files: which pair of files holds the committed
//! save, how a new save replaces it, and how a save cut short is finished or discarded.
//!
//! Every change to the directory goes through [`FileOps`], one call per operation, so that a
//! test can make any one of them fail (or the process "die" there).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{SAVE_ID_KEY, Sidecar, read_sidecar};
use crate::{Error, Result};

/// The files of one checkpoint: the committed pair and their temporary files beside them.
#[derive(Debug, Clone)]
pub(super) struct Files {
    pub dir: PathBuf,
    pub tensors: PathBuf,
    pub sidecar: PathBuf,
    pub tensors_tmp: PathBuf,
    pub sidecar_tmp: PathBuf,
}

impl Files {
    pub fn new(dir: &Path, name: &str) -> Self {
        let file = |ext: &str| dir.join(format!("{name}.{ext}"));
        Files {
            dir: dir.to_path_buf(),
            tensors: file("safetensors"),
            sidecar: file("json"),
            tensors_tmp: file("safetensors.tmp"),
            sidecar_tmp: file("json.tmp"),
        }
    }
}

/// The operations that change the directory, one call each.
pub(super) trait FileOps {
    /// Creates or truncates `path`, writes `bytes` and syncs the file to disk.
    fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<()>;
    /// Renames `from` over `to` (atomic within one directory).
    fn rename(&mut self, from: &Path, to: &Path) -> Result<()>;
    /// Removes `path`; a missing file is no error.
    fn remove(&mut self, path: &Path) -> Result<()>;
    /// Syncs directory `dir`, so that the renames in it survive a power loss (a no-op where
    /// directories cannot be opened: not on Windows).
    fn sync_dir(&mut self, dir: &Path) -> Result<()>;
}

/// The real file system.
pub(super) struct Disk;

impl FileOps for Disk {
    fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        let io = Error::io(path);
        let mut file = File::create(path).map_err(&io)?;
        file.write_all(bytes).map_err(&io)?;
        file.sync_all().map_err(&io)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(Error::io(to))
    }

    fn remove(&mut self, path: &Path) -> Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path)(e)),
            _ => Ok(()),
        }
    }

    fn sync_dir(&mut self, dir: &Path) -> Result<()> {
        if cfg!(unix) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(Error::io(dir))?;
        }
        Ok(())
    }
}

/// Where the committed save of a checkpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Committed {
    /// In the sidecar and the tensor file: nothing to finish.
    Complete,
    /// In the sidecar and the temporary tensor file: a save that died after its commit,
    /// before the tensor file's rename.
    TensorsPending,
    /// In the temporary sidecar and the tensor file: a save of the earlier protocol (tensors
    /// renamed first) that died between its two renames.
    SidecarPending,
    /// No sidecar, or no tensor file of the sidecar's save: loading reports what is wrong.
    Unknown,
}

/// Which pair of files holds the committed save, judged by the save ids in the sidecars and
/// in the headers of the tensor files (read without the tensors).
pub(super) fn committed(files: &Files) -> Committed {
    let sidecar = |p: &Path| p.exists().then(|| read_sidecar(p).ok()).flatten();
    let Some(committed) = sidecar(&files.sidecar) else {
        return Committed::Unknown;
    };
    let tensors = tensor_file_id(&files.tensors);
    if tensors.as_ref() == Some(&committed.save_id) {
        Committed::Complete
    } else if tensor_file_id(&files.tensors_tmp) == Some(committed.save_id) {
        Committed::TensorsPending
    } else if tensors.is_some()
        && sidecar(&files.sidecar_tmp).map(|s: Sidecar| s.save_id) == tensors
    {
        Committed::SidecarPending
    } else {
        Committed::Unknown
    }
}

/// Replaces the committed save by `tensors` (a safetensors file) and `sidecar` (its JSON):
///
/// 1. [`settle`] what an earlier save left;
/// 2. write `<name>.safetensors.tmp`, then `<name>.json.tmp` (each synced);
/// 3. rename `<name>.json.tmp` over `<name>.json`: the commit;
/// 4. sync the directory, so that the commit is on disk before the old tensors go;
/// 5. rename `<name>.safetensors.tmp` over `<name>.safetensors`, sync the directory.
///
/// On an error the directory is settled again (best effort): a save that failed before its
/// commit leaves the old checkpoint and no temporary file; one that failed after it is
/// finished. The first error is returned.
pub(super) fn replace(
    files: &Files,
    tensors: &[u8],
    sidecar: &[u8],
    ops: &mut dyn FileOps,
) -> Result<()> {
    let result = settle(files, ops).and_then(|()| {
        ops.write(&files.tensors_tmp, tensors)?;
        ops.write(&files.sidecar_tmp, sidecar)?;
        ops.rename(&files.sidecar_tmp, &files.sidecar)?;
        ops.sync_dir(&files.dir)?;
        ops.rename(&files.tensors_tmp, &files.tensors)?;
        ops.sync_dir(&files.dir)
    });
    if result.is_err() {
        // The first error is the one to report; this one would only repeat it.
        let _ = settle(files, ops);
    }
    result
}

/// Finishes a save that was committed but cut short (its pending rename), then removes the
/// temporary files of any save that was not committed.
pub(super) fn settle(files: &Files, ops: &mut dyn FileOps) -> Result<()> {
    let pending = match committed(files) {
        Committed::TensorsPending => Some((&files.tensors_tmp, &files.tensors)),
        Committed::SidecarPending => Some((&files.sidecar_tmp, &files.sidecar)),
        Committed::Complete | Committed::Unknown => None,
    };
    if let Some((from, to)) = pending {
        ops.rename(from, to)?;
        ops.sync_dir(&files.dir)?;
    }
    ops.remove(&files.tensors_tmp)?;
    ops.remove(&files.sidecar_tmp)
}

/// The save id in the header of safetensors file `path`, if the file exists, has one, and is
/// as long as its header says (complete). Reads the header only.
fn tensor_file_id(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n).ok()?;
    let n = u64::from_le_bytes(n);
    if n > len.saturating_sub(8) {
        return None;
    }
    let mut header = vec![0u8; usize::try_from(n).ok()?];
    file.read_exact(&mut header).ok()?;
    let header: HashMap<String, serde_json::Value> = serde_json::from_slice(&header).ok()?;
    let data_end = header
        .values()
        .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    if 8 + n + data_end != len {
        return None;
    }
    let id = header.get("__metadata__")?.get(SAVE_ID_KEY)?.as_str()?;
    Some(id.to_string())
}
