//! Crash-safe file replacement: write a temporary file in the same directory, fsync it,
//! rename it over the target, fsync the directory.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The temporary file a save of `path` writes first: `<path>.tmp` in the same directory (so
/// the rename stays within one file system). A crash leaves at most this file behind; the
/// next save truncates it.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `bytes` to `path`'s temporary file and syncs it to disk, without renaming.
pub(crate) fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = temp_path(path);
    let io = |source| Error::Io {
        path: tmp.clone(),
        source,
    };
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(tmp)
}

/// Renames the synced temporary file `tmp` over `path`.
pub(crate) fn commit(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Syncs the directory holding `path`, so that renames into it survive a power loss. A no-op
/// where directories cannot be opened (Windows).
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if cfg!(unix) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    Ok(())
}
