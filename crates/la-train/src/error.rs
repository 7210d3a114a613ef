//! The one error type of la-train.

use std::path::PathBuf;

/// What went wrong configuring, training, saving or loading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration field is out of range.
    #[error("invalid configuration: {field} = {value}, expected {expected}")]
    Config {
        /// The field, e.g. `la.sgd.momentum`.
        field: String,
        /// Its value, formatted.
        value: String,
        /// What is valid.
        expected: String,
    },
    /// A tensor argument has the wrong shape or dtype.
    #[error("{input} has shape {got:?} ({dtype}), expected {expected}")]
    Shape {
        /// Which argument.
        input: &'static str,
        /// Its dimensions.
        got: Vec<usize>,
        /// Its dtype, formatted.
        dtype: String,
        /// What was expected, in words.
        expected: String,
    },
    /// An item index points outside the memory bank or the clusterings.
    #[error("{input}: item index {index} is out of range for {len} items")]
    Index {
        /// Which argument.
        input: &'static str,
        /// The bad index.
        index: u64,
        /// The number of items.
        len: usize,
    },
    /// The same item appears twice in one batch where rows are written.
    #[error("{input}: item index {index} appears more than once in the batch")]
    DuplicateIndex {
        /// Which argument.
        input: &'static str,
        /// The repeated index.
        index: u32,
    },
    /// Parameters or optimiser state do not fit each other.
    #[error("{what}: {problems}", problems = problems.join("; "))]
    Mismatch {
        /// What was being matched, e.g. "optimiser state".
        what: String,
        /// Every missing, unexpected or mis-shaped entry.
        problems: Vec<String>,
    },
    /// A checkpoint file is missing, unreadable, incomplete or inconsistent.
    #[error("checkpoint {path}: {problem}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field or tensor.
        problem: String,
    },
    /// Training diverged: the loss, or a value to be saved in a checkpoint, is NaN or
    /// infinite. The run ended without saving anything after it, so the stage's checkpoint,
    /// if it has one, is its last good state. Epoch and step count from 0 (as in
    /// [`Position`](crate::Position)); the message counts them from 1, as progress bars do.
    #[error(
        "the {stage} stage diverged at epoch {}, step {} (loss {loss}, learning rate {lr:e}): \
         {what}; nothing was saved after it, so the stage's last checkpoint (if any) is its \
         last good state; lower the learning rate",
        epoch + 1,
        step + 1,
        stage = match stage {
            crate::Stage::AutoEncoder => "auto-encoder",
            crate::Stage::Embedding => "embedding",
        }
    )]
    Diverged {
        /// The stage that diverged.
        stage: crate::Stage,
        /// The epoch of the last step taken, from 0.
        epoch: usize,
        /// The last step taken within that epoch, from 0.
        step: usize,
        /// That step's loss.
        loss: f64,
        /// That step's learning rate.
        lr: f64,
        /// What is no longer finite: the loss, or the tensors named.
        what: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A directory given as a run holds none.
    #[error("{path} is not a run directory: it has no config.toml")]
    NotARun {
        /// The directory.
        path: PathBuf,
    },
    /// A run file (config.toml, clusters.csv, eval.json) cannot be understood.
    #[error("{path}: {problem}")]
    RunFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the row or field.
        problem: String,
    },
    /// The HTML report of a finished run or clustering could not be written; its other files
    /// (clusters.csv, eval.json, ...) are.
    #[error(
        "{dir}: the results are written but not the HTML report ({source}); `la report {dir}` \
         tries again"
    )]
    Report {
        /// The run directory.
        dir: PathBuf,
        /// Why.
        source: Box<Error>,
    },
    /// The run would need more memory than the machine has available.
    #[error(
        "this run needs about {:.1} GiB of memory and {:.1} GiB are available; lower \
         --image-size or --batch-size, or raise --width-divisor",
        *needed as f64 / GIB,
        *available as f64 / GIB
    )]
    Memory {
        /// The estimate, in bytes.
        needed: u64,
        /// Available memory, in bytes.
        available: u64,
    },
    /// A model operation failed.
    #[error(transparent)]
    Model(#[from] la_segnet::Error),
    /// Reading or preparing the images failed.
    #[error(transparent)]
    Data(#[from] la_data::Error),
    /// k-means failed.
    #[error(transparent)]
    Cluster(#[from] la_cluster::Error),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

const GIB: f64 = (1u64 << 30) as f64;

/// la-train's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error with `section.` put before the field of a [`Error::Config`]: the checks of
    /// a shared type (an optimiser, a schedule) do not know which section holds it.
    pub(crate) fn in_section(self, section: &str) -> Self {
        match self {
            Error::Config {
                field,
                value,
                expected,
            } => Error::Config {
                field: format!("{section}.{field}"),
                value,
                expected,
            },
            other => other,
        }
    }

    /// A [`Error::Config`] for `field`.
    pub(crate) fn config(field: &str, value: impl ToString, expected: &str) -> Self {
        Error::Config {
            field: field.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// A [`Error::Shape`] for `input` (the tensor `t`).
    pub(crate) fn shape(input: &'static str, t: &candle_core::Tensor, expected: String) -> Self {
        Error::Shape {
            input,
            got: t.dims().to_vec(),
            dtype: format!("{:?}", t.dtype()),
            expected,
        }
    }

    /// A `map_err` closure wrapping an I/O error as [`Error::Io`] naming `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl Fn(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io {
            path: path.clone(),
            source,
        }
    }

    /// A [`Error::Checkpoint`] for `path`.
    pub(crate) fn checkpoint(path: &std::path::Path, problem: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}
