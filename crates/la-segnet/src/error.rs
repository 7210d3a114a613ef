//! The one error type of la-segnet.

use std::path::PathBuf;

/// What went wrong building, running, saving or loading a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backbone configuration or the pretrained weights were rejected by la-vgg.
    #[error(transparent)]
    Vgg(Box<la_vgg::Error>),
    /// A model configuration field is out of range.
    #[error("invalid model configuration: {field} = {value}, expected {expected}")]
    Config {
        /// The field.
        field: &'static str,
        /// Its value, formatted.
        value: String,
        /// What is valid.
        expected: String,
    },
    /// An input batch does not fit the model.
    #[error("input has shape {got:?}, expected {expected}")]
    Input {
        /// The batch's dimensions.
        got: Vec<usize>,
        /// What the model needs.
        expected: String,
    },
    /// A checkpoint lacks tensors or has tensors of the wrong shape.
    #[error("checkpoint {path} does not fit the model {model}: {problems}", problems = problems.join("; "))]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// The model it was loaded into, described.
        model: String,
        /// Every missing, unexpected or mis-shaped tensor.
        problems: Vec<String>,
    },
    /// A weights file holds NaN or infinite values: the training that wrote it had diverged.
    #[error(
        "{path}: non-finite values in {tensors}; these weights are unusable (were they saved \
         by a run that diverged?)",
        tensors = tensors.join(", ")
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Every tensor with non-finite values, with their counts, as [`crate::non_finite`]
        /// describes them.
        tensors: Vec<String>,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
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

impl From<la_vgg::Error> for Error {
    fn from(e: la_vgg::Error) -> Self {
        Error::Vgg(Box::new(e))
    }
}

/// la-segnet's result type.
pub type Result<T> = std::result::Result<T, Error>;
