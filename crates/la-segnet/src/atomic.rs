//! Crash-safe file replacement: write a temporary file in the same directory, fsync it, rename
//! it over the target, fsync the directory.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes `bytes` to `path` so that a crash or power loss leaves either the previous file or
/// the new one, never a truncated mix.
///
/// The bytes go to `<path>.tmp` in the same directory (so that the rename stays within one file
/// system), which is synced to disk and renamed over `path`; then the directory is synced so
/// that the rename itself is durable (where directories can be opened: not on Windows). An
/// error removes the temporary file; a crash leaves at most it behind, and the next write
/// truncates it.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("state.json");
/// la_segnet::write_atomic(&path, b"{}")?;
/// assert_eq!(std::fs::read(&path)?, b"{}");
/// assert!(!dir.path().join("state.json.tmp").exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let written = write_synced(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(Error::io(path)));
    if written.is_err() {
        // A partial temporary file (disk full, say) must not stay behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    sync_dir(path)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = Error::io(path);
    let mut file = File::create(path).map_err(&io)?;
    file.write_all(bytes).map_err(&io)?;
    file.sync_all().map_err(&io)
}

/// `<path>.tmp`, beside `path`.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Syncs the directory holding `path`, so that renames into it survive a power loss. A no-op
/// where directories cannot be opened (Windows).
fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if cfg!(unix) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_no_temporary_file_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be replaced by a file: the rename fails.
        let target = dir.path().join("busy");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), b"x").unwrap();
        let err = write_atomic(&target, b"new").unwrap_err();
        assert!(err.to_string().contains("busy"), "{err}");
        assert!(!temp_path(&target).exists());
        assert_eq!(std::fs::read(target.join("inside")).unwrap(), b"x");
    }
}
