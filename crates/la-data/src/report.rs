//! What happens to bad input: a skip that is counted and listed, or a fatal error.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;

/// What to do with an input that cannot be used (an unreadable or corrupt image, a CSV row
/// whose image is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strictness {
    /// Skip it and list it in a report ([`Dataset::skipped`](crate::Dataset::skipped),
    /// [`Loader::skipped`](crate::Loader::skipped)). This is the default.
    #[default]
    Lenient,
    /// Stop with the error.
    Strict,
}

/// How thoroughly a file-based source checks its images when the data set is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// Only that the file exists.
    Exists,
    /// Read the header: catches empty files, non-images, unsupported formats, and sizes out of
    /// the [`Decoder`](crate::Decoder)'s limits. This is the default.
    #[default]
    Header,
    /// Decode every image once: also catches truncated and corrupt files, so that training
    /// never meets a bad image. Costs one full decoding pass.
    Decode,
}

/// One input that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line of the CSV table of contents that named the file, if one did.
    pub row: Option<u64>,
    /// Why it was left out.
    pub reason: String,
}

impl Skipped {
    /// A skip record for `error`, about `path` (named by CSV line `row`, if any).
    pub(crate) fn new(path: PathBuf, row: Option<u64>, error: &Error) -> Self {
        Skipped {
            path,
            row,
            reason: error.to_string(),
        }
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display().to_string();
        // Most reasons are errors that already start with the path.
        let reason = self
            .reason
            .strip_prefix(path.as_str())
            .map_or(self.reason.as_str(), |r| r.trim_start_matches(": "))
            .trim();
        match self.row {
            Some(row) => write!(f, "skipped {path} (CSV row {row}): {reason}"),
            None => write!(f, "skipped {path}: {reason}"),
        }
    }
}

/// Applies `strictness` to the outcome of one input: `Ok(Some(v))` to keep, `Ok(None)` after
/// recording a skip, `Err` when strict.
pub(crate) fn triage<T>(
    result: Result<T, Error>,
    strictness: Strictness,
    skipped: &mut Vec<Skipped>,
    path: impl FnOnce() -> PathBuf,
    row: Option<u64>,
) -> Result<Option<T>, Error> {
    match (result, strictness) {
        (Ok(value), _) => Ok(Some(value)),
        (Err(e), Strictness::Strict) => Err(e),
        (Err(e), Strictness::Lenient) => {
            skipped.push(Skipped::new(path(), row, &e));
            Ok(None)
        }
    }
}
