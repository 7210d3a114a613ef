//! `la cluster`: embed a data set with a trained model, cluster it, write the reports.

use std::process::ExitCode;

use la_segnet::Encoder;
use la_train::{RunConfig, RunData, build_embedder, cluster_and_report, model_config};

use crate::args::{ClusterArgs, OutputMode};
use crate::model_dir::{ModelFile, TrainedModel};
use crate::progress::{Progress, StopFlag};
use crate::settings::{apply_data, default_run_dir, parse_device, write_config};

/// Runs `la cluster`.
pub fn run(args: &ClusterArgs, mode: OutputMode) -> anyhow::Result<ExitCode> {
    let model = TrainedModel::find(&args.model, ModelFile::Embedder)?;
    let device = parse_device(&args.device)?;
    let mut config: RunConfig = model.config.clone();
    // The network's input side stays the one it was trained at unless --image-size says.
    let trained_side = config.data.side;
    config.data = Default::default();
    config.data.side = trained_side;
    apply_data(&args.data, &mut config.data)?;
    if args.clusters.is_some() {
        config.eval.clusters = args.clusters;
    }
    if let Some(m) = args.cluster_method {
        config.eval.method = m.setting();
    }
    // An auto-encoder file gives the encoder alone: no projection.
    config.embedding.enabled &= !model.is_autoencoder();
    config.check()?;
    let data = RunData::open(&config.data, &device)?;
    let encoder = Encoder::init(&model_config(&config)?, &device)?;
    let embedder = build_embedder(&config, encoder, data.input_side())?;
    if model.is_autoencoder() {
        embedder.backbone().load_from(&model.file)?;
    } else {
        embedder.load(&model.file)?;
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_run_dir("-cluster"));
    std::fs::create_dir_all(&dir)?;
    write_config(&config, &dir)?;
    let mut progress = Progress::new(mode, StopFlag::default());
    let report = cluster_and_report(
        &config,
        &data,
        &embedder,
        &la_train::RunDir::new(&dir),
        &mut progress,
    )?;
    drop(progress);
    crate::train::print_report(&report, &dir, mode);
    Ok(ExitCode::SUCCESS)
}
