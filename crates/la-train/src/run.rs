//! A whole run, as the CLI starts it: data, stage 1, stage 2, final clustering and reports,
//! continuing from whatever checkpoints the run directory already holds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use la_data::Dataset;
use la_segnet::{
    AutoEncoder, Embedder, EmbedderConfig, Encoder, HasParams, Merger, ModelConfig, Param,
};
use la_vgg::{Depth, HfCache, Variant, VggConfig};

use crate::config::{ClusterMethod, MergerSpec, RunConfig, Weights};
use crate::data::RunData;
use crate::embed::{Embedded, embed_all};
use crate::evaluate::{Scores, cluster, knn_accuracy};
use crate::fingerprint::DataFingerprint;
use crate::monitor::{Event, Monitor, Phase};
use crate::report::{EvalReport, SkipRow, cluster_rows, write_contact_sheets};
use crate::run_dir::RunDir;
use crate::stage_ae::{AE_CHECKPOINT, train_autoencoder};
use crate::stage_embedding::{EMBEDDING_CHECKPOINT, train_embedding};
use crate::trainer::Outcome;
use crate::{Checkpoint, Result, RngStream, derive_seed};

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Finished, or stopped at a step boundary (resumable).
    pub outcome: Outcome,
    /// The evaluation, when the run finished.
    pub report: Option<EvalReport>,
}

/// Runs (or continues) the run of `config` in `dir` on `device`: every enabled stage, then the
/// final k-means and the reports. A stage whose checkpoint is complete is not trained again;
/// an incomplete one continues from its checkpoint.
pub fn run(
    config: &RunConfig,
    dir: &Path,
    device: &Device,
    monitor: &mut dyn Monitor,
) -> Result<RunSummary> {
    config.check()?;
    let dir = RunDir::new(dir);
    dir.create()?;
    let data = open_data(config, device, monitor)?;
    crate::memory::check(config, data.len(), crate::memory::available())?;
    dir.check_data(&DataFingerprint::of(data.dataset()))?;
    let seed = config.seed;
    let mut ae = AutoEncoder::new(&model_config(config)?, device)?;
    if let Some(path) = pretrained_weights(&config.model.weights, config.model.vgg().0)? {
        ae.encoder().load_pretrained(&path)?;
    }
    if config.ae.enabled {
        let vars = ae.variables();
        let outcome = stage(
            &dir,
            AE_CHECKPOINT,
            config.ae.epochs,
            device,
            &vars,
            |resume| {
                let out = dir.path();
                train_autoencoder(&mut ae, &data, &config.ae, seed, out, resume, monitor)
            },
        )?;
        if outcome == Outcome::Stopped {
            return Ok(stopped());
        }
        la_segnet::save(&ae, dir.autoencoder())?;
    }
    let (mut encoder, _) = ae.into_parts();
    encoder.set_frozen(false);
    let embedder = build_embedder(config, encoder, data.input_side())?;
    if config.embedding.enabled {
        let vars = embedder.variables();
        let outcome = stage(
            &dir,
            EMBEDDING_CHECKPOINT,
            config.embedding.epochs,
            device,
            &vars,
            |resume| {
                let (c, out) = (&config.embedding, dir.path());
                train_embedding(&embedder, &data, c, seed, out, resume, monitor)
            },
        )?;
        if outcome == Outcome::Stopped {
            return Ok(stopped());
        }
    }
    // Without stage 2 the embedder is the (initial or pretrained) encoder and its merger.
    la_segnet::save(&embedder, dir.embedder())?;
    // A stop asked during the last step or the saves: the report is made on resume.
    if monitor.should_stop() {
        return Ok(stopped());
    }
    let report = cluster_and_report(config, &data, &embedder, &dir, monitor)?;
    Ok(RunSummary {
        outcome: Outcome::Finished,
        report: Some(report),
    })
}

fn open_data(config: &RunConfig, device: &Device, monitor: &mut dyn Monitor) -> Result<RunData> {
    let data = RunData::open(&config.data, device)?;
    let skipped = data.dataset().skipped();
    if !skipped.is_empty() {
        monitor.event(&Event::Note {
            message: format!(
                "{} unreadable files left out while listing the data (more may follow when \
                 decoding; the run lists them all in skipped.csv); the first: {}",
                skipped.len(),
                skipped[0].to_string().trim_start_matches("skipped ")
            ),
        });
    }
    Ok(data)
}

/// The embedder of `config` around `encoder` for square inputs of `side` pixels: merger and,
/// when stage 2 trains it, the projection (without stage 2 a projection would stay random,
/// so the merged code itself is the embedding).
pub fn build_embedder(config: &RunConfig, encoder: Encoder, side: u32) -> Result<Embedder> {
    let projection = config.model.projection;
    Ok(Embedder::new(
        encoder,
        &EmbedderConfig {
            merger: match config.model.merger {
                MergerSpec::Mean => Merger::Mean,
                MergerSpec::Flatten => Merger::Flatten,
            },
            projection: (config.embedding.enabled && projection > 0).then_some(projection),
            image_hw: (side as usize, side as usize),
            seed: derive_seed(config.seed, RngStream::ModelInit, 1, 0),
        },
    )?)
}

/// The network of `config`, seeded from the run's seed.
pub fn model_config(config: &RunConfig) -> Result<ModelConfig> {
    let (depth, width_divisor) = config.model.vgg();
    Ok(ModelConfig {
        vgg: VggConfig {
            depth,
            width_divisor,
            in_channels: 3,
        },
        seed: derive_seed(config.seed, RngStream::ModelInit, 0, 0),
    })
}

/// The file of the configured pretrained weights, if any: ImageNet weights come from the
/// Hugging Face cache (an error says how to put them there).
pub fn pretrained_weights(weights: &Weights, depth: Depth) -> Result<Option<PathBuf>> {
    match weights {
        Weights::None => Ok(None),
        Weights::Path(p) => Ok(Some(p.clone())),
        Weights::Imagenet => {
            let path = Variant::for_depth(depth)
                .cached_weights(&HfCache::from_env())
                .map_err(la_segnet::Error::from)?;
            Ok(Some(path))
        }
    }
}

fn stopped() -> RunSummary {
    RunSummary {
        outcome: Outcome::Stopped,
        report: None,
    }
}

/// One stage of a run: restores `vars` from the stage's checkpoint when it is complete,
/// otherwise trains, continuing from the checkpoint if there is one.
fn stage(
    dir: &RunDir,
    name: &str,
    epochs: usize,
    device: &Device,
    vars: &[Param],
    train: impl FnOnce(Option<&Checkpoint>) -> Result<Outcome>,
) -> Result<Outcome> {
    match load_checkpoint(dir, name, device)? {
        Some(done) if done.run.epoch as usize >= epochs => {
            done.restore_model(vars)?;
            Ok(Outcome::Finished)
        }
        resume => train(resume.as_ref()),
    }
}

fn load_checkpoint(dir: &RunDir, name: &str, device: &Device) -> Result<Option<Checkpoint>> {
    let (_, json) = Checkpoint::paths(&dir.checkpoints(), name);
    if !json.exists() {
        return Ok(None);
    }
    Checkpoint::load(&dir.checkpoints(), name, device).map(Some)
}

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
    let batch = config.embedding.batch_size.max(config.ae.batch_size);
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
    let batch = config.embedding.batch_size.max(config.ae.batch_size);
    let embedded = embed_all(|x| embedder.forward_t(x, false), data, batch, monitor)?;
    let clock = Instant::now();
    monitor.event(&Event::PhaseStart {
        phase: Phase::Evaluation,
        total: None,
    });
    let dataset = data.dataset();
    let mut notes = Vec::new();
    let k = clusters_for(config, dataset, embedded.items.len(), &mut notes);
    let seed = derive_seed(config.seed, RngStream::Evaluation, 0, 0);
    let eval = &config.eval;
    let clustering = cluster(&embedded, k, eval.method, eval.n_runs, seed)?;
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
    dir.write_skipped(&skipped)?;
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
        notes,
    };
    dir.write_report(&report)?;
    monitor.event(&Event::PhaseEnd {
        phase: Phase::Evaluation,
        seconds: clock.elapsed().as_secs_f64(),
    });
    Ok(report)
}

/// K: as configured, else the number of classes when there are labels, else 20; at most
/// the number of items (with a note when that cuts it).
fn clusters_for(
    config: &RunConfig,
    dataset: &Dataset,
    items: usize,
    notes: &mut Vec<String>,
) -> usize {
    let classes = dataset.class_names().len();
    let asked = config
        .eval
        .clusters
        .unwrap_or(if classes > 0 { classes.max(2) } else { 20 });
    if asked > items {
        notes.push(format!(
            "{asked} clusters asked for but only {items} items: {items} clusters"
        ));
    }
    asked.min(items).max(1)
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
