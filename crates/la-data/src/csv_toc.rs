//! A CSV table of contents: one row per image, a path column and optional taxonomy columns.

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::decode::Decoder;
use crate::error::{Error, Result};
use crate::report::{Strictness, Verify, triage};
use crate::scan::{Candidate, Checks, assemble};
use crate::selection::Selection;

/// The columns of the reference fungi table of contents, in order.
pub const FUNGI_COLUMNS: [&str; 10] = [
    "Kingdom",
    "Division",
    "Subdivision",
    "Class",
    "Order",
    "Family",
    "Genus",
    "Species",
    "InstanceIndex",
    "ImageName",
];

/// Builds a [`Dataset`] from a CSV file that lists images, one per row.
///
/// The path column (by default `ImageName`, the reference fungi layout's) holds each image's
/// path relative to the root folder (by default the CSV file's folder). Rows can be selected by
/// column values (several selections must all match), and a column can provide the labels.
/// Items keep the row order of the file.
///
/// ```no_run
/// use la_data::{CsvSource, Selection};
/// let dataset = CsvSource::new("fungi/toc.csv")
///     .select("Family=Amanitaceae,Boletaceae".parse::<Selection>()?)
///     .label_column("Genus")
///     .build()?;
/// # Ok::<(), la_data::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CsvSource {
    csv: PathBuf,
    root: Option<PathBuf>,
    path_column: String,
    label_column: Option<String>,
    selections: Vec<Selection>,
    delimiter: u8,
    verify: Verify,
    decoder: Decoder,
    strictness: Strictness,
}

impl CsvSource {
    /// A source reading the table of contents `csv`.
    pub fn new(csv: impl Into<PathBuf>) -> Self {
        CsvSource {
            csv: csv.into(),
            root: None,
            path_column: "ImageName".into(),
            label_column: None,
            selections: Vec::new(),
            delimiter: b',',
            verify: Verify::default(),
            decoder: Decoder::default(),
            strictness: Strictness::default(),
        }
    }

    /// The folder image paths are relative to. By default, the CSV file's folder.
    pub fn root(&mut self, root: impl Into<PathBuf>) -> &mut Self {
        self.root = Some(root.into());
        self
    }

    /// The column holding image paths. By default, `ImageName`.
    pub fn path_column(&mut self, column: impl Into<String>) -> &mut Self {
        self.path_column = column.into();
        self
    }

    /// The column whose values become labels (an empty cell gives no label). By default, no
    /// labels.
    pub fn label_column(&mut self, column: impl Into<String>) -> &mut Self {
        self.label_column = Some(column.into());
        self
    }

    /// Adds a row selection; a row is kept if it matches every selection. By default, every
    /// row is kept.
    pub fn select(&mut self, selection: Selection) -> &mut Self {
        self.selections.push(selection);
        self
    }

    /// The field delimiter. By default, `,`.
    pub fn delimiter(&mut self, delimiter: u8) -> &mut Self {
        self.delimiter = delimiter;
        self
    }

    /// How each image is checked while building. By default, [`Verify::Header`].
    pub fn verify(&mut self, verify: Verify) -> &mut Self {
        self.verify = verify;
        self
    }

    /// Decoder limits used by the check. By default, [`Decoder::default`].
    pub fn decoder(&mut self, decoder: Decoder) -> &mut Self {
        self.decoder = decoder;
        self
    }

    /// Whether a bad row or image is skipped (and listed in [`Dataset::skipped`]) or fatal.
    /// By default, [`Strictness::Lenient`].
    pub fn strictness(&mut self, strictness: Strictness) -> &mut Self {
        self.strictness = strictness;
        self
    }

    /// Reads the table, selects rows, checks the images and builds the data set.
    pub fn build(&self) -> Result<Dataset> {
        let csv_err = |source| Error::Csv {
            path: self.csv.clone(),
            source,
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .trim(csv::Trim::All)
            .from_path(&self.csv)
            .map_err(csv_err)?;
        let header = reader.headers().map_err(csv_err)?.clone();
        let columns = Columns::find(self, &header)?;
        let root = self.root.clone().unwrap_or_else(|| parent_dir(&self.csv));
        let (mut rows, mut candidates, mut skipped) = (0, Vec::new(), Vec::new());
        for record in reader.records() {
            let record = record.map_err(csv_err)?;
            rows += 1;
            if !columns.selected(&record) {
                continue;
            }
            let line = record.position().map(|p| p.line());
            let candidate = self.candidate(&root, &record, &columns, line);
            let image = candidate.path.clone();
            let exists = self.exists(candidate, line.unwrap_or(0));
            if let Some(c) = triage(exists, self.strictness, &mut skipped, || image, line)? {
                candidates.push(c);
            }
        }
        if rows == 0 {
            return Err(Error::NoImages {
                path: self.csv.clone(),
                reason: "the table has a header but no rows".into(),
            });
        }
        if !self.selections.is_empty() && candidates.is_empty() && skipped.is_empty() {
            return Err(Error::EmptySelection {
                path: self.csv.clone(),
                selection: self
                    .selections
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                rows,
            });
        }
        let checks = Checks {
            verify: self.verify,
            decoder: self.decoder,
            strictness: self.strictness,
        };
        assemble(self.csv.display().to_string(), candidates, checks, skipped)
    }

    fn candidate(
        &self,
        root: &Path,
        record: &csv::StringRecord,
        columns: &Columns,
        line: Option<u64>,
    ) -> Candidate {
        let name = record.get(columns.path).unwrap_or_default().to_string();
        let label = columns
            .label
            .and_then(|c| record.get(c))
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        Candidate {
            path: root.join(&name),
            name,
            label,
            row: line,
        }
    }

    fn exists(&self, c: Candidate, row: u64) -> Result<Candidate> {
        if c.name.is_empty() || !c.path.is_file() {
            return Err(Error::MissingImage {
                csv: self.csv.clone(),
                row,
                image: c.path,
            });
        }
        Ok(c)
    }
}

/// Column positions resolved against the header.
struct Columns<'a> {
    path: usize,
    label: Option<usize>,
    selections: Vec<(usize, &'a Selection)>,
}

impl<'a> Columns<'a> {
    fn find(source: &'a CsvSource, header: &csv::StringRecord) -> Result<Self> {
        let find = |column: &str, role: &'static str| {
            header
                .iter()
                .position(|h| h == column)
                .ok_or_else(|| Error::MissingColumn {
                    path: source.csv.clone(),
                    column: column.to_string(),
                    role,
                    available: header.iter().collect::<Vec<_>>().join(","),
                })
        };
        let path = find(&source.path_column, "image path")?;
        let label = match &source.label_column {
            Some(c) => Some(find(c, "label")?),
            None => None,
        };
        let selections = source
            .selections
            .iter()
            .map(|s| Ok((find(s.column(), "selection")?, s)))
            .collect::<Result<_>>()?;
        Ok(Columns {
            path,
            label,
            selections,
        })
    }

    fn selected(&self, record: &csv::StringRecord) -> bool {
        self.selections
            .iter()
            .all(|(c, s)| record.get(*c).is_some_and(|v| s.matches(v)))
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
