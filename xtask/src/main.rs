//! `cargo xtask <task>`: the project's automation, in Rust so that it runs wherever cargo does.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod fetch_data;
mod fetch_weights;
mod gpu_check;
mod quality;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  ci    runs .ci/run: format check, clippy, unused dependencies, the test suite, hub and CUDA
        checks
  bench [ops|ae|data|cluster|la-step ...] [--reps N] [--rounds R] [--no-torch] [--doc PATH]
        run the benchmarks (all by default) beside PyTorch / scikit-learn / Pillow in R
        alternating rounds (3) and rewrite their tables in docs/benchmarks.md
  quality [--sets sample,full,train] [--seeds 0-4] [--full-seeds 0-2] [--name NAME] [-- FLAGS]
        train a recipe (la train FLAGS) over seeds on labelled data, print mean / sd / min
        of its scores beside the raw pixels', and rewrite its block of docs/quality.md
  fetch-weights [--variant vgg16_bn] [--repo ORG/NAME] [--file model.safetensors]
        pretrained VGG-bn weights into the Hugging Face cache, checked
  fetch-data fashion-mnist [--dir PATH]
        the full Fashion-MNIST set (Debian's package, or copied into PATH), sha256-checked
  gpu-check
        build the GPU validation binary (CUDA 13 compiler, no GPU) and say how to run it";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::Ci.run(),
        Some("bench") => bench::run(&args[1..]),
        Some("fetch-weights") => fetch_weights::run(&args[1..]),
        Some("fetch-data") => fetch_data::run(&args[1..]),
        Some("gpu-check") => gpu_check::run(&args[1..]),
        Some("quality") => quality::run(&args[1..]),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root, whatever directory xtask was started from.
fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}
