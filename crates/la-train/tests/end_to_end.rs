//! A tiny run end to end (reduced-width model, 64 images): both stages learn, every report
//! is written, and a run stopped and resumed ends with exactly the weights of a straight run.

use std::path::Path;

use candle_core::Device;
use la_data::image::{Rgb, RgbImage};
use la_train::{
    AeConfig, BackboneSpec, DataConfig, DataSource, EmbeddingConfig, EvalConfig, Event, LaConfig,
    ModelSpec, Monitor, ObjectiveKind, Outcome, RunConfig, RunDir, Stage, run,
};

/// 64 images in 4 labelled folders: a class-specific pattern plus seeded noise.
fn write_images(dir: &Path) {
    for class in 0..4u32 {
        let folder = dir.join(format!("class{class}"));
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..16u32 {
            let img = RgbImage::from_fn(32, 32, |x, y| {
                let on = match class {
                    0 => x < 16,
                    1 => y < 16,
                    2 => (x / 8 + y / 8) % 2 == 0,
                    _ => (x as i32 - 16).pow(2) + (y as i32 - 16).pow(2) < 100,
                };
                let noise = ((x * 31 + y * 17 + i * 97 + class * 13) % 23) as u8;
                let v = if on { 200 } else { 40 } + noise;
                Rgb([v, v / 2 + 60, 255 - v])
            });
            img.save(folder.join(format!("{i:02}.png"))).unwrap();
        }
    }
}

fn config(images: &Path) -> RunConfig {
    RunConfig {
        seed: 3,
        data: DataConfig {
            source: DataSource::Folder {
                path: images.to_path_buf(),
                labels: true,
            },
            side: Some(32),
            ..Default::default()
        },
        model: ModelSpec {
            backbone: BackboneSpec::Vgg {
                depth: la_vgg::Depth::Vgg16,
                width_divisor: 16,
            },
            projection: 16,
            ..Default::default()
        },
        ae: AeConfig {
            enabled: true,
            epochs: 4,
            batch_size: 16,
            ..Default::default()
        },
        embedding: EmbeddingConfig {
            epochs: 4,
            batch_size: 16,
            local_aggregation: LaConfig {
                clusters: Some(4),
                clusterings: 2,
                ..Default::default()
            },
            ..Default::default()
        },
        eval: EvalConfig {
            n_runs: 2,
            knn_k: 10,
            sheet_images: 9,
            ..Default::default()
        },
    }
}

/// Records events; asks to stop after `stop_after_steps` steps (once).
#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
    steps: usize,
    stop_after_steps: Option<usize>,
}

impl Monitor for Recorder {
    fn event(&mut self, event: &Event) {
        if matches!(event, Event::Step { .. }) {
            self.steps += 1;
        }
        self.events.push(event.clone());
    }

    fn should_stop(&self) -> bool {
        self.stop_after_steps == Some(self.steps)
    }
}

impl Recorder {
    fn epoch_losses(&self, stage: Stage) -> Vec<f64> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::EpochEnd { stage: s, loss, .. } if *s == stage => Some(*loss),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn both_stages_learn_and_every_report_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);
    let out = tmp.path().join("run");
    let mut rec = Recorder::default();
    let summary = run(&config(&images), &out, &Device::Cpu, &mut rec).unwrap();
    assert_eq!(summary.outcome, Outcome::Finished);

    let ae = rec.epoch_losses(Stage::AutoEncoder);
    let la = rec.epoch_losses(Stage::Embedding);
    assert_eq!((ae.len(), la.len()), (4, 4));
    assert!(ae[3] < ae[0], "auto-encoder loss must fall: {ae:?}");
    assert!(la[3] < la[0], "Local Aggregation loss must fall: {la:?}");

    let dir = RunDir::new(&out);
    for path in [
        dir.autoencoder(),
        dir.embedder(),
        dir.clusters_csv(),
        dir.eval_json(),
    ] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    assert!(out.join("reconstructions/epoch_003.png").is_file());
    assert!(dir.contact_sheets().join("cluster_000.png").is_file());
    let csv = std::fs::read_to_string(dir.clusters_csv()).unwrap();
    assert_eq!(csv.lines().count(), 65);
    assert!(csv.lines().nth(1).unwrap().contains("class0"));
    let report = summary.report.unwrap();
    assert_eq!(report.items, 64);
    assert_eq!(report.cluster_sizes.iter().sum::<usize>(), 64);
    let scores = report.scores.expect("the folders are labels");
    assert!((0.25..=1.0).contains(&scores.acc));
    assert!(report.pixel_baseline.is_some() && report.knn_accuracy.is_some());
    assert!(report.pixel_knn_accuracy.is_some());
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.eval_json()).unwrap()).unwrap();
    assert_eq!(eval["items"], 64);
}

/// The weights of a finished run's two model files.
fn weights(dir: &Path) -> Vec<Vec<u8>> {
    let d = RunDir::new(dir);
    [d.autoencoder(), d.embedder()]
        .iter()
        .filter(|p| p.exists())
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// A temporary folder with the test images, and the tiny configuration over them with the
/// given auto-encoder and Local Aggregation epochs.
fn tiny_run(ae_epochs: usize, la_epochs: usize) -> (tempfile::TempDir, RunConfig) {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);
    let mut cfg = config(&images);
    (cfg.ae.epochs, cfg.embedding.epochs) = (ae_epochs, la_epochs);
    (tmp, cfg)
}

#[test]
fn a_stopped_and_resumed_run_ends_with_the_weights_of_a_straight_run() {
    let (tmp, cfg) = tiny_run(2, 2);
    stop_and_resume(tmp.path(), &cfg, &[4, 2, 3]);
}

#[test]
fn the_contrastive_objective_learns_and_resumes_exactly() {
    let (tmp, mut cfg) = tiny_run(0, 4);
    cfg.ae.enabled = false;
    cfg.embedding.objective = ObjectiveKind::Contrastive;
    let mut rec = Recorder::default();
    let out = tmp.path().join("learns");
    run(&cfg, &out, &Device::Cpu, &mut rec).unwrap();
    let losses = rec.epoch_losses(Stage::Embedding);
    assert_eq!(losses.len(), 4);
    assert!(
        losses[3] < losses[0],
        "contrastive loss must fall: {losses:?}"
    );
    // Two views of 16 images per step: the loss starts near log(31), a uniform choice.
    assert!((losses[0] - 31f64.ln()).abs() < 0.5, "{losses:?}");
    // 8 steps: stop at the end of epoch 0, then twice within epoch 1.
    cfg.embedding.epochs = 2;
    stop_and_resume(tmp.path(), &cfg, &[4, 1, 2]);
}

/// Runs `cfg` straight, then stopped after each number of `stops` steps and resumed each time:
/// both end with the same weights.
fn stop_and_resume(tmp: &Path, cfg: &RunConfig, stops: &[usize]) {
    let straight = tmp.join("straight");
    run(cfg, &straight, &Device::Cpu, &mut Recorder::default()).unwrap();

    // With both stages: stop at an epoch boundary of stage 1 (4 steps per epoch), mid-epoch
    // in stage 1, and mid-epoch in stage 2; resume each time from the checkpoints.
    let resumed = tmp.join("resumed");
    for &stop in stops {
        let mut rec = Recorder {
            stop_after_steps: Some(stop),
            ..Default::default()
        };
        let summary = run(cfg, &resumed, &Device::Cpu, &mut rec).unwrap();
        assert_eq!(summary.outcome, Outcome::Stopped, "stop after {stop} steps");
    }
    let summary = run(cfg, &resumed, &Device::Cpu, &mut Recorder::default()).unwrap();
    assert_eq!(summary.outcome, Outcome::Finished);
    assert!(
        weights(&straight) == weights(&resumed),
        "resumed weights differ"
    );
}

#[test]
fn a_stop_asked_after_the_last_step_leaves_the_report_to_the_resume() {
    let (tmp, cfg) = tiny_run(1, 1);
    let mut straight = Recorder::default();
    run(
        &cfg,
        &tmp.path().join("straight"),
        &Device::Cpu,
        &mut straight,
    )
    .unwrap();

    let dir = tmp.path().join("stopped");
    let mut rec = Recorder {
        stop_after_steps: Some(straight.steps),
        ..Default::default()
    };
    let summary = run(&cfg, &dir, &Device::Cpu, &mut rec).unwrap();
    assert_eq!(summary.outcome, Outcome::Stopped);
    assert_eq!(rec.steps, straight.steps, "every step ran");
    assert!(!RunDir::new(&dir).clusters_csv().exists());

    let mut resumed = Recorder::default();
    let summary = run(&cfg, &dir, &Device::Cpu, &mut resumed).unwrap();
    assert_eq!(summary.outcome, Outcome::Finished);
    assert_eq!(resumed.steps, 0, "nothing trained again");
    assert!(RunDir::new(&dir).clusters_csv().exists());
}

/// Leave-one-out weighted kNN of Wu et al. on raw `[0, 1]` pixels by plain loops: cosine
/// similarity, the k most similar other images vote with weight exp(sim / tau).
fn naive_pixel_knn(images: &Path, k: usize, tau: f64) -> f64 {
    let mut items: Vec<(Vec<f64>, usize)> = Vec::new();
    for class in 0..4 {
        for i in 0..16 {
            let path = images.join(format!("class{class}/{i:02}.png"));
            let img = la_data::image::open(path).unwrap().to_rgb8();
            // The network's planes: every red value, then green, then blue.
            let pixels = (0..3)
                .flat_map(|c| img.pixels().map(move |p| f64::from(p[c]) / 255.0))
                .collect();
            items.push((pixels, class));
        }
    }
    let unit = |v: &[f64]| {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<_>>()
    };
    let rows: Vec<Vec<f64>> = items.iter().map(|(p, _)| unit(p)).collect();
    let right = (0..rows.len())
        .filter(|&i| {
            let mut sims: Vec<(f64, usize)> = (0..rows.len())
                .filter(|&j| j != i)
                .map(|j| (rows[i].iter().zip(&rows[j]).map(|(a, b)| a * b).sum(), j))
                .collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut votes = [0.0; 4];
            for &(s, j) in sims.iter().take(k) {
                votes[items[j].1] += (s / tau).exp();
            }
            let best = (0..4)
                .max_by(|&a, &b| votes[a].total_cmp(&votes[b]))
                .unwrap();
            best == items[i].1
        })
        .count();
    right as f64 / rows.len() as f64
}

#[test]
fn without_stages_the_initial_encoder_is_scored_beside_raw_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);
    let mut c = config(&images);
    (c.ae.enabled, c.embedding.enabled) = (false, false);
    c.eval.knn_k = 40;
    let out = tmp.path().join("run");
    let summary = run(&c, &out, &Device::Cpu, &mut Recorder::default()).unwrap();
    let report = summary.report.unwrap();
    assert!(report.scores.is_some() && report.knn_accuracy.is_some());
    let pixels = report
        .pixel_knn_accuracy
        .expect("labelled data has a pixel kNN");
    let expected = naive_pixel_knn(&images, 40, c.eval.knn_temperature);
    assert!((pixels - expected).abs() < 1e-9, "{pixels} vs {expected}");
    // The initial encoder's embedding is kept for `la cluster`.
    assert!(RunDir::new(&out).embedder().is_file());
    assert!(!RunDir::new(&out).autoencoder().exists());
}
