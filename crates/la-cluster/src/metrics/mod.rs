//! Clustering metrics, as free functions of label slices: against known labels, and the
//! silhouette of the data alone.

mod accuracy;
mod confusion;
mod hungarian;
mod information;
mod rand_index;
mod silhouette;

pub use accuracy::{accuracy, clustering_accuracy, purity};
pub use confusion::{ConfusionMatrix, confusion_matrix};
pub use information::nmi;
pub use rand_index::ari;
pub use silhouette::silhouette;
