//! `la info`: what a run directory, a weights file or the default model holds.

use std::path::Path;
use std::process::ExitCode;

use la_train::{ModelSummary, RunConfig, RunDir, Weights, WeightsSummary, pretrained_weights};

use crate::args::InfoArgs;

/// Runs `la info`.
pub fn run(args: &InfoArgs) -> anyhow::Result<ExitCode> {
    match &args.path {
        None => describe_model(&RunConfig::default(), "the default model"),
        Some(p) if p.is_dir() => describe_run(p),
        Some(p) => describe_file(p),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// Architecture and parameter counts of the network of `config`.
fn describe_model(config: &RunConfig, what: &str) -> anyhow::Result<()> {
    let summary = ModelSummary::of(config)?;
    println!("{what}: SegNet auto-encoder on {}", summary.network);
    for (group, n) in &summary.parameters {
        println!("  {group:<8} {n:>12} parameters");
    }
    let projection = match config.model.projection {
        0 => "none".to_string(),
        d => d.to_string(),
    };
    println!(
        "  embedding: code merged by {:?}, projection {projection}, L2-normalised",
        config.model.merger
    );
    match pretrained_weights(&Weights::Imagenet, config.model.vgg().0) {
        Ok(Some(path)) => println!("  ImageNet weights: {}", path.display()),
        Ok(None) => {}
        // The full explanation is for `--weights imagenet`; here one line is enough.
        Err(_) => println!(
            "  ImageNet weights: not in the Hugging Face cache (`cargo xtask fetch-weights`)"
        ),
    }
    Ok(())
}

fn describe_run(dir: &Path) -> anyhow::Result<()> {
    let run = RunDir::new(dir);
    let config = run.config()?;
    describe_model(&config, &format!("run {}", dir.display()))?;
    for (name, path, enabled) in [
        ("auto-encoder", run.autoencoder(), config.ae.enabled),
        ("embedder", run.embedder(), true),
        ("clusters", run.clusters_csv(), true),
        ("scores", run.eval_json(), true),
        ("skipped", run.skipped_csv(), true),
        ("report", run.report_index(), true),
    ] {
        let state = match (path.is_file(), enabled) {
            (true, _) => path.display().to_string(),
            (false, true) => "not yet".into(),
            (false, false) => "none (stage not in this run)".into(),
        };
        println!("  {name:<12} {state}");
    }
    if let Ok(skipped) = run.skipped() {
        println!("  {} input files left out as unreadable", skipped.len());
        for s in skipped.iter().take(5) {
            println!("    {}: {}", s.path, s.reason);
        }
    }
    if let Ok(report) = run.report() {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

fn describe_file(path: &Path) -> anyhow::Result<()> {
    let s = WeightsSummary::of(path)?;
    println!(
        "{}: {} tensors, {} values ({})",
        path.display(),
        s.tensors,
        s.values,
        s.dtypes.join(", ")
    );
    for (network, used) in &s.fits {
        println!("  fits {network} as pretrained weights ({used} tensors used)");
    }
    Ok(())
}
