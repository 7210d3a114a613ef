//! The end of every run and clustering: embed every item, choose K, cluster, score against
//! the labels and the raw pixels, and write the files the user reads.

use std::time::Instant;

use candle_core::Tensor;
use la_cluster::nearest_others;
use la_data::Dataset;
use la_segnet::Embedder;

use crate::config::{ClusterCount, ClusterMethod, RunConfig};
use crate::data::RunData;
use crate::embed::{Embedded, embed_all};
use crate::evaluate::{KChoice, Scores, Space, cluster, knn_accuracy};
use crate::monitor::{Event, Monitor, Phase};
use crate::report::{DuplicateRow, EvalReport, SkipRow, cluster_rows, write_contact_sheets};
use crate::run_dir::RunDir;
use crate::{Result, RngStream, derive_seed};

/// The raw pixels' scores: k-means, the final clustering method (when it is not k-means)
/// and the weighted kNN.
#[derive(Debug, Clone, Copy)]
struct PixelBaselines {
    kmeans: Scores,
    same_method: Option<Scores>,
    knn: f64,
}

/// Clusters and classifies the raw pixels (scaled to [0, 1], at the network's input size) of
/// every item as the model's embeddings are (`method`: the one their clustering used).
fn pixel_baselines(
    config: &RunConfig,
    data: &RunData,
    labelled: &Labelled,
    k: usize,
    method: ClusterMethod,
    seed: u64,
    monitor: &mut dyn Monitor,
) -> Result<PixelBaselines> {
    let eval = &config.eval;
    let unit = *data.eval_pipeline()?.normalization();
    let batch = crate::memory::embedding_batch(config)?;
    let raw = embed_all(
        |x| -> Result<Tensor> { Ok(unit.to_unit_range(x)?.flatten_from(1)?) },
        data,
        batch,
        monitor,
    )?;
    let truth = &labelled.truth;
    let scores = |method| -> Result<Scores> {
        let clusters = cluster(&raw, k, method, eval.n_runs, seed)?.clusters;
        Scores::of(truth, &labelled.select(&clusters))
    };
    Ok(PixelBaselines {
        kmeans: scores(ClusterMethod::KMeans)?,
        same_method: match method {
            ClusterMethod::KMeans => None,
            method => Some(scores(method)?),
        },
        knn: knn_accuracy(
            &labelled.rows_of(&raw)?,
            truth,
            eval.knn_k,
            eval.knn_temperature,
        )?,
    })
}

/// Embeds every item with `embedder`, clusters the embeddings by the method of
/// `config.eval`, scores the clustering on the labelled items (with the raw-pixel baselines if
/// asked) and writes `clusters.csv`, `skipped.csv`, the contact sheets and `eval.json` into
/// `dir`.
pub fn cluster_and_report(
    config: &RunConfig,
    data: &RunData,
    embedder: &Embedder,
    dir: &RunDir,
    monitor: &mut dyn Monitor,
) -> Result<EvalReport> {
    let batch = crate::memory::embedding_batch(config)?;
    let embedded = embed_all(|x| embedder.forward_t(x, false), data, batch, monitor)?;
    let clock = Instant::now();
    monitor.event(&Event::PhaseStart {
        phase: Phase::Evaluation,
        total: None,
    });
    let dataset = data.dataset();
    let mut notes = Vec::new();
    let seed = derive_seed(config.seed, RngStream::Evaluation, 0, 0);
    let eval = &config.eval;
    let space = Space::of(&embedded, eval.method, seed)?;
    let asked = asked_clusters(config, dataset);
    let (k, k_choice) = clusters_for(asked, &space, embedded.items.len(), seed, &mut notes)?;
    let clustering = space.cluster(k, eval.n_runs, seed)?;
    let labelled = Labelled::of(dataset, &embedded.items, &mut notes);
    let (scores, knn, pixels) = match &labelled {
        None => (None, None, None),
        Some(l) => {
            let scores = Scores::of(&l.truth, &l.select(&clustering.clusters))?;
            let knn = knn_accuracy(
                &l.rows_of(&embedded)?,
                &l.truth,
                eval.knn_k,
                eval.knn_temperature,
            )?;
            let pixels = if eval.pixel_baseline {
                let method = clustering.method;
                Some(pixel_baselines(config, data, l, k, method, seed, monitor)?)
            } else {
                None
            };
            (Some(scores), Some(knn), pixels)
        }
    };
    let skipped: Vec<SkipRow> = dataset
        .skipped()
        .iter()
        .chain(&embedded.skipped)
        .map(SkipRow::from)
        .collect();
    if !skipped.is_empty() {
        notes.push(format!(
            "{} unreadable input file{} left out ({} items clustered); listed in {}",
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" },
            embedded.items.len(),
            dir.skipped_csv().display()
        ));
    }
    let duplicates = near_duplicates(&embedded, dataset, eval.duplicate_similarity)?;
    dir.write_duplicates(&duplicates)?;
    dir.write_skipped(&skipped)?;
    dir.write_embeddings(&embedded.items, &embedded.vectors)?;
    dir.write_clusters(&cluster_rows(dataset, &clustering))?;
    write_contact_sheets(
        &dir.contact_sheets(),
        dataset,
        &data.eval_pipeline()?,
        &clustering,
        config.eval.sheet_images,
    )?;
    let mut sizes = vec![0; k];
    for &c in &clustering.clusters {
        sizes[c as usize] += 1;
    }
    let report = EvalReport {
        items: embedded.items.len(),
        clusters: k,
        inertia: clustering.inertia,
        cluster_sizes: sizes,
        scores,
        knn_accuracy: knn,
        method: clustering.method,
        pixel_baseline: pixels.map(|p| p.kmeans),
        pixel_method_baseline: pixels.and_then(|p| p.same_method),
        pixel_knn_accuracy: pixels.map(|p| p.knn),
        skipped: skipped.len(),
        k_choice,
        duplicates: duplicates.len(),
        notes,
    };
    dir.write_report(&report)?;
    crate::html_report::write_run_report(dir, data)?;
    monitor.event(&Event::PhaseEnd {
        phase: Phase::Evaluation,
        seconds: clock.elapsed().as_secs_f64(),
    });
    Ok(report)
}

/// The K asked for: as configured, else the number of classes when there are labels, else
/// chosen ([`ClusterCount::Auto`]).
fn asked_clusters(config: &RunConfig, dataset: &Dataset) -> ClusterCount {
    let classes = dataset.class_names().len();
    config.eval.clusters.unwrap_or(if classes > 0 {
        ClusterCount::Fixed(classes.max(2))
    } else {
        ClusterCount::Auto
    })
}

/// K for `items` items in `space`: fixed (at most the number of items, with a note when that
/// cuts it) or chosen, with the curve behind the choice.
fn clusters_for(
    asked: ClusterCount,
    space: &Space,
    items: usize,
    seed: u64,
    notes: &mut Vec<String>,
) -> Result<(usize, Option<KChoice>)> {
    match asked {
        ClusterCount::Fixed(k) => {
            if k > items {
                notes.push(format!(
                    "{k} clusters asked for but only {items} items: {items} clusters"
                ));
            }
            Ok((k.min(items).max(1), None))
        }
        ClusterCount::Auto => {
            let choice = space.choose_k(seed)?;
            Ok((choice.chosen, Some(choice)))
        }
    }
}

/// Pairs of items whose embeddings have a cosine similarity of at least `threshold`, among
/// each item's 5 nearest others, each pair once, most similar first.
fn near_duplicates(e: &Embedded, dataset: &Dataset, threshold: f64) -> Result<Vec<DuplicateRow>> {
    let n = e.items.len();
    if n < 2 {
        return Ok(Vec::new());
    }
    let (ids, sims) = nearest_others(&e.vectors, 5.min(n - 1))?;
    let mut pairs = std::collections::BTreeMap::new();
    for (r, (ids, sims)) in ids.iter().zip(&sims).enumerate() {
        for (&j, &s) in ids.iter().zip(sims) {
            if f64::from(s) >= threshold {
                let j = j as usize;
                pairs.insert((r.min(j), r.max(j)), s);
            }
        }
    }
    let name = |r: usize| dataset.name(e.items[r]).unwrap_or_default();
    let mut rows: Vec<DuplicateRow> = pairs
        .into_iter()
        .map(|((a, b), similarity)| DuplicateRow {
            item_a: e.items[a],
            path_a: name(a),
            item_b: e.items[b],
            path_b: name(b),
            similarity,
        })
        .collect();
    rows.sort_by(|x, y| y.similarity.total_cmp(&x.similarity));
    Ok(rows)
}

/// The rows of the clustered items that have a label, and those labels: scores are computed
/// on them alone.
struct Labelled {
    rows: Vec<usize>,
    truth: Vec<u32>,
}

impl Labelled {
    /// `None` when fewer than two items have a label; a note when some have none.
    fn of(dataset: &Dataset, items: &[usize], notes: &mut Vec<String>) -> Option<Self> {
        let (rows, truth): (Vec<usize>, Vec<u32>) = items
            .iter()
            .enumerate()
            .filter_map(|(r, &i)| dataset.label(i).map(|l| (r, l as u32)))
            .unzip();
        if rows.len() < 2 {
            return None;
        }
        if rows.len() < items.len() {
            let first = items
                .iter()
                .find(|&&i| dataset.label(i).is_none())
                .and_then(|&i| dataset.name(i))
                .unwrap_or_default();
            notes.push(format!(
                "{} of {} items have no label (the first: {first}); they are clustered, and \
                 the scores count the labelled ones only",
                items.len() - rows.len(),
                items.len()
            ));
        }
        Some(Labelled { rows, truth })
    }

    fn select<T: Copy>(&self, all: &[T]) -> Vec<T> {
        self.rows.iter().map(|&r| all[r]).collect()
    }

    fn rows_of(&self, e: &Embedded) -> Result<Embedded> {
        if self.rows.len() == e.items.len() {
            return Ok(e.clone());
        }
        let index = Tensor::from_vec(
            self.rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
            self.rows.len(),
            e.vectors.device(),
        )?;
        Ok(Embedded {
            items: self.select(&e.items),
            vectors: e.vectors.index_select(&index, 0)?,
            n_items: e.n_items,
            skipped: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_duplicates_are_the_pairs_above_the_threshold_each_once() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..4 {
            la_data::image::RgbImage::new(16, 16)
                .save(dir.path().join(format!("{i}.png")))
                .unwrap();
        }
        let dataset = la_data::FolderSource::new(dir.path()).build().unwrap();
        // Rows 0 and 2 point the same way (cosine 0.9995), 1 and 3 elsewhere.
        let rows = [1.0f32, 0.0, 0.0, 1.0, 0.9995, 0.0316, -1.0, 0.2];
        let e = Embedded {
            items: vec![0, 1, 2, 3],
            vectors: Tensor::from_vec(rows.to_vec(), (4, 2), &candle_core::Device::Cpu).unwrap(),
            n_items: 4,
            skipped: Vec::new(),
        };
        let pairs = near_duplicates(&e, &dataset, 0.99).unwrap();
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].item_a, pairs[0].item_b), (0, 2));
        let cosine = 0.9995 / (0.9995f64.powi(2) + 0.0316f64.powi(2)).sqrt();
        assert!((f64::from(pairs[0].similarity) - cosine).abs() < 1e-5);
        assert!(near_duplicates(&e, &dataset, 1.0).unwrap().is_empty());
    }
}
