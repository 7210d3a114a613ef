//! The one error type of la-vgg.

use std::fmt;
use std::path::PathBuf;

/// What went wrong in la-vgg. Every message names the file, field or tensor at fault and what
/// was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration field is out of range.
    #[error("invalid VGG config: {field} = {value}, expected {expected}")]
    Config {
        /// The field's name.
        field: &'static str,
        /// Its value, formatted.
        value: String,
        /// What is accepted, in words.
        expected: String,
    },
    /// A file could not be opened or read.
    #[error("cannot read weights file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file.
    #[error("{} is not a safetensors file: {reason}", path.display())]
    NotSafetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is a safetensors file, but its tensors do not fit the network.
    #[error("{}", MismatchDisplay { path, network, problems })]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The network it was checked against, e.g. `vgg16_bn (width 1/1, 3 input channels)`.
        network: String,
        /// Every problem found, in the network's tensor order.
        problems: Vec<Problem>,
    },
    /// A weights file is not in the local Hugging Face cache.
    #[error("{}", crate::hf_cache::describe_miss(repo, file, cache_dir, reason))]
    NotInCache {
        /// The hub repository, e.g. `timm/vgg16_bn.tv_in1k`.
        repo: String,
        /// The file in it, e.g. `model.safetensors`.
        file: String,
        /// The cache directory searched.
        cache_dir: PathBuf,
        /// What was missing.
        reason: String,
    },
    /// Downloading from the Hugging Face hub failed (feature `hub`).
    #[error(
        "{}",
        crate::hf_cache::describe_download_failure(repo, file, endpoint, cache_dir, reason)
    )]
    Download {
        /// The hub repository.
        repo: String,
        /// The file in it.
        file: String,
        /// The hub endpoint used (`HF_ENDPOINT`, by default `https://huggingface.co`).
        endpoint: String,
        /// The cache directory the file was to go to.
        cache_dir: PathBuf,
        /// The client's error, formatted.
        reason: String,
    },
    /// candle failed to build a tensor.
    #[error("cannot build tensor {name}: {source}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// candle's error.
        source: candle_core::Error,
    },
}

impl Error {
    /// A `map_err` closure wrapping an I/O error as [`Error::Io`] naming `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl Fn(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io {
            path: path.clone(),
            source,
        }
    }
}

/// One way a weights file does not fit the network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// An expected tensor is absent.
    Missing {
        /// Its name.
        name: String,
        /// The shape it should have.
        expected: Vec<usize>,
    },
    /// A tensor has the wrong shape.
    Shape {
        /// Its name.
        name: String,
        /// The shape it should have.
        expected: Vec<usize>,
        /// The shape it has.
        actual: Vec<usize>,
    },
    /// A tensor has a dtype that is not a float type.
    DType {
        /// Its name.
        name: String,
        /// The dtype it has, as safetensors writes it (`I64`, `U8`, ..).
        actual: String,
    },
    /// A tensor under `features.` that the network does not have (a sign of another depth).
    Unexpected {
        /// Its name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
}

impl Problem {
    /// The name of the tensor concerned, as written in the file.
    pub fn name(&self) -> &str {
        match self {
            Problem::Missing { name, .. }
            | Problem::Shape { name, .. }
            | Problem::DType { name, .. }
            | Problem::Unexpected { name, .. } => name,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { name, expected } => {
                write!(f, "missing tensor {name} (expected shape {expected:?})")
            }
            Problem::Shape {
                name,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "tensor {name} has shape {actual:?}, expected {expected:?}"
                )
            }
            Problem::DType { name, actual } => {
                write!(
                    f,
                    "tensor {name} has dtype {actual}, expected {ACCEPTED_DTYPES}"
                )
            }
            Problem::Unexpected { name, shape } => {
                write!(
                    f,
                    "unexpected tensor {name} (shape {shape:?}): not part of this network"
                )
            }
        }
    }
}

/// The dtypes a weights file may store, in words.
pub(crate) const ACCEPTED_DTYPES: &str = "F32, F16, BF16 or F64";

/// Problems listed in full in a message; the rest are counted.
const LISTED_PROBLEMS: usize = 24;

struct MismatchDisplay<'a> {
    path: &'a PathBuf,
    network: &'a str,
    problems: &'a [Problem],
}

impl fmt::Display for MismatchDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "weights file {} does not fit {} ({n} problem{}):",
            self.path.display(),
            self.network,
            if n == 1 { "" } else { "s" }
        )?;
        for problem in self.problems.iter().take(LISTED_PROBLEMS) {
            write!(f, "\n  {problem}")?;
        }
        if n > LISTED_PROBLEMS {
            write!(f, "\n  ... and {} more", n - LISTED_PROBLEMS)?;
        }
        Ok(())
    }
}
