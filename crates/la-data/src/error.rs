//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `la-data`. Every variant names the input it is about (a path,
/// a CSV row, a configuration field) and what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// An image file is empty (zero bytes).
    #[error("{path}: the file is empty (0 bytes)")]
    EmptyFile {
        /// The image file.
        path: PathBuf,
    },
    /// The bytes of an image file are not a supported image (JPEG or PNG), or are corrupt.
    #[error("{path}: cannot decode the image: {source}")]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The decoder's explanation.
        source: image::ImageError,
    },
    /// An image header claims more pixels than the decoder limits allow; nothing was allocated.
    #[error(
        "{path}: the header claims {width}x{height} pixels, over the limit of {max_side} pixels \
         per side and {max_pixels} pixels in all"
    )]
    TooLarge {
        /// The image file.
        path: PathBuf,
        /// Width claimed by the header.
        width: u32,
        /// Height claimed by the header.
        height: u32,
        /// The largest side allowed.
        max_side: u32,
        /// The largest pixel count allowed.
        max_pixels: u64,
    },
    /// An image is smaller than the smallest side the decoder accepts.
    #[error(
        "{path}: the image is {width}x{height} pixels, its shorter side should be at least {min_side}"
    )]
    TooSmall {
        /// The image file.
        path: PathBuf,
        /// Width of the image.
        width: u32,
        /// Height of the image.
        height: u32,
        /// The smallest side allowed.
        min_side: u32,
    },
    /// A row of a CSV table of contents names an image file that does not exist.
    #[error("{csv}, row {row}: the image {image} does not exist")]
    MissingImage {
        /// The CSV file.
        csv: PathBuf,
        /// The 1-based line number of the row in the CSV file (the header is line 1).
        row: u64,
        /// The image path the row resolves to.
        image: PathBuf,
    },
    /// A CSV file could not be parsed.
    #[error("{path}: {source}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// The parser's explanation.
        source: csv::Error,
    },
    /// A CSV file lacks a column that the configuration names.
    #[error("{path}: no column `{column}` ({role}); the header has: {available}")]
    MissingColumn {
        /// The CSV file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// What the column was needed for (image path, label, selection).
        role: &'static str,
        /// The header's columns, comma-separated.
        available: String,
    },
    /// A row selection could not be parsed.
    #[error("invalid selection `{spec}`: {reason}")]
    InvalidSelection {
        /// The selection as written.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A row selection matched no row of the CSV file.
    #[error("{path}: the selection {selection} matches none of its {rows} rows")]
    EmptySelection {
        /// The CSV file.
        path: PathBuf,
        /// The selection, as written.
        selection: String,
        /// How many rows the file has.
        rows: usize,
    },
    /// A source yielded no image at all.
    #[error("{path}: no image found ({reason})")]
    NoImages {
        /// The folder or file searched.
        path: PathBuf,
        /// What was searched for, or why everything was skipped.
        reason: String,
    },
    /// An IDX file does not start with the magic number expected for its role.
    #[error("{path}: IDX magic number is 0x{found:08x}, expected 0x{expected:08x} ({what})")]
    IdxMagic {
        /// The IDX file.
        path: PathBuf,
        /// The magic number found.
        found: u32,
        /// The magic number expected.
        expected: u32,
        /// What the file should hold (images or labels).
        what: &'static str,
    },
    /// An IDX file's length disagrees with the dimensions in its header.
    #[error("{path}: IDX header {dims:?} implies {expected} bytes, the file holds {found}")]
    IdxLength {
        /// The IDX file.
        path: PathBuf,
        /// The dimensions in the header.
        dims: Vec<u32>,
        /// The byte count the header implies (header included).
        expected: u64,
        /// The byte count found (after decompression).
        found: u64,
    },
    /// An IDX image file and its label file hold different numbers of items.
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    IdxCountMismatch {
        /// The image file.
        images: PathBuf,
        /// Its item count.
        n_images: usize,
        /// The label file.
        labels: PathBuf,
        /// Its item count.
        n_labels: usize,
    },
    /// A label value has no class name.
    #[error("{path}: item {item} has label {label}, but only {classes} class names are known")]
    LabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// The item.
        item: usize,
        /// The label.
        label: usize,
        /// How many class names there are.
        classes: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid {field} = {value}: {expected}")]
    InvalidConfig {
        /// The configuration field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// An image has a size that the operation cannot take.
    #[error("{what}: got a {width}x{height} image, expected {expected}")]
    ImageSize {
        /// The operation or input.
        what: String,
        /// Width of the image.
        width: u32,
        /// Height of the image.
        height: u32,
        /// What was expected.
        expected: String,
    },
    /// A tensor has a shape that the operation cannot take.
    #[error("{what}: got a tensor of shape {shape:?}, expected {expected}")]
    TensorShape {
        /// The operation.
        what: &'static str,
        /// The shape found.
        shape: Vec<usize>,
        /// What was expected.
        expected: &'static str,
    },
    /// An image could not be encoded or written.
    #[error("{path}: cannot write the image: {source}")]
    Encode {
        /// The output file.
        path: PathBuf,
        /// The encoder's explanation.
        source: image::ImageError,
    },
    /// The resizer failed.
    #[error("resizing a {width}x{height} image: {reason}")]
    Resize {
        /// Width of the source image.
        width: u32,
        /// Height of the source image.
        height: u32,
        /// The resizer's explanation.
        reason: String,
    },
    /// The background loader thread stopped unexpectedly (it panicked).
    #[error("the background loader thread stopped unexpectedly")]
    LoaderStopped,
    /// The worker thread pool could not be built.
    #[error("cannot start {threads} loader threads: {reason}")]
    ThreadPool {
        /// The requested thread count.
        threads: usize,
        /// Why.
        reason: String,
    },
    /// A candle operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// The file this error is about, when it is about one file.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Io { path, .. }
            | Error::EmptyFile { path }
            | Error::Decode { path, .. }
            | Error::TooLarge { path, .. }
            | Error::TooSmall { path, .. }
            | Error::Csv { path, .. }
            | Error::MissingColumn { path, .. }
            | Error::EmptySelection { path, .. }
            | Error::NoImages { path, .. }
            | Error::IdxMagic { path, .. }
            | Error::IdxLength { path, .. }
            | Error::LabelOutOfRange { path, .. }
            | Error::Encode { path, .. } => Some(path),
            Error::MissingImage { image, .. } => Some(image),
            _ => None,
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

    /// Shorthand for [`Error::InvalidConfig`].
    pub(crate) fn config(
        field: &'static str,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::InvalidConfig {
            field,
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
