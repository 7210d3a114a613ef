//! A data set from an IDX image file and, optionally, its label file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dataset::{Dataset, Storage};
use crate::error::{Error, Result};
use crate::idx::{IdxImages, parse_labels};

/// Builds a [`Dataset`] from IDX files (MNIST / Fashion-MNIST format, gzipped or raw: the
/// gzip signature is detected, not the extension).
///
/// Images are held in memory. Each 28x28 grayscale image is padded with black to 32x32 and
/// replicated to RGB when decoded (see [`Dataset::decode`]).
///
/// ```no_run
/// let dataset = la_data::IdxSource::new("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
///     .labels("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
///     .class_names(&la_data::FASHION_MNIST_CLASSES)
///     .build()?;
/// assert_eq!(dataset.len(), 10_000);
/// # Ok::<(), la_data::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct IdxSource {
    images: PathBuf,
    labels: Option<PathBuf>,
    class_names: Option<Vec<String>>,
    limit: Option<usize>,
}

impl IdxSource {
    /// A source reading the IDX image file `images`.
    pub fn new(images: impl Into<PathBuf>) -> Self {
        IdxSource {
            images: images.into(),
            labels: None,
            class_names: None,
            limit: None,
        }
    }

    /// The IDX label file. By default, there are no labels.
    pub fn labels(&mut self, labels: impl Into<PathBuf>) -> &mut Self {
        self.labels = Some(labels.into());
        self
    }

    /// Names of the classes, in label order. By default, the labels' numbers (`"0"`, `"1"`, ..
    /// up to the largest label).
    pub fn class_names<S: AsRef<str>>(&mut self, names: &[S]) -> &mut Self {
        self.class_names = Some(names.iter().map(|s| s.as_ref().to_string()).collect());
        self
    }

    /// Keeps only the first `n` items. By default, all items are kept.
    pub fn limit(&mut self, n: usize) -> &mut Self {
        self.limit = Some(n);
        self
    }

    /// Reads and checks the files and builds the data set.
    pub fn build(&self) -> Result<Dataset> {
        let read = |p: &Path| std::fs::read(p).map_err(Error::io(p));
        let images = read(&self.images)?;
        let labels = match &self.labels {
            Some(p) => Some((read(p)?, p.as_path())),
            None => None,
        };
        self.build_from_bytes(
            &images,
            &self.images,
            labels.as_ref().map(|(b, p)| (b.as_slice(), *p)),
        )
    }

    /// Builds the data set from file contents already in memory; the paths name them.
    pub(crate) fn build_from_bytes(
        &self,
        images: &[u8],
        images_path: &Path,
        labels: Option<(&[u8], &Path)>,
    ) -> Result<Dataset> {
        let mut idx = IdxImages::parse(images, images_path)?;
        let mut raw_labels = match labels {
            Some((bytes, path)) => Some((parse_labels(bytes, path)?, path)),
            None => None,
        };
        if let Some((l, path)) = &raw_labels
            && l.len() != idx.len()
        {
            return Err(Error::IdxCountMismatch {
                images: images_path.to_path_buf(),
                n_images: idx.len(),
                labels: path.to_path_buf(),
                n_labels: l.len(),
            });
        }
        if let Some(n) = self.limit {
            let n = n.min(idx.len());
            // In usize: rows * cols may not fit in u32 (a header of 0 images of 65536x65536).
            idx.pixels
                .truncate(n * idx.rows as usize * idx.cols as usize);
            if let Some((l, _)) = &mut raw_labels {
                l.truncate(n);
            }
        }
        if idx.len() == 0 {
            return Err(Error::NoImages {
                path: images_path.to_path_buf(),
                reason: "the IDX file holds no image".into(),
            });
        }
        let (classes, labels) = self.labels_and_classes(raw_labels, idx.len())?;
        let file = images_path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let names = (0..idx.len()).map(|i| format!("{file}#{i}")).collect();
        Ok(Dataset::new(
            images_path.display().to_string(),
            Storage::Idx(Arc::new(idx)),
            names,
            labels,
            classes,
            Vec::new(),
        ))
    }

    fn labels_and_classes(
        &self,
        raw: Option<(Vec<u8>, &Path)>,
        n: usize,
    ) -> Result<(Vec<String>, Vec<Option<usize>>)> {
        let Some((raw, path)) = raw else {
            return Ok((self.class_names.clone().unwrap_or_default(), vec![None; n]));
        };
        let classes = match &self.class_names {
            Some(names) => names.clone(),
            None => {
                let max = raw.iter().copied().max().map_or(0, usize::from);
                (0..=max).map(|c| c.to_string()).collect()
            }
        };
        if let Some((item, &label)) = raw
            .iter()
            .enumerate()
            .find(|(_, l)| usize::from(**l) >= classes.len())
        {
            return Err(Error::LabelOutOfRange {
                path: path.to_path_buf(),
                item,
                label: usize::from(label),
                classes: classes.len(),
            });
        }
        Ok((
            classes,
            raw.into_iter().map(|l| Some(usize::from(l))).collect(),
        ))
    }
}
