//! Checking the image files of a file-based source before the data set is built, in parallel,
//! and assembling the data set from the ones that pass.

use std::path::PathBuf;

use rayon::prelude::*;

use crate::dataset::{Dataset, Storage, index_classes};
use crate::decode::Decoder;
use crate::error::{Error, Result};
use crate::report::{Skipped, Strictness, Verify, triage};

/// One image a source found: its file, display name, label value and CSV line.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub path: PathBuf,
    pub name: String,
    pub label: Option<String>,
    pub row: Option<u64>,
}

/// What a file-based source needs to check its images.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checks {
    pub verify: Verify,
    pub decoder: Decoder,
    pub strictness: Strictness,
}

impl Checks {
    fn check(&self, c: &Candidate) -> Result<()> {
        match self.verify {
            Verify::Exists => match std::fs::metadata(&c.path).map_err(Error::io(&c.path))? {
                m if m.is_file() => Ok(()),
                _ => Err(Error::io(&c.path)(std::io::ErrorKind::InvalidInput.into())),
            },
            Verify::Header => self.decoder.probe(&c.path).map(drop),
            Verify::Decode => self.decoder.decode(&c.path).map(drop),
        }
    }
}

/// Checks every candidate (in parallel), applies the strictness (the first failure in
/// candidate order is the one reported when strict), and builds the data set from the rest.
/// `skipped` holds what the source itself already left out.
pub(crate) fn assemble(
    source: String,
    candidates: Vec<Candidate>,
    checks: Checks,
    mut skipped: Vec<Skipped>,
) -> Result<Dataset> {
    let outcomes: Vec<Result<()>> = candidates.par_iter().map(|c| checks.check(c)).collect();
    let mut kept = Vec::with_capacity(candidates.len());
    for (c, outcome) in candidates.into_iter().zip(outcomes) {
        let path = c.path.clone();
        if triage(outcome, checks.strictness, &mut skipped, || path, c.row)?.is_some() {
            kept.push(c);
        }
    }
    if kept.is_empty() {
        let reason = match skipped.len() {
            0 => "no file with a supported extension".to_string(),
            n => format!("all {n} images were skipped, the first: {}", skipped[0]),
        };
        return Err(Error::NoImages {
            path: source.into(),
            reason,
        });
    }
    let values: Vec<Option<String>> = kept.iter().map(|c| c.label.clone()).collect();
    let (classes, labels) = index_classes(&values);
    let names = kept.iter().map(|c| c.name.clone()).collect();
    let paths = kept.into_iter().map(|c| c.path).collect();
    Ok(Dataset::new(
        source,
        Storage::Files(paths),
        names,
        labels,
        classes,
        skipped,
    ))
}
