//! A run whose learning rate is absurd diverges: it ends with `Error::Diverged` naming the
//! stage and the last step (as the monitor saw it), and saves nothing after it, so the
//! stage's last good checkpoint stays as it was.

use std::path::Path;

use candle_core::Device;
use la_data::image::{Rgb, RgbImage};
use la_train::{
    AeConfig, BackboneSpec, DataConfig, DataSource, EmbeddingConfig, Error, EvalConfig, Event,
    ModelSpec, Monitor, ObjectiveKind, Outcome, RunConfig, RunDir, Stage, run,
};

/// 16 images in 2 labelled folders: stripes one way or the other, plus seeded noise.
fn write_images(dir: &Path) {
    for class in 0..2u32 {
        let folder = dir.join(format!("class{class}"));
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..8u32 {
            let img = RgbImage::from_fn(32, 32, |x, y| {
                let on = if class == 0 { x % 8 < 4 } else { y % 8 < 4 };
                let noise = ((x * 31 + y * 17 + i * 97) % 23) as u8;
                let v = if on { 200 } else { 40 } + noise;
                Rgb([v, 255 - v, v / 2])
            });
            img.save(folder.join(format!("{i:02}.png"))).unwrap();
        }
    }
}

/// Stage 1 only, 3 epochs of 2 steps, at learning rate `lr`.
fn config(images: &Path, lr: f64) -> RunConfig {
    let mut ae = AeConfig {
        enabled: true,
        epochs: 3,
        batch_size: 8,
        reconstructions: 0,
        ..Default::default()
    };
    ae.sgd.lr = lr;
    RunConfig {
        seed: 1,
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
                depth: la_vgg::Depth::Vgg11,
                width_divisor: 16,
            },
            projection: 8,
            ..Default::default()
        },
        ae,
        embedding: EmbeddingConfig {
            enabled: false,
            epochs: 2,
            batch_size: 8,
            objective: ObjectiveKind::Contrastive,
            ..Default::default()
        },
        eval: EvalConfig {
            n_runs: 1,
            knn_k: 4,
            sheet_images: 4,
            ..Default::default()
        },
    }
}

/// Remembers the last step event; asks to stop after `stop_after_steps` steps.
#[derive(Default)]
struct Recorder {
    steps: usize,
    last_step: Option<(Stage, usize, usize, f64, f64)>,
    stop_after_steps: Option<usize>,
}

impl Monitor for Recorder {
    fn event(&mut self, event: &Event) {
        if let Event::Step {
            stage,
            epoch,
            step,
            loss,
            lr,
            ..
        } = event
        {
            self.steps += 1;
            self.last_step = Some((*stage, *epoch, *step, *loss, *lr));
        }
    }

    fn should_stop(&self) -> bool {
        self.stop_after_steps == Some(self.steps)
    }
}

/// Every file under `dir` (relative name, bytes), sorted; empty if `dir` does not exist.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Checks that `err` is the divergence of `stage` at the monitor's last step, and that its
/// message says what to do.
fn assert_diverged_at_last_step(err: &Error, stage: Stage, rec: &Recorder) {
    let (s, e, st, l, r) = rec.last_step.expect("steps were taken");
    match err {
        Error::Diverged {
            stage: got,
            epoch,
            step,
            loss,
            lr,
            what,
        } => {
            assert_eq!((*got, *epoch, *step), (stage, e, st), "{err}");
            assert_eq!(s, stage);
            assert_eq!(loss.to_bits(), l.to_bits(), "{err}");
            assert_eq!(*lr, r);
            // A non-finite loss ends the stage at once; otherwise the weights diverged
            // and the checkpoint at the epoch's end was refused.
            if l.is_finite() {
                assert!(what.contains("non-finite values in model."), "{what}");
            } else {
                assert_eq!(what, "the loss is no longer finite");
            }
        }
        other => panic!("expected a divergence, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("lower the learning rate"), "{msg}");
    assert!(
        msg.contains(&format!("epoch {}, step {}", e + 1, st + 1)),
        "{msg}"
    );
}

#[test]
fn an_absurd_learning_rate_ends_stage_one_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);

    // A good first epoch, stopped at its end: one checkpoint.
    let out = tmp.path().join("run");
    let mut rec = Recorder {
        stop_after_steps: Some(2),
        ..Default::default()
    };
    let summary = run(&config(&images, 0.01), &out, &Device::Cpu, &mut rec).unwrap();
    assert_eq!(summary.outcome, Outcome::Stopped);
    let dir = RunDir::new(&out);
    let good = snapshot(&dir.checkpoints());
    assert_eq!(good.len(), 2, "one checkpoint: two files");

    // Resumed at an absurd learning rate, it diverges in epoch 1; nothing more is saved.
    let mut rec = Recorder::default();
    let err = run(&config(&images, 1e30), &out, &Device::Cpu, &mut rec).unwrap_err();
    assert_diverged_at_last_step(&err, Stage::AutoEncoder, &rec);
    assert!(matches!(err, Error::Diverged { epoch: 1, .. }), "{err}");
    assert!(
        snapshot(&dir.checkpoints()) == good,
        "the checkpoint changed"
    );
    assert!(!dir.autoencoder().exists() && !dir.embedder().exists());

    // From the start: no checkpoint at all.
    let fresh = tmp.path().join("fresh");
    let mut rec = Recorder::default();
    let err = run(&config(&images, 1e30), &fresh, &Device::Cpu, &mut rec).unwrap_err();
    assert_diverged_at_last_step(&err, Stage::AutoEncoder, &rec);
    let dir = RunDir::new(&fresh);
    assert!(snapshot(&dir.checkpoints()).is_empty());
    assert!(!dir.autoencoder().exists() && !dir.embedder().exists());
}

#[test]
fn an_absurd_learning_rate_ends_stage_two_without_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);
    let mut cfg = config(&images, 0.01);
    cfg.ae.enabled = false;
    cfg.embedding.enabled = true;
    cfg.embedding.sgd.lr = 1e30;
    let out = tmp.path().join("run");
    let mut rec = Recorder::default();
    let err = run(&cfg, &out, &Device::Cpu, &mut rec).unwrap_err();
    assert_diverged_at_last_step(&err, Stage::Embedding, &rec);
    let dir = RunDir::new(&out);
    assert!(snapshot(&dir.checkpoints()).is_empty());
    assert!(!dir.embedder().exists());
}
