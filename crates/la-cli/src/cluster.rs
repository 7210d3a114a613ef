//! `la cluster`: embed a data set with a trained model, cluster it, write the reports.

use std::process::ExitCode;

use la_train::{DataConfig, ModelFile, RunDir, TrainedModel};

use crate::args::{ClusterArgs, OutputMode};
use crate::progress::{Progress, StopFlag};
use crate::settings::{apply_data, default_run_dir, parse_device};

/// Runs `la cluster`.
pub fn run(args: &ClusterArgs, mode: OutputMode) -> anyhow::Result<ExitCode> {
    let model = TrainedModel::open(&args.model, ModelFile::Embedder)?;
    let device = parse_device(&args.device)?;
    let mut data = DataConfig::default();
    apply_data(&args.data, &mut data)?;
    let mut eval = model.config().eval.clone();
    if args.clusters.is_some() {
        eval.clusters = args.clusters;
    }
    if let Some(m) = args.cluster_method {
        eval.method = m.setting();
    }
    let config = model.cluster_config(data, eval)?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_run_dir("-cluster"));
    let mut progress = Progress::new(mode, StopFlag::default());
    let report = model.cluster_with(&config, &RunDir::new(&dir), &device, &mut progress)?;
    drop(progress);
    crate::train::print_report(&report, &dir, mode);
    Ok(ExitCode::SUCCESS)
}
