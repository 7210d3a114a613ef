//! `la train`: a new run directory, or the continuation of a stopped one.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use la_train::{
    ClusterMethod, DataSource, EvalReport, MetricsLog, Outcome, RunConfig, RunDir, Scores, Weights,
};

use crate::args::{OutputMode, TrainArgs};
use crate::progress::{Progress, StopFlag};
use crate::settings::{default_run_dir, parse_device, train_config};

/// Runs `la train`; `given` names the flags given on the command line (by clap id).
pub fn run(args: &TrainArgs, given: &[String], mode: OutputMode) -> anyhow::Result<ExitCode> {
    // Every setting is checked before anything is written.
    let device = parse_device(&args.device)?;
    let (config, dir, created) = match &args.resume {
        Some(dir) => {
            refuse_settings_on_resume(given)?;
            (RunDir::new(dir).config()?, dir.clone(), None)
        }
        None => {
            let config = train_config(args)?;
            if mode != OutputMode::Json && photos_trained_from_scratch(&config) {
                eprintln!(
                    "note: training on photos takes hours on a CPU; with ImageNet weights \
                     (`cargo xtask fetch-weights --variant vgg16_bn`), `la train --data PHOTOS \
                     --weights imagenet --depth 16 --width-divisor 1 --stages none` clusters them \
                     in minutes"
                );
            }
            let dir = args.out.clone().unwrap_or_else(|| default_run_dir(""));
            let run = RunDir::new(&dir);
            let created = run.create_new()?;
            run.write_config(&config)?;
            (config, dir, Some(created))
        }
    };
    let stop = StopFlag::install()?;
    let metrics = MetricsLog::append(&RunDir::new(&dir).metrics())?;
    let mut monitor = (Progress::new(mode, stop), metrics);
    if mode != OutputMode::Json {
        eprintln!("run directory: {}", dir.display());
    }
    let summary = match la_train::run(&config, &dir, &device, &mut monitor) {
        Ok(summary) => summary,
        Err(e) => {
            drop(monitor);
            if let Some(created) = created {
                RunDir::new(&dir).discard_unstarted(created);
            }
            return Err(e.into());
        }
    };
    let (progress, metrics) = monitor;
    drop(progress);
    metrics.finish()?;
    match (summary.outcome, summary.report) {
        (Outcome::Stopped, _) => {
            eprintln!(
                "stopped; a checkpoint is saved. Continue with: la train --resume {}",
                dir.display()
            );
            Ok(ExitCode::from(130))
        }
        (Outcome::Finished, Some(report)) => {
            print_report(&report, &dir, mode);
            Ok(ExitCode::SUCCESS)
        }
        (Outcome::Finished, None) => Ok(ExitCode::SUCCESS),
    }
}

/// Whether `config` trains a network from random weights on photos (a folder or a CSV table
/// of contents), for which pretrained weights are the fast path.
fn photos_trained_from_scratch(config: &RunConfig) -> bool {
    let photos = matches!(
        config.data.source,
        DataSource::Folder { .. } | DataSource::Csv { .. }
    );
    let trains = config.ae.enabled || config.embedding.enabled;
    photos && trains && config.model.weights == Weights::None
}

/// A resumed run keeps the settings of its config.toml: a flag that would change them is an
/// error rather than silently ignored.
fn refuse_settings_on_resume(given: &[String]) -> anyhow::Result<()> {
    // The output options are global: they may follow the subcommand.
    const ALLOWED: [&str; 5] = ["resume", "device", "quiet", "verbose", "progress"];
    match given.iter().find(|id| !ALLOWED.contains(&id.as_str())) {
        Some(id) => bail!(
            "--{} does not apply with --resume: a resumed run keeps the settings of its \
             config.toml; start a new run to change them",
            id.replace('_', "-")
        ),
        None => Ok(()),
    }
}

/// The result: where the files are and, with labels, the scores beside raw pixels'.
pub fn print_report(report: &EvalReport, dir: &Path, mode: OutputMode) {
    if mode == OutputMode::Json {
        if let Ok(line) = serde_json::to_string(
            &serde_json::json!({ "event": "report", "dir": dir, "report": report }),
        ) {
            println!("{line}");
        }
        return;
    }
    println!(
        "{} items in {} clusters (sizes {:?})",
        report.items, report.clusters, report.cluster_sizes
    );
    if let Some(choice) = &report.k_choice {
        let curve: Vec<String> = choice
            .curve
            .iter()
            .map(|(k, v)| format!("{k}: {v:.3}"))
            .collect();
        println!(
            "K = {} chosen by {}; K: value {}",
            choice.chosen,
            choice.criterion,
            curve.join(", ")
        );
    }
    if let Some(s) = &report.scores {
        print_scores(s, report);
    }
    print_knn(report.knn_accuracy, report.pixel_knn_accuracy);
    let d = RunDir::new(dir);
    // Notes go to stderr, also under -q: a left-out file is never silent.
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    println!("clusters:       {}", d.clusters_csv().display());
    println!("contact sheets: {}", d.contact_sheets().display());
    println!("scores:         {}", d.eval_json().display());
    if report.duplicates > 0 {
        println!(
            "near-duplicates: {} pairs in {}",
            report.duplicates,
            d.duplicates_csv().display()
        );
    }
    println!("report:         {}", d.report_index().display());
}

/// The leave-one-out weighted kNN accuracy of the embedding, beside the raw pixels' if known.
pub fn print_knn(model: Option<f64>, pixels: Option<f64>) {
    match (model, pixels) {
        (Some(m), Some(p)) => {
            println!("weighted kNN accuracy (leave-one-out): this model {m:.3}, raw pixels {p:.3}")
        }
        (Some(m), None) => println!("weighted kNN accuracy (leave-one-out): {m:.3}"),
        _ => {}
    }
}

/// The model's `scores` (of the method `report` names) above the raw pixels' of the report.
pub fn print_scores(scores: &Scores, report: &EvalReport) {
    let method = match report.method {
        ClusterMethod::KMeans => "k-means",
        ClusterMethod::Umap { .. } => "UMAP + k-means",
    };
    println!(
        "{:<30} {:>6} {:>6} {:>6} {:>7}",
        "", "ACC", "NMI", "ARI", "purity"
    );
    row(&format!("this model ({method})"), scores);
    if let Some(p) = &report.pixel_method_baseline {
        row(&format!("{method} on raw pixels"), p);
    }
    if let Some(p) = &report.pixel_baseline {
        row("k-means on raw pixels", p);
    }
}

fn row(name: &str, s: &Scores) {
    println!(
        "{name:<30} {:>6.3} {:>6.3} {:>6.3} {:>7.3}",
        s.acc, s.nmi, s.ari, s.purity
    );
}
