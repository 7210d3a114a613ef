//! The files a run leaves for its user: `clusters.csv`, one contact sheet per cluster and
//! `eval.json`.

use std::path::Path;

use la_data::image::RgbImage;
use la_data::{Dataset, ImageGrid, Pipeline};
use serde::{Deserialize, Serialize, Serializer};

use crate::config::ClusterMethod;
use crate::evaluate::{FinalClustering, KChoice, Scores};
use crate::{Error, Result};

/// What `eval.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Items clustered.
    pub items: usize,
    /// Clusters of the final k-means.
    pub clusters: usize,
    /// Its inertia (sum of squared distances).
    pub inertia: f64,
    /// Sizes of the clusters, by cluster number.
    pub cluster_sizes: Vec<usize>,
    /// Scores of the clustering, when every item has a label.
    pub scores: Option<Scores>,
    /// Leave-one-out weighted kNN accuracy of the embeddings, when labelled.
    pub knn_accuracy: Option<f64>,
    /// How the clusters were found.
    pub method: ClusterMethod,
    /// Scores of k-means on the raw pixels (scaled to `[0, 1]`, at the network's input size),
    /// when labelled and asked for.
    pub pixel_baseline: Option<Scores>,
    /// Scores of the same method as the model's on the raw pixels, when it is not k-means.
    pub pixel_method_baseline: Option<Scores>,
    /// The same weighted kNN accuracy on those raw pixels, when labelled and asked for.
    pub pixel_knn_accuracy: Option<f64>,
    /// Input files left out because they could not be read (listed in skipped.csv).
    #[serde(default)]
    pub skipped: usize,
    /// How K was chosen, when `--clusters auto` chose it.
    #[serde(default)]
    pub k_choice: Option<KChoice>,
    /// Pairs of near-duplicate items found (listed in duplicates.csv).
    #[serde(default)]
    pub duplicates: usize,
    /// What the user should know about this clustering (items not scored, K capped, files
    /// left out), one sentence each.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One row of `duplicates.csv`: two items whose embeddings are nearly the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateRow {
    /// The first item's index.
    pub item_a: usize,
    /// Its display name.
    pub path_a: String,
    /// The second item's index.
    pub item_b: usize,
    /// Its display name.
    pub path_b: String,
    /// Cosine similarity of their embeddings.
    #[serde(serialize_with = "four_places")]
    pub similarity: f32,
}

/// One row of `skipped.csv`: an input file left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkipRow {
    /// The file.
    pub path: String,
    /// The line of the CSV table of contents that named it, if one did.
    pub row: Option<u64>,
    /// Why it was left out.
    pub reason: String,
}

impl From<&la_data::Skipped> for SkipRow {
    fn from(s: &la_data::Skipped) -> Self {
        let path = s.path.display().to_string();
        // The path and row have their own columns: the reason says only what is wrong.
        let mut reason = s.reason.as_str();
        if let Some(at) = s.row.and_then(|row| {
            let tag = format!("row {row}: ");
            reason.find(&tag).map(|i| i + tag.len())
        }) {
            reason = &reason[at..];
        }
        let reason = reason
            .strip_prefix(path.as_str())
            .map_or(reason, |r| r.trim_start_matches([':', ' ']))
            .replace(&format!("the image {path} "), "");
        SkipRow {
            path,
            row: s.row,
            // One line per file: decoders' messages may span several.
            reason: reason.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
}

/// One row of `clusters.csv`: an item and its cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRow {
    /// The item's index in the data set.
    pub item: usize,
    /// Its display name: a path, or `file.idx#row`.
    pub path: String,
    /// Its cluster.
    pub cluster: u32,
    /// Distance to its cluster's centroid.
    #[serde(serialize_with = "six_places")]
    pub distance: f32,
    /// Confidence in the assignment, in `[0, 1]`.
    #[serde(serialize_with = "four_places")]
    pub confidence: f32,
    /// Its label, when the data have labels.
    pub label: Option<String>,
}

fn six_places<S: Serializer>(v: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:.6}"))
}

fn four_places<S: Serializer>(v: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:.4}"))
}

/// The rows of `clusters.csv`: for every item its display name, cluster, distance to the
/// centroid, confidence and, when known, its label.
pub fn cluster_rows(dataset: &Dataset, c: &FinalClustering) -> Vec<ClusterRow> {
    let names = dataset.class_names();
    c.items
        .iter()
        .enumerate()
        .map(|(r, &item)| ClusterRow {
            item,
            path: dataset.name(item).unwrap_or_else(|| format!("item {item}")),
            cluster: c.clusters[r],
            distance: c.distances[r],
            confidence: c.confidence[r],
            label: dataset
                .label(item)
                .map(|l| names.get(l).cloned().unwrap_or_else(|| l.to_string())),
        })
        .collect()
}

/// One PNG per non-empty cluster in `dir` (`cluster_NNN.png`): its `per_sheet` most central
/// images (smallest distance first), as the evaluation pipeline prepares them.
pub fn write_contact_sheets(
    dir: &Path,
    dataset: &Dataset,
    pipeline: &Pipeline,
    c: &FinalClustering,
    per_sheet: usize,
) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut written = 0;
    for cluster in 0..c.k as u32 {
        let mut members: Vec<usize> = (0..c.items.len())
            .filter(|&r| c.clusters[r] == cluster)
            .collect();
        if members.is_empty() {
            continue;
        }
        members.sort_by(|&a, &b| c.distances[a].total_cmp(&c.distances[b]));
        let images = members
            .iter()
            .take(per_sheet)
            .map(|&r| pipeline.load(dataset, c.items[r], 0).map(enlarge))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let columns = (images.len() as f64).sqrt().ceil() as usize;
        ImageGrid {
            columns: columns.max(1),
            ..Default::default()
        }
        .save(&images, &dir.join(format!("cluster_{cluster:03}.png")))?;
        written += 1;
    }
    Ok(written)
}

/// Smallest side of a contact-sheet cell: tiny images are enlarged (nearest neighbour, whole
/// factors) so that a sheet stays legible.
const MIN_CELL: u32 = 96;

fn enlarge(image: RgbImage) -> RgbImage {
    let factor = MIN_CELL.div_ceil(image.width().max(1));
    if factor <= 1 {
        return image;
    }
    let (w, h) = (image.width() * factor, image.height() * factor);
    la_data::image::imageops::resize(&image, w, h, la_data::image::imageops::FilterType::Nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_row_says_the_path_and_row_once() {
        let skipped = la_data::Skipped {
            path: "/p/gone.png".into(),
            row: Some(22),
            reason: "/p/list.csv, row 22: the image /p/gone.png does not exist".into(),
        };
        let row = SkipRow::from(&skipped);
        assert_eq!(row.reason, "does not exist");
        let decode = la_data::Skipped {
            path: "/p/a.png".into(),
            row: None,
            reason: "/p/a.png: cannot decode:\n  truncated".into(),
        };
        assert_eq!(SkipRow::from(&decode).reason, "cannot decode: truncated");
    }
}
