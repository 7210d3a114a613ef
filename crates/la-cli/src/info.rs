//! `la info`: what a run directory, a weights file or the default model holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use candle_core::Device;
use la_segnet::{AutoEncoder, HasParams};
use la_train::{RunConfig, RunDir, Weights, model_config, pretrained_weights};
use la_vgg::{Depth, VggConfig};

use crate::args::InfoArgs;
use crate::settings::{CONFIG_FILE, read_config};

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
    let model = model_config(config)?;
    let ae = AutoEncoder::new(&model, &Device::Cpu)?;
    let mut per_group = BTreeMap::new();
    for p in ae.trainable() {
        *per_group.entry(format!("{:?}", p.group)).or_insert(0usize) += p.var.elem_count();
    }
    println!("{what}: SegNet auto-encoder on {}", model.vgg);
    for (group, n) in &per_group {
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
    let config = read_config(&dir.join(CONFIG_FILE))
        .with_context(|| format!("{} is not a run directory", dir.display()))?;
    describe_model(&config, &format!("run {}", dir.display()))?;
    let run = RunDir::new(dir);
    for (name, path, enabled) in [
        ("auto-encoder", run.autoencoder(), config.ae.enabled),
        ("embedder", run.embedder(), true),
        ("clusters", run.clusters_csv(), true),
        ("scores", run.eval_json(), true),
    ] {
        let state = match (path.is_file(), enabled) {
            (true, _) => path.display().to_string(),
            (false, true) => "not yet".into(),
            (false, false) => "none (stage not in this run)".into(),
        };
        println!("  {name:<12} {state}");
    }
    if let Ok(text) = std::fs::read_to_string(run.eval_json()) {
        println!("{text}");
    }
    Ok(())
}

fn describe_file(path: &Path) -> anyhow::Result<()> {
    let tensors = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("{} is not a readable safetensors file", path.display()))?;
    let total: usize = tensors.values().map(|t| t.elem_count()).sum();
    let mut dtypes: Vec<String> = tensors
        .values()
        .map(|t| format!("{:?}", t.dtype()))
        .collect();
    dtypes.sort();
    dtypes.dedup();
    println!(
        "{}: {} tensors, {total} values ({})",
        path.display(),
        tensors.len(),
        dtypes.join(", ")
    );
    for depth in Depth::ALL {
        let config = VggConfig {
            depth,
            ..Default::default()
        };
        if let Ok(w) = la_vgg::load_weights(path, &config, &Device::Cpu) {
            println!(
                "  fits {config} as pretrained weights ({} tensors used)",
                w.tensors().len()
            );
        }
    }
    Ok(())
}
