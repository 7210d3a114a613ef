//! `la reconstruct`: images through a trained auto-encoder, originals above reconstructions.

use std::process::ExitCode;

use la_train::{ModelFile, TrainedModel};

use crate::args::ReconstructArgs;
use crate::settings::parse_device;

/// Runs `la reconstruct`.
pub fn run(args: &ReconstructArgs) -> anyhow::Result<ExitCode> {
    let model = TrainedModel::open(&args.model, ModelFile::AutoEncoder)?;
    model.reconstruct(&args.images, &args.out, &parse_device(&args.device)?)?;
    println!("{}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
