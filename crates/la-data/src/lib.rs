//! Data for `la`: data sets, decoding, transforms, augmentations and a parallel batch loader
//! that produces candle tensors.
//!
//! - **Data sets** ([`Dataset`]) come from a folder tree ([`FolderSource`]), a CSV table of
//!   contents ([`CsvSource`], with [`Selection`]s and a label column) or IDX files
//!   ([`IdxSource`]); [`fashion_mnist_sample`] is a labelled sample compiled into the library.
//!   Every item has a stable index (its memory bank row), a display name and an optional
//!   label. A [`Grid`] turns each image into overlapping tiles.
//! - **Decoding** ([`Decoder`]): JPEG and PNG, EXIF orientation applied, everything converted
//!   to 8-bit RGB, sizes checked on the header before anything is allocated.
//! - **Pipelines** ([`PipelineBuilder`], [`Pipeline`]): centre square resized to the side,
//!   tile, then [`Transform`]s, e.g. the paper's [`Augmentations`], from a seeded RNG.
//! - **Loading** ([`LoaderBuilder`], [`Loader`], [`Epoch`], [`Batch`]): rayon-parallel
//!   decoding, background prefetch, a new seeded shuffle per epoch, optional cache,
//!   [`Normalize`]d `(N, 3, H, W)` f32 batches with item indices and labels.
//! - **Seeds** ([`derive_seed`], [`RngStream`]): every random stream of a run derived from its
//!   seed by purpose and position, so that nothing random needs saving.
//! - **Bad input** is skipped and listed ([`Skipped`]) or fatal ([`Strictness::Strict`]).
//! - **Output**: [`Normalize::to_images`] undoes the normalisation; [`ImageGrid`] writes
//!   contact sheets.
//!
//! The library never prints; it returns values and [`Error`]s that name the input.
//!
//! ```
//! use std::sync::Arc;
//! use la_data::{Augmentations, LoaderBuilder, PipelineBuilder};
//!
//! let dataset = Arc::new(la_data::fashion_mnist_sample()?);
//! let train = PipelineBuilder::new().side(32).augment(&Augmentations::default())?.build()?;
//! let loader = LoaderBuilder::new()
//!     .batch_size(128)
//!     .shuffle(true)
//!     .seed(7)
//!     .drop_last(true)
//!     .build(dataset.clone(), train)?;
//! let batch = loader.epoch(0).next().expect("one batch at least")?;
//! assert_eq!(batch.images.dims(), &[128, 3, 32, 32]);
//! assert_eq!(batch.labels[0], dataset.label(batch.indices[0]));
//! // The same epoch again gives the same order and the same augmented pixels.
//! let again = loader.epoch(0).next().expect("one batch at least")?;
//! assert_eq!(again.indices, batch.indices);
//! let diff = (again.images - &batch.images)?.abs()?.max_all()?.to_scalar::<f32>()?;
//! assert_eq!(diff, 0.0);
//! # Ok::<(), la_data::Error>(())
//! ```
#![deny(missing_docs)]

mod augment;
mod cache;
mod color_jitter;
mod csv_toc;
mod dataset;
mod decode;
mod error;
mod folder;
mod grid;
mod idx;
mod idx_source;
mod image_grid;
mod jpeg_markers;
mod loader;
mod normalize;
mod pipeline;
mod random_crop;
mod report;
mod resize;
mod rotation;
mod sample;
mod scan;
mod seed;
mod selection;
mod transform;

pub use augment::Augmentations;
pub use color_jitter::ColorJitter;
pub use csv_toc::{CsvSource, FUNGI_COLUMNS};
pub use dataset::Dataset;
pub use decode::Decoder;
pub use error::{Error, Result};
pub use folder::FolderSource;
pub use grid::Grid;
pub use idx_source::IdxSource;
pub use image_grid::{ImageGrid, save_png};
pub use loader::{Batch, Epoch, Loader, LoaderBuilder, PREFETCH_BYTES};
pub use normalize::Normalize;
pub use pipeline::{Pipeline, PipelineBuilder};
pub use random_crop::RandomResizedCrop;
pub use report::{Skipped, Strictness, Verify};
pub use resize::{resize_centre_square, resize_to_fit};
pub use rotation::RandomRotation;
pub use sample::{DATA_DIR_ENV, FASHION_MNIST_CLASSES, SAMPLE_LEN, data_dir, fashion_mnist_sample};
pub use seed::{RngStream, derive_seed};
pub use selection::Selection;
pub use transform::{RandomGrayscale, RandomHorizontalFlip, Transform};

/// The `image` crate, re-exported so that callers name the same `RgbImage` type.
pub use image;
