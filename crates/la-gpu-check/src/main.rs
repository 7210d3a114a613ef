//! `la-gpu-check`: on a machine with an NVIDIA GPU, runs every la-ops op on CUDA against the
//! CPU (tolerances stated in each row), then times the auto-encoder training step, the Local
//! Aggregation step, top-k and k-means at the sizes of issue 8, and prints one Markdown table.
//!
//! Built by `cargo xtask gpu-check` (release, feature `cuda`); needs the NVIDIA driver and CUDA
//! 13's libcudart, libcublas(Lt), libcurand and libnvrtc on `LD_LIBRARY_PATH` (PyTorch's
//! `nvidia/cu13/lib`), nothing else. `crates/la-gpu-check/scripts/run_gpu_check.sh` sets that up
//! and also runs the PyTorch reference. Exit status: 0 all rows passed, 1 some failed, 2 error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod checks;
mod report;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use candle_core::Device;

const USAGE: &str = "usage: la-gpu-check [--checks-only | --bench-only] [--reps N] [--seed S]
                     [--ae-batch B] [--ae-side PX] [--bank-rows N] [--kmeans-scale S] [--out FILE]

  --checks-only      only compare the ops with the CPU
  --bench-only       only time the steps
  --reps N           timed repetitions of the AE step (others scale from it); default 5
  --seed S           seed of the random inputs; default 1
  --ae-batch B       auto-encoder batch; default 64
  --ae-side PX       auto-encoder image side, a multiple of 32; default 224
  --bank-rows N      memory bank rows for the LA step and top-k; default 1280000
  --kmeans-scale S   k-means on 1280000/S points into 30000/S clusters; default 1
  --out FILE         also write the table to FILE";

/// The command line.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    checks: bool,
    bench: bool,
    pub(crate) reps: usize,
    pub(crate) seed: u64,
    pub(crate) ae_batch: usize,
    pub(crate) ae_side: usize,
    pub(crate) bank_rows: usize,
    pub(crate) kmeans_scale: usize,
    out: Option<String>,
}

impl Args {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Self> {
        let mut a = Args {
            checks: true,
            bench: true,
            reps: 5,
            seed: 1,
            ae_batch: 64,
            ae_side: 224,
            bank_rows: 1_280_000,
            kmeans_scale: 1,
            out: None,
        };
        while let Some(flag) = it.next() {
            let mut value = |name: &str| -> Result<String> {
                it.next()
                    .with_context(|| format!("{name} needs a value\n\n{USAGE}"))
            };
            match flag.as_str() {
                "--checks-only" => a.bench = false,
                "--bench-only" => a.checks = false,
                "--reps" => a.reps = value("--reps")?.parse()?,
                "--seed" => a.seed = value("--seed")?.parse()?,
                "--ae-batch" => a.ae_batch = value("--ae-batch")?.parse()?,
                "--ae-side" => a.ae_side = value("--ae-side")?.parse()?,
                "--bank-rows" => a.bank_rows = value("--bank-rows")?.parse()?,
                "--kmeans-scale" => a.kmeans_scale = value("--kmeans-scale")?.parse()?,
                "--out" => a.out = Some(value("--out")?),
                "-h" | "--help" => bail!("{USAGE}"),
                other => bail!("unknown argument `{other}`\n\n{USAGE}"),
            }
        }
        if !a.ae_side.is_multiple_of(32) || a.bank_rows < 4096 + 128 || a.reps == 0 {
            bail!(
                "--ae-side must be a multiple of 32, --bank-rows at least 4224, --reps at least 1"
            );
        }
        Ok(a)
    }
}

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { la_ops::tune_cpu_runtime() };
    match Args::parse(std::env::args().skip(1)).and_then(|a| run(&a)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs what `args` asks for; true when every row passed.
fn run(args: &Args) -> Result<bool> {
    let dev = Device::new_cuda(0).context(
        "no CUDA device: build with `cargo xtask gpu-check` (feature `cuda`) and put CUDA 13's \
         libraries on LD_LIBRARY_PATH",
    )?;
    let mut table = report::Table::default();
    if args.checks {
        checks::run(&dev, args.seed, &mut table)?;
    }
    if args.bench {
        bench::run(&dev, args, &mut table)?;
    }
    let md = table.markdown();
    println!("\n{md}");
    if let Some(path) = &args.out {
        std::fs::write(path, &md).with_context(|| format!("writing {path}"))?;
    }
    Ok(table.passed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        let a = parse(&["--bench-only", "--kmeans-scale", "10", "--reps", "3"]).unwrap();
        assert!(!a.checks && a.bench && a.kmeans_scale == 10 && a.reps == 3);
        assert_eq!(parse(&[]).unwrap().ae_side, 224);
        assert!(parse(&["--ae-side", "100"]).is_err());
        assert!(
            parse(&["--reps"])
                .unwrap_err()
                .to_string()
                .contains("--reps needs a value")
        );
        assert!(parse(&["--frobnicate"]).is_err());
    }
}
