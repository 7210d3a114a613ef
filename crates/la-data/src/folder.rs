//! A folder tree of images; first-level sub-folder names are the labels.

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::decode::Decoder;
use crate::error::{Error, Result};
use crate::report::{Strictness, Verify};
use crate::scan::{Candidate, Checks, assemble};

/// Builds a [`Dataset`] from every image under a folder, recursively.
///
/// Files are taken by extension (by default `jpg`, `jpeg`, `png`, any case); hidden files and
/// folders (names starting with `.`) and symbolic links to folders are not entered. Items are
/// ordered by their path relative to the root, so the order does not depend on the file
/// system. An image inside a first-level sub-folder `root/<class>/...` gets the label
/// `<class>`; an image directly in the root has none.
///
/// ```no_run
/// let dataset = la_data::FolderSource::new("photos").strictness(la_data::Strictness::Strict).build()?;
/// println!("{} images, classes {:?}", dataset.len(), dataset.class_names());
/// # Ok::<(), la_data::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FolderSource {
    root: PathBuf,
    labels: bool,
    extensions: Vec<String>,
    verify: Verify,
    decoder: Decoder,
    strictness: Strictness,
}

impl FolderSource {
    /// A source reading the folder `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FolderSource {
            root: root.into(),
            labels: true,
            extensions: ["jpg", "jpeg", "png"].map(String::from).to_vec(),
            verify: Verify::default(),
            decoder: Decoder::default(),
            strictness: Strictness::default(),
        }
    }

    /// Whether first-level sub-folder names become labels. By default, this is enabled.
    pub fn labels(&mut self, yes: bool) -> &mut Self {
        self.labels = yes;
        self
    }

    /// The file extensions taken as images, without the dot, compared case-insensitively.
    /// By default `jpg`, `jpeg` and `png`.
    pub fn extensions<S: AsRef<str>>(&mut self, extensions: &[S]) -> &mut Self {
        self.extensions = extensions
            .iter()
            .map(|e| e.as_ref().to_lowercase())
            .collect();
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

    /// Whether a bad image is skipped (and listed in [`Dataset::skipped`]) or fatal.
    /// By default, [`Strictness::Lenient`].
    pub fn strictness(&mut self, strictness: Strictness) -> &mut Self {
        self.strictness = strictness;
        self
    }

    /// Walks the folder, checks the images and builds the data set.
    pub fn build(&self) -> Result<Dataset> {
        let meta = std::fs::metadata(&self.root).map_err(Error::io(&self.root))?;
        if !meta.is_dir() {
            return Err(Error::io(&self.root)(
                std::io::ErrorKind::NotADirectory.into(),
            ));
        }
        let mut files = Vec::new();
        self.walk(&self.root, &mut files)?;
        files.sort();
        let candidates = files.into_iter().map(|rel| self.candidate(rel)).collect();
        let checks = Checks {
            verify: self.verify,
            decoder: self.decoder,
            strictness: self.strictness,
        };
        assemble(
            self.root.display().to_string(),
            candidates,
            checks,
            Vec::new(),
        )
    }

    /// Collects the image files under `dir` as paths relative to the root.
    fn walk(&self, dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
        let entries = std::fs::read_dir(dir).map_err(Error::io(dir))?;
        for entry in entries {
            let entry = entry.map_err(Error::io(dir))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type().map_err(Error::io(&path))?;
            if kind.is_dir() {
                self.walk(&path, files)?;
            } else if self.is_image(&path) && (kind.is_file() || path.is_file()) {
                let rel = path.strip_prefix(&self.root).unwrap_or(&path);
                files.push(rel.to_path_buf());
            }
        }
        Ok(())
    }

    fn is_image(&self, path: &Path) -> bool {
        path.extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .is_some_and(|e| self.extensions.contains(&e))
    }

    fn candidate(&self, rel: PathBuf) -> Candidate {
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let label = (self.labels && parts.len() > 1).then(|| parts[0].clone());
        Candidate {
            path: self.root.join(&rel),
            name: parts.join("/"),
            label,
            row: None,
        }
    }
}
