//! Clustering metrics against known labels, as free functions of two label slices.

mod accuracy;
mod confusion;
mod hungarian;
mod information;
mod rand_index;

pub use accuracy::{accuracy, clustering_accuracy, purity};
pub use confusion::{ConfusionMatrix, confusion_matrix};
pub use information::nmi;
pub use rand_index::ari;
