//! The HTML report of a run or clustering, `RUN/report/`: made from the run's files alone
//! (clusters.csv, eval.json, duplicates.csv, embeddings.safetensors) and the items' images,
//! so that it can be made again at any time (`la report`).
//!
//! - `index.html`: every cluster (size, its most central images, its label mix), the scores
//!   beside the raw-pixel baselines, the notes, the curve of the choice of K, and the map;
//! - `cluster_NNN.html`: every member of a cluster, most confident first;
//! - `outliers.html`: the items farthest from their cluster's centre;
//! - `duplicates.html`: the near-duplicate pairs, when there are any;
//! - `map.png`: a 2-D UMAP layout of the embeddings (their PCA projection when there are
//!   few), one colour per cluster;
//! - `thumbs/ITEM.jpg`: a small JPEG per item.
//!
//! The pages need no network, no script and no other file than these.

mod curve;
mod html;
mod index;
mod labels;
mod map;
mod pages;
mod pca;
#[cfg(test)]
mod tests;
mod thumbs;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use la_data::image::RgbImage;

use crate::data::RunData;
use crate::items::RunItems;
use crate::report::{ClusterRow, DuplicateRow, EvalReport};
use crate::run_dir::RunDir;
use crate::{Error, Result};

pub(crate) use pages::{members, outliers};

/// What [`write_html_report`] made.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// The overview page, `RUN/report/index.html`.
    pub index: PathBuf,
    /// Pages written.
    pub pages: usize,
    /// Thumbnails written (one per item whose image could be read).
    pub thumbnails: usize,
    /// Items whose image could not be read (shown as a grey box).
    pub unreadable: usize,
    /// Whether the map was drawn (it needs embeddings.safetensors).
    pub map: bool,
}

/// Writes the report of the run in `dir` into `RUN/report/` (replacing an earlier one once
/// the new one is complete), taking each item's picture from `images` (called once per item,
/// from several threads). An item whose picture cannot be had is shown as a grey box and
/// counted; a run file that is missing or unreadable is an error (duplicates.csv and
/// embeddings.safetensors are optional: without them there is no duplicates page or map).
pub fn write_html_report<F>(dir: &RunDir, images: F) -> Result<ReportSummary>
where
    F: Fn(usize) -> Result<RgbImage> + Sync,
{
    let run = Run::read(dir)?;
    let report = dir.report_dir();
    let partial = report.with_extension("partial");
    remove_dir(&partial)?;
    std::fs::create_dir_all(&partial).map_err(Error::io(&partial))?;
    let members = pages::members(&run.rows, run.k);
    let central: HashSet<usize> = members
        .iter()
        .filter_map(|m| pages::most_central(&run.rows, m))
        .map(|r| run.rows[r].item)
        .collect();
    let items: Vec<usize> = run.rows.iter().map(|r| r.item).collect();
    let thumbs = thumbs::write_thumbs(&partial, &items, &images, &central)?;
    let map = match &run.embeddings {
        Some(e) => Some(index::draw(&run, e, &members, &thumbs, &partial)?),
        None => None,
    };
    let pages = pages::Pages::new(&run, members, &thumbs, map);
    let mut written = 0;
    for (name, text) in pages.all() {
        let path = partial.join(&name);
        std::fs::write(&path, text).map_err(Error::io(&path))?;
        written += 1;
    }
    remove_dir(&report)?;
    std::fs::rename(&partial, &report).map_err(Error::io(&report))?;
    Ok(ReportSummary {
        index: dir.report_index(),
        pages: written,
        thumbnails: thumbs.sizes.len(),
        unreadable: thumbs.failed.len(),
        map: run.embeddings.is_some(),
    })
}

/// Writes the report of a run or clustering whose data are `data` (as
/// [`cluster_and_report`](crate::cluster_and_report) does at the end of each).
///
/// An error is [`Error::Report`]: the run's results are written already.
pub fn write_run_report(dir: &RunDir, data: &RunData) -> Result<ReportSummary> {
    let items = RunItems::of(data)?;
    write_html_report(dir, |item| items.image(item)).map_err(|e| Error::Report {
        dir: dir.path().to_path_buf(),
        source: Box::new(e),
    })
}

/// Makes the report of the finished run in `dir` again: its data are reopened from its
/// config.toml and checked against its clusters.csv (an error names the first item that
/// changed).
pub fn remake_report(dir: &RunDir) -> Result<ReportSummary> {
    let rows = dir.clusters().map_err(unfinished(dir))?;
    let items = RunItems::reopen(dir, &rows)?;
    write_html_report(dir, |item| items.image(item))
}

/// An error reading clusters.csv or eval.json, said as "is the run finished?" when the file
/// is missing.
pub(crate) fn unfinished(dir: &RunDir) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            Error::RunFile {
                path: dir.path().to_path_buf(),
                problem: format!(
                    "has no {} yet: is the run finished? (`la train --resume` continues it)",
                    path.file_name().map_or_else(
                        || path.display().to_string(),
                        |n| n.to_string_lossy().into_owned()
                    )
                ),
            }
        }
        e => e,
    }
}

fn remove_dir(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path)(e)),
        _ => Ok(()),
    }
}

/// The run files a report shows.
struct Run {
    rows: Vec<ClusterRow>,
    eval: EvalReport,
    duplicates: Vec<DuplicateRow>,
    /// Clusters: K of eval.json, or more if clusters.csv names a higher one.
    k: usize,
    /// The label names, sorted.
    classes: Vec<String>,
    embeddings: Option<Embeddings>,
}

/// The rows of embeddings.safetensors whose item is in clusters.csv.
struct Embeddings {
    /// The row of clusters.csv of each vector.
    rows: Vec<usize>,
    /// The vectors, row-major.
    vectors: Vec<f32>,
    dim: usize,
}

impl Run {
    fn read(dir: &RunDir) -> Result<Self> {
        let rows = dir.clusters().map_err(unfinished(dir))?;
        let eval = dir.report().map_err(unfinished(dir))?;
        let duplicates = if dir.duplicates_csv().is_file() {
            dir.duplicates()?
        } else {
            Vec::new()
        };
        let embeddings = if dir.embeddings().is_file() {
            Some(Embeddings::read(dir, &rows)?)
        } else {
            None
        };
        let k = rows
            .iter()
            .map(|r| r.cluster as usize + 1)
            .max()
            .unwrap_or(0)
            .max(eval.clusters);
        let classes: BTreeSet<&String> = rows.iter().filter_map(|r| r.label.as_ref()).collect();
        Ok(Run {
            classes: classes.into_iter().cloned().collect(),
            rows,
            eval,
            duplicates,
            k,
            embeddings,
        })
    }
}

impl Embeddings {
    fn read(dir: &RunDir, rows: &[ClusterRow]) -> Result<Self> {
        let (items, vectors) = dir.read_embeddings(&candle_core::Device::Cpu)?;
        let bad = |problem: String| Error::RunFile {
            path: dir.embeddings(),
            problem,
        };
        let (n, dim) = vectors.dims2().map_err(|_| {
            bad(format!(
                "vectors have shape {:?}, not N x D",
                vectors.dims()
            ))
        })?;
        if n != items.len() {
            return Err(bad(format!("{} items but {n} vectors", items.len())));
        }
        let all: Vec<f32> = vectors
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1()?;
        let row_of: HashMap<usize, usize> =
            rows.iter().enumerate().map(|(r, c)| (c.item, r)).collect();
        let (mut kept_rows, mut kept) = (Vec::new(), Vec::new());
        for (i, &item) in items.iter().enumerate() {
            if let Some(&r) = row_of.get(&(item as usize)) {
                kept_rows.push(r);
                kept.extend_from_slice(&all[i * dim..(i + 1) * dim]);
            }
        }
        Ok(Embeddings {
            rows: kept_rows,
            vectors: kept,
            dim,
        })
    }
}
