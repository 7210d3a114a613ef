//! `la reconstruct`: images through a trained auto-encoder, originals above reconstructions.

use std::process::ExitCode;

use la_data::{Decoder, Normalize, resize_centre_square};
use la_segnet::AutoEncoder;
use la_train::{model_config, save_reconstructions};

use crate::args::ReconstructArgs;
use crate::model_dir::{ModelFile, TrainedModel};

/// Runs `la reconstruct`.
pub fn run(args: &ReconstructArgs) -> anyhow::Result<ExitCode> {
    let model = TrainedModel::find(&args.model, ModelFile::AutoEncoder)?;
    let device = candle_core::Device::Cpu;
    let ae = AutoEncoder::new(&model_config(&model.config)?, &device)?;
    ae.load(&model.file)?;
    let side = model.config.data.effective_side();
    let decoder = Decoder::default();
    let images = args
        .images
        .iter()
        .map(|p| Ok(resize_centre_square(&decoder.decode(p)?, side)?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let normalize = Normalize::IMAGENET;
    let x = normalize.to_tensor(&images, &device)?;
    let recon = ae.forward_t(&x, false)?;
    save_reconstructions(&x, &recon, &normalize, &args.out)?;
    println!("{}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
