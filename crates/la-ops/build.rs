//! Compiles the CUDA kernels of la-ops to PTX when the `cuda` feature is on; does nothing
//! otherwise, so that the default build needs no CUDA toolchain.
//!
//! nvcc is `$CUDA_ROOT/bin/nvcc` (or `CUDA_HOME`, `CUDA_PATH`, else `nvcc` on the PATH). The
//! target is `CUDA_COMPUTE_CAP` (e.g. 90 for an H100 / H200, as candle's own kernels use), else
//! the first GPU `nvidia-smi` reports, else 70 (the oldest the kernels support; its PTX is
//! compiled for newer GPUs by the driver when the module loads).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const KERNELS: &[&str] = &["batch_norm", "conv", "normalize", "pool", "topk", "unpool"];
const DIR: &str = "src/cuda/kernels";

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed={DIR}");
    for var in ["CUDA_COMPUTE_CAP", "CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    if env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let nvcc = nvcc();
    let arch = format!("sm_{}", compute_cap());
    for name in KERNELS {
        let src = Path::new(DIR).join(format!("{name}.cu"));
        let ptx = out.join(format!("{name}.ptx"));
        let status = Command::new(&nvcc)
            .args([
                "--ptx",
                "-O3",
                "-std=c++17",
                "-arch",
                &arch,
                "-I",
                DIR,
                "-o",
            ])
            .arg(&ptx)
            .arg(&src)
            .status()
            .unwrap_or_else(|e| panic!("la-ops: cannot run {}: {e}", nvcc.display()));
        assert!(status.success(), "la-ops: nvcc failed on {}", src.display());
    }
}

fn nvcc() -> PathBuf {
    ["CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(env::var_os)
        .map(|root| Path::new(&root).join("bin").join("nvcc"))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nvcc"))
}

fn compute_cap() -> u32 {
    if let Ok(cap) = env::var("CUDA_COMPUTE_CAP") {
        return cap
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("la-ops: CUDA_COMPUTE_CAP={cap} is not a number like 90"));
    }
    let smi = Command::new("nvidia-smi")
        .args(["--query-gpu=compute_cap", "--format=csv,noheader"])
        .output();
    if let Ok(out) = smi {
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(cap) = text
            .lines()
            .next()
            .and_then(|l| l.trim().replace('.', "").parse().ok())
        {
            return cap;
        }
    }
    println!("cargo::warning=la-ops: no CUDA_COMPUTE_CAP and no GPU found; building PTX for sm_70");
    70
}
