//! `cargo xtask gpu-check`: builds `la-gpu-check` (release, feature `cuda`) into one
//! self-contained binary, `target/gpu-check/la-gpu-check`, for a machine with an NVIDIA GPU,
//! and prints the one command that runs it there.
//!
//! No GPU is needed here, only CUDA 13.0's compiler: taken from the environment when `nvcc` is
//! found (`CUDA_ROOT` / `CUDA_HOME` / `PATH`), else from the env file that
//! `../shared/cuda/setup.sh` writes (`~/.cache/la-cuda-13.0/env.sh`; the script is run first
//! when the file is missing). The build goes to `target/cuda` so that it never invalidates the
//! default build; `CUDA_COMPUTE_CAP` defaults to 90 (H100 / H200).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// Where the binary is copied to, relative to the repository root.
const OUT_DIR: &str = "target/gpu-check";
/// The script that runs the binary and the PyTorch reference on the GPU machine.
const RUNNER: &str = "crates/la-gpu-check/scripts/run_gpu_check.sh";

/// Builds the binary and prints how to run it.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if let Some(a) = args.first() {
        bail!("gpu-check takes no arguments, got `{a}`");
    }
    let sh = Shell::new()?;
    let root = crate::project_root();
    sh.change_dir(&root);
    let build = "CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90} cargo build --release --features cuda \
                 -p la-gpu-check --target-dir target/cuda";
    let script = match cuda_env(&sh, &root)? {
        Some(env) => format!("source '{}' && {build}", env.display()),
        None => build.to_string(),
    };
    cmd!(sh, "bash -c {script}").run()?;
    sh.create_dir(OUT_DIR)?;
    let bin = root.join(OUT_DIR).join("la-gpu-check");
    sh.copy_file(root.join("target/cuda/release/la-gpu-check"), &bin)?;
    let mb = std::fs::metadata(&bin)?.len() as f64 / 1e6;
    println!(
        "\nbuilt {OUT_DIR}/la-gpu-check ({mb:.1} MB)\n\n\
         On a machine with an NVIDIA GPU (driver for CUDA >= 13.0, python3 with PyTorch's CUDA 13\n\
         libraries; no Rust, no network), from a copy of this repository with {OUT_DIR}/:\n\n    \
         bash {RUNNER}\n\n\
         It runs every check and timing and prints one table (also written to $OUT when set).\n\
         With the device tool: run(command=\"bash {RUNNER}\", carry=[\"{OUT_DIR}\"])."
    );
    Ok(())
}

/// The env file to source for nvcc, or None when the environment already has it.
fn cuda_env(sh: &Shell, root: &Path) -> anyhow::Result<Option<PathBuf>> {
    let in_root = ["CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(std::env::var_os)
        .any(|r| Path::new(&r).join("bin/nvcc").exists());
    let on_path = || cmd!(sh, "nvcc --version").quiet().ignore_stdout().run();
    if in_root || on_path().is_ok() {
        return Ok(None);
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let env = Path::new(&home).join(".cache/la-cuda-13.0/env.sh");
    if !env.exists() {
        let setup = root.join("../shared/cuda/setup.sh");
        if !setup.exists() {
            bail!(
                "no nvcc: set CUDA_ROOT to a CUDA 13.0 toolkit, or provide {} \
                 (NVIDIA's compiler from PyPI)",
                setup.display()
            );
        }
        cmd!(sh, "bash {setup}").run()?;
    }
    Ok(Some(env))
}
