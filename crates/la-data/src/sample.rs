//! The bundled sample: the first 2,000 images of the Fashion-MNIST test split, with labels,
//! compiled into the library so that every binary can run with no download (see
//! `data/README.md` for the licence and how the files were made).

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::Result;
use crate::idx_source::IdxSource;

/// Fashion-MNIST's class names, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Number of images in the bundled sample.
pub const SAMPLE_LEN: usize = 2000;

const IMAGES_FILE: &str = "t10k-images-idx3-ubyte.gz";
const LABELS_FILE: &str = "t10k-labels-idx1-ubyte.gz";
const IMAGES: &[u8] =
    include_bytes!("../../../data/fashion-mnist-sample/t10k-images-idx3-ubyte.gz");
const LABELS: &[u8] =
    include_bytes!("../../../data/fashion-mnist-sample/t10k-labels-idx1-ubyte.gz");

/// The environment variable that overrides [`data_dir`].
pub const DATA_DIR_ENV: &str = "LA_DATA_DIR";

/// The bundled sample as a labelled [`Dataset`] of [`SAMPLE_LEN`] 28x28 grayscale images
/// (padded to 32x32 RGB when decoded), with [`FASHION_MNIST_CLASSES`] as class names.
///
/// The files are compiled into the library, so this works wherever the binary runs.
///
/// ```
/// let sample = la_data::fashion_mnist_sample()?;
/// assert_eq!(sample.len(), la_data::SAMPLE_LEN);
/// assert_eq!(sample.class_names()[9], "Ankle boot");
/// assert_eq!(sample.label(0), Some(9)); // the test split starts with an ankle boot
/// # Ok::<(), la_data::Error>(())
/// ```
pub fn fashion_mnist_sample() -> Result<Dataset> {
    let dir = Path::new("<bundled>/fashion-mnist-sample");
    IdxSource::new(dir.join(IMAGES_FILE))
        .class_names(&FASHION_MNIST_CLASSES)
        .build_from_bytes(
            IMAGES,
            &dir.join(IMAGES_FILE),
            Some((LABELS, &dir.join(LABELS_FILE))),
        )
}

/// The repository's `data/` folder: the value of the `LA_DATA_DIR` environment variable if
/// set, otherwise the folder this crate was compiled from (right for `cargo run` in a clone;
/// a binary moved elsewhere should set `LA_DATA_DIR`).
pub fn data_dir() -> PathBuf {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data"),
    }
}
