//! `la export`: the clusters of a run as folders of the original photos, one per cluster
//! (`cluster_NNN/`) and optionally one of the outliers, as symbolic links or copies. The
//! photos themselves are never moved or changed; items that are not files of their own (IDX
//! records, tiles) are written as PNG images.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::html_report::{members, outliers, unfinished};
use crate::items::RunItems;
use crate::report::ClusterRow;
use crate::run_dir::RunDir;
use crate::{Error, Result};

/// How the photos get into the export folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportMode {
    /// Symbolic links to the original files (where the system has none, copies). The
    /// default: nothing is duplicated, and a link opens the photo itself.
    #[default]
    Link,
    /// Copies of the original files.
    Copy,
}

/// What [`export_clusters`] made.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportSummary {
    /// Each folder made and the number of files in it, in order (`cluster_000`, ...,
    /// `outliers`).
    pub folders: Vec<(String, usize)>,
    /// Symbolic links made.
    pub linked: usize,
    /// Files copied.
    pub copied: usize,
    /// PNG images written for items that are not files of their own.
    pub written: usize,
    /// What the user should know (links replaced by copies), one sentence each.
    pub notes: Vec<String>,
}

/// Exports the clusters of the finished run in `dir` into `to`, a new or empty folder:
/// `to/cluster_NNN/` for each non-empty cluster and, with `with_outliers`, `to/outliers/`
/// (the items of the report's outliers page, their rank first in their names). Files keep
/// their names (`-2`, `-3` are added when two in a folder would have the same one). The
/// run's data are reopened from its config.toml and checked against its clusters.csv, and
/// every source file is checked to exist, before anything is written.
pub fn export_clusters(
    dir: &RunDir,
    to: &Path,
    mode: ExportMode,
    with_outliers: bool,
) -> Result<ExportSummary> {
    let rows = dir.clusters().map_err(unfinished(dir))?;
    refuse_occupied(to)?;
    let items = RunItems::reopen(dir, &rows)?;
    for row in &rows {
        if let Some(file) = items.file(row.item).filter(|f| !f.is_file()) {
            return Err(Error::RunFile {
                path: file.to_path_buf(),
                problem: format!(
                    "the file of item {} is gone; nothing was exported",
                    row.item
                ),
            });
        }
    }
    let k = rows
        .iter()
        .map(|r| r.cluster as usize + 1)
        .max()
        .unwrap_or(0);
    let members = members(&rows, k);
    let mut out = Exporter {
        items: &items,
        mode,
        summary: ExportSummary::default(),
    };
    std::fs::create_dir_all(to).map_err(Error::io(to))?;
    for (c, m) in members.iter().enumerate().filter(|(_, m)| !m.is_empty()) {
        let rows: Vec<(&ClusterRow, String)> =
            m.iter().map(|&r| (&rows[r], String::new())).collect();
        out.folder(to, &format!("cluster_{c:03}"), &rows)?;
    }
    if with_outliers {
        let ranked: Vec<(&ClusterRow, String)> = outliers(&rows, &members)
            .iter()
            .enumerate()
            .map(|(rank, &(r, _))| (&rows[r], format!("{:03}_", rank + 1)))
            .collect();
        out.folder(to, "outliers", &ranked)?;
    }
    Ok(out.summary)
}

/// An error unless `to` is missing or an empty folder.
fn refuse_occupied(to: &Path) -> Result<()> {
    let problem = match std::fs::read_dir(to) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) if to.exists() && !to.is_dir() => "is not a folder",
        Err(e) => return Err(Error::io(to)(e)),
        Ok(mut entries) => match entries.next() {
            None => return Ok(()),
            Some(_) => {
                "is not empty; export into a new or empty folder (la never writes among files \
                 it did not make)"
            }
        },
    };
    Err(Error::RunFile {
        path: to.to_path_buf(),
        problem: problem.into(),
    })
}

struct Exporter<'a> {
    items: &'a RunItems,
    mode: ExportMode,
    summary: ExportSummary,
}

impl Exporter<'_> {
    /// Makes `to/name/` holding each row's item, its name after the given prefix.
    fn folder(&mut self, to: &Path, name: &str, rows: &[(&ClusterRow, String)]) -> Result<()> {
        let folder = to.join(name);
        std::fs::create_dir(&folder).map_err(Error::io(&folder))?;
        let mut taken = HashSet::new();
        for (row, prefix) in rows {
            match self.items.file(row.item) {
                Some(file) => {
                    let own = file.file_name().map_or_else(
                        || format!("item_{}", row.item),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    let target = folder.join(unique(&mut taken, &format!("{prefix}{own}")));
                    self.place(file, &target)?;
                }
                None => {
                    let own = format!("{}.png", file_safe(&row.path));
                    let target = folder.join(unique(&mut taken, &format!("{prefix}{own}")));
                    la_data::save_png(&self.items.image(row.item)?, &target)?;
                    self.summary.written += 1;
                }
            }
        }
        self.summary.folders.push((name.to_string(), rows.len()));
        Ok(())
    }

    /// Links or copies `file` to `target`.
    fn place(&mut self, file: &Path, target: &Path) -> Result<()> {
        if self.mode == ExportMode::Link {
            let source = std::path::absolute(file).map_err(Error::io(file))?;
            if link(&source, target).map_err(Error::io(target))? {
                self.summary.linked += 1;
                return Ok(());
            }
            if self.summary.notes.is_empty() {
                self.summary
                    .notes
                    .push("this system has no symbolic links: the photos were copied".into());
            }
        }
        std::fs::copy(file, target).map_err(Error::io(target))?;
        self.summary.copied += 1;
        Ok(())
    }
}

/// Makes a symbolic link at `target` to `source`; `false` where the system has none.
#[cfg(unix)]
fn link(source: &Path, target: &Path) -> std::io::Result<bool> {
    std::os::unix::fs::symlink(source, target).map(|()| true)
}

#[cfg(not(unix))]
fn link(_source: &Path, _target: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// `name`, or `stem-2.ext`, `stem-3.ext`, ... if `taken` has it; recorded in `taken`.
fn unique(taken: &mut HashSet<String>, name: &str) -> String {
    let mut candidate = name.to_string();
    let path = PathBuf::from(name);
    let stem = path
        .file_stem()
        .map_or(name.into(), |s| s.to_string_lossy());
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{stem}-{n}{ext}");
        n += 1;
    }
    candidate
}

/// The last part of a display name (`file.idx#12`, `a/b.jpg#tile3`) with every character
/// but letters, digits, `.`, `-` and `_` replaced by `_`.
fn file_safe(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_unique_within_a_folder() {
        let mut taken = HashSet::new();
        assert_eq!(unique(&mut taken, "a.jpg"), "a.jpg");
        assert_eq!(unique(&mut taken, "a.jpg"), "a-2.jpg");
        assert_eq!(unique(&mut taken, "a.jpg"), "a-3.jpg");
        assert_eq!(unique(&mut taken, "README"), "README");
        assert_eq!(unique(&mut taken, "README"), "README-2");
    }

    #[test]
    fn display_names_become_file_names() {
        assert_eq!(file_safe("fashion-mnist.idx#12"), "fashion-mnist.idx_12");
        assert_eq!(file_safe("holidays/beach.jpg#tile3"), "beach.jpg_tile3");
        assert_eq!(file_safe("../x y.png"), "x_y.png");
    }

    #[test]
    fn an_occupied_target_is_refused_and_an_empty_one_accepted() {
        let dir = tempfile::tempdir().unwrap();
        assert!(refuse_occupied(&dir.path().join("new")).is_ok());
        assert!(refuse_occupied(dir.path()).is_ok());
        std::fs::write(dir.path().join("photo.jpg"), b"x").unwrap();
        let err = refuse_occupied(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not empty"), "{err}");
        let err = refuse_occupied(&dir.path().join("photo.jpg"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a folder"), "{err}");
    }
}
