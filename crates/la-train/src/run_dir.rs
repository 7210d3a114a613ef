//! The run directory, the one owner of every file a run reads or writes: its configuration,
//! checkpoints, models, metrics, clusters.csv, contact sheets and eval.json.

use std::path::{Path, PathBuf};

use crate::config::RunConfig;
use crate::fingerprint::DataFingerprint;
use candle_core::Tensor;

use crate::report::{ClusterRow, DuplicateRow, EvalReport, SkipRow};
use crate::{Error, Result};

/// The files of a run directory.
#[derive(Debug, Clone)]
pub struct RunDir(PathBuf);

/// Whether [`RunDir::create_new`] made the directory or found it empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// la created it.
    New,
    /// It existed, empty (a folder the user made).
    Existed,
}

impl RunDir {
    /// The run directory at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RunDir(path.into())
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The run's configuration, as TOML.
    pub fn config_toml(&self) -> PathBuf {
        self.0.join("config.toml")
    }

    /// Resumable checkpoints of both stages.
    pub fn checkpoints(&self) -> PathBuf {
        self.0.join("checkpoints")
    }

    /// The trained auto-encoder (safetensors, la-segnet names).
    pub fn autoencoder(&self) -> PathBuf {
        self.0.join("autoencoder.safetensors")
    }

    /// The trained embedder: encoder and projection (safetensors, la-segnet names).
    pub fn embedder(&self) -> PathBuf {
        self.0.join("embedder.safetensors")
    }

    /// Step and epoch metrics, JSON lines.
    pub fn metrics(&self) -> PathBuf {
        self.0.join("metrics.jsonl")
    }

    /// The final clustering, one row per item.
    pub fn clusters_csv(&self) -> PathBuf {
        self.0.join("clusters.csv")
    }

    /// One contact sheet per cluster.
    pub fn contact_sheets(&self) -> PathBuf {
        self.0.join("contact_sheets")
    }

    /// The input files left out, and why.
    pub fn skipped_csv(&self) -> PathBuf {
        self.0.join("skipped.csv")
    }

    /// Near-duplicate pairs of items.
    pub fn duplicates_csv(&self) -> PathBuf {
        self.0.join("duplicates.csv")
    }

    /// The embedding of every clustered item (safetensors: `items` u32, `vectors` f32 N x D).
    pub fn embeddings(&self) -> PathBuf {
        self.0.join("embeddings.safetensors")
    }

    /// The HTML report's folder (`index.html` and its pages and thumbnails).
    pub fn report_dir(&self) -> PathBuf {
        self.0.join("report")
    }

    /// The HTML report's overview page, `report/index.html`.
    pub fn report_index(&self) -> PathBuf {
        self.report_dir().join("index.html")
    }

    /// What the run was trained on ([`DataFingerprint`]), checked on resume.
    pub fn data_json(&self) -> PathBuf {
        self.0.join("data.json")
    }

    /// Scores of the final clustering.
    pub fn eval_json(&self) -> PathBuf {
        self.0.join("eval.json")
    }

    /// Whether the directory holds a run (its config.toml).
    pub fn holds_run(&self) -> bool {
        self.config_toml().is_file()
    }

    /// Creates the directory (and its parents) if needed.
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.0).map_err(Error::io(&self.0))
    }

    /// Makes the directory of a new run or clustering, which must not exist or be empty: la
    /// never writes into a folder of files it did not make. Returns whether it created the
    /// directory (an empty folder the user made is kept by [`discard_unstarted`]).
    ///
    /// [`discard_unstarted`]: Self::discard_unstarted
    pub fn create_new(&self) -> Result<Created> {
        let occupied = match std::fs::read_dir(&self.0) {
            Ok(mut entries) => entries.next().is_some(),
            Err(_) => return self.create().map(|()| Created::New),
        };
        if !occupied {
            return Ok(Created::Existed);
        }
        Err(Error::RunFile {
            path: self.0.clone(),
            problem: if self.holds_run() {
                "already holds a run; continue it with --resume, or choose a new --out".into()
            } else {
                "is not empty; choose a new --out folder (la writes only into new or empty ones)"
                    .into()
            },
        })
    }

    /// Reads the run's configuration.
    pub fn config(&self) -> Result<RunConfig> {
        let path = self.config_toml();
        if !path.is_file() {
            return Err(Error::NotARun {
                path: self.0.clone(),
            });
        }
        RunConfig::read(&path)
    }

    /// Writes the run's configuration (atomically).
    pub fn write_config(&self, config: &RunConfig) -> Result<()> {
        let text = toml::to_string(config)
            .map_err(|e| Error::config("run configuration", e, "serialisable as TOML"))?;
        write(&self.config_toml(), text.as_bytes())
    }

    /// Reads `clusters.csv`.
    pub fn clusters(&self) -> Result<Vec<ClusterRow>> {
        read_csv(&self.clusters_csv())
    }

    /// Writes `clusters.csv` (atomically).
    pub fn write_clusters(&self, rows: &[ClusterRow]) -> Result<()> {
        const COLUMNS: [&str; 6] = ["item", "path", "cluster", "distance", "confidence", "label"];
        write_csv(&self.clusters_csv(), &COLUMNS, rows)
    }

    /// Reads `skipped.csv`.
    pub fn skipped(&self) -> Result<Vec<SkipRow>> {
        read_csv(&self.skipped_csv())
    }

    /// Writes `skipped.csv` (atomically; a header alone when nothing was left out).
    pub fn write_skipped(&self, rows: &[SkipRow]) -> Result<()> {
        write_csv(&self.skipped_csv(), &["path", "row", "reason"], rows)
    }

    /// Reads `duplicates.csv`.
    pub fn duplicates(&self) -> Result<Vec<DuplicateRow>> {
        read_csv(&self.duplicates_csv())
    }

    /// Writes `duplicates.csv` (atomically; a header alone when there are none).
    pub fn write_duplicates(&self, rows: &[DuplicateRow]) -> Result<()> {
        const COLUMNS: [&str; 5] = ["item_a", "path_a", "item_b", "path_b", "similarity"];
        write_csv(&self.duplicates_csv(), &COLUMNS, rows)
    }

    /// Reads the embeddings written by [`write_embeddings`](Self::write_embeddings): the
    /// items and their rows.
    pub fn read_embeddings(&self, device: &candle_core::Device) -> Result<(Vec<u32>, Tensor)> {
        let path = self.embeddings();
        let mut t = candle_core::safetensors::load(&path, device).map_err(|e| Error::RunFile {
            path: path.clone(),
            problem: format!("not readable embeddings: {e}"),
        })?;
        let mut take = |name: &str| {
            t.remove(name).ok_or_else(|| Error::RunFile {
                path: path.clone(),
                problem: format!("no tensor `{name}`"),
            })
        };
        let (items, vectors) = (take("items")?, take("vectors")?);
        Ok((items.to_vec1()?, vectors))
    }

    /// Writes the embedding of every clustered item (atomically).
    pub fn write_embeddings(&self, items: &[usize], vectors: &Tensor) -> Result<()> {
        let items: Vec<u32> = items.iter().map(|&i| i as u32).collect();
        let n = items.len();
        let tensors = [
            (
                "items",
                Tensor::from_vec(items, n, &candle_core::Device::Cpu)?,
            ),
            (
                "vectors",
                vectors
                    .to_dtype(candle_core::DType::F32)?
                    .to_device(&candle_core::Device::Cpu)?,
            ),
        ];
        let bytes =
            safetensors::serialize(tensors.iter().map(|(k, v)| (*k, v)), None).map_err(|e| {
                Error::RunFile {
                    path: self.embeddings(),
                    problem: format!("cannot serialise: {e}"),
                }
            })?;
        write(&self.embeddings(), &bytes)
    }

    /// Reads `eval.json`.
    pub fn report(&self) -> Result<EvalReport> {
        let path = self.eval_json();
        let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::RunFile {
            path,
            problem: format!("not an eval.json written by la: {e}"),
        })
    }

    /// Writes `eval.json` (atomically, pretty JSON).
    pub fn write_report(&self, report: &EvalReport) -> Result<()> {
        let json = serde_json::to_vec_pretty(report)
            .map_err(|e| Error::config("eval report", e, "serialisable"))?;
        write(&self.eval_json(), &json)
    }

    /// Records the data of a new run, or checks that a resumed run's data did not change
    /// (a run from before the record existed gets one).
    pub fn check_data(&self, now: &DataFingerprint) -> Result<()> {
        let path = self.data_json();
        if !path.is_file() {
            let json = serde_json::to_vec_pretty(now)
                .map_err(|e| Error::config("data fingerprint", e, "serialisable"))?;
            return write(&path, &json);
        }
        let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
        let then: DataFingerprint = serde_json::from_slice(&bytes).map_err(|e| Error::RunFile {
            path: path.clone(),
            problem: format!("not a data record written by la: {e}"),
        })?;
        if &then == now {
            return Ok(());
        }
        Err(Error::RunFile {
            path: self.0.clone(),
            problem: format!(
                "its data changed since the run started ({} items then, {} now, or files \
                 renamed or resized): resuming would train against shifted rows; restore the \
                 data or start a new run",
                then.items, now.items
            ),
        })
    }

    /// Removes a new run that failed before its first checkpoint (bad data, say): its
    /// config.toml and metrics log, then the directory if `created` says la made it and
    /// nothing else is in it. A directory with checkpoints is left untouched.
    pub fn discard_unstarted(&self, created: Created) {
        if self.checkpoints().exists() {
            return;
        }
        let _ = std::fs::remove_file(self.config_toml());
        let _ = std::fs::remove_file(self.metrics());
        let _ = std::fs::remove_file(self.data_json());
        if created == Created::New {
            // Fails, keeping the folder, if anything else is in it.
            let _ = std::fs::remove_dir(&self.0);
        }
    }
}

fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    csv::Reader::from_reader(file)
        .deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.map_err(|e| Error::RunFile {
                path: path.to_path_buf(),
                problem: format!("row {}: {e}", i + 2),
            })
        })
        .collect()
}

/// Writes `rows` under the header `columns` (the field names of `T`, so that an empty table
/// has its header too; the round-trip tests check that they agree).
fn write_csv<T: serde::Serialize>(path: &Path, columns: &[&str], rows: &[T]) -> Result<()> {
    let csv_error = |e: csv::Error| Error::RunFile {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(columns).map_err(csv_error)?;
    for row in rows {
        writer.serialize(row).map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv_error(e.into_error().into()))?;
    write(path, &bytes)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(la_segnet::write_atomic(path, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(item: usize, path: &str, label: Option<&str>) -> ClusterRow {
        ClusterRow {
            item,
            path: path.into(),
            cluster: item as u32 % 3,
            distance: 0.25 * item as f32,
            confidence: 0.5,
            label: label.map(Into::into),
        }
    }

    #[test]
    fn clusters_csv_round_trips_and_quotes_only_what_needs_it() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let rows = vec![
            row(0, "a/b.png", Some("shirt")),
            row(1, "with,comma \"quoted\".jpg", Some("")),
            row(2, "c.idx#2", None),
        ];
        run.write_clusters(&rows).unwrap();
        let text = std::fs::read_to_string(run.clusters_csv()).unwrap();
        let expected = "item,path,cluster,distance,confidence,label\n\
                        0,a/b.png,0,0.000000,0.5000,shirt\n\
                        1,\"with,comma \"\"quoted\"\".jpg\",1,0.250000,0.5000,\n\
                        2,c.idx#2,2,0.500000,0.5000,\n";
        assert_eq!(text, expected);
        let back = run.clusters().unwrap();
        // An empty label reads back as none: the file cannot tell them apart.
        assert_eq!(back[0], rows[0]);
        assert_eq!(back[1].label, None);
        assert_eq!(back[2], rows[2]);
    }

    #[test]
    fn a_bad_row_names_the_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        std::fs::write(
            run.clusters_csv(),
            "item,path,cluster,distance,confidence,label\n0,a,1,0.1,0.2,x\n1,b,two,0.1,0.2,x\n",
        )
        .unwrap();
        let err = run.clusters().unwrap_err().to_string();
        assert!(
            err.contains("clusters.csv") && err.contains("row 3"),
            "{err}"
        );
    }

    #[test]
    fn config_round_trips_and_errors_name_the_directory_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert!(!run.holds_run());
        let err = run.config().unwrap_err().to_string();
        assert!(err.contains("not a run directory"), "{err}");
        let config = RunConfig::paper();
        run.write_config(&config).unwrap();
        assert!(run.holds_run());
        assert_eq!(
            toml::to_string(&run.config().unwrap()).unwrap(),
            toml::to_string(&config).unwrap()
        );
        std::fs::write(run.config_toml(), "# mine\nseed = \"x\"\n").unwrap();
        let err = run.config().unwrap_err().to_string();
        assert!(
            err.contains("config.toml: line 2:") && !err.contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn discard_unstarted_removes_only_what_la_made() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("run"));
        assert_eq!(run.create_new().unwrap(), Created::New);
        run.write_config(&RunConfig::default()).unwrap();
        std::fs::write(run.path().join("notes.txt"), b"mine").unwrap();
        run.discard_unstarted(Created::New);
        assert!(!run.holds_run());
        assert_eq!(
            std::fs::read(run.path().join("notes.txt")).unwrap(),
            b"mine"
        );
        std::fs::remove_file(run.path().join("notes.txt")).unwrap();
        // The user's empty folder stays; la's own goes.
        assert_eq!(run.create_new().unwrap(), Created::Existed);
        run.write_config(&RunConfig::default()).unwrap();
        run.discard_unstarted(Created::Existed);
        assert!(run.path().is_dir() && !run.holds_run());
        run.write_config(&RunConfig::default()).unwrap();
        run.discard_unstarted(Created::New);
        assert!(!run.path().exists());
    }

    #[test]
    fn create_new_refuses_a_folder_with_files_or_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("new/run"));
        assert_eq!(run.create_new().unwrap(), Created::New);
        assert_eq!(run.create_new().unwrap(), Created::Existed);
        std::fs::write(run.path().join("photo.jpg"), b"x").unwrap();
        let err = run.create_new().unwrap_err().to_string();
        assert!(err.contains("not empty"), "{err}");
        run.write_config(&RunConfig::default()).unwrap();
        let err = run.create_new().unwrap_err().to_string();
        assert!(err.contains("--resume"), "{err}");
        assert_eq!(std::fs::read(run.path().join("photo.jpg")).unwrap(), b"x");
    }

    #[test]
    fn skipped_csv_round_trips_and_has_a_header_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        run.write_skipped(&[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(run.skipped_csv()).unwrap(),
            "path,row,reason\n"
        );
        assert!(run.skipped().unwrap().is_empty());
        let rows = vec![
            SkipRow {
                path: "a.jpg".into(),
                row: Some(3),
                reason: "truncated, at byte 10".into(),
            },
            SkipRow {
                path: "b.png".into(),
                row: None,
                reason: "bad CRC".into(),
            },
        ];
        run.write_skipped(&rows).unwrap();
        assert_eq!(run.skipped().unwrap(), rows);
    }
}
