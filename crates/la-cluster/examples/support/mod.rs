//! Helpers shared by the examples: Fashion-MNIST from IDX files, timing.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{Device, Tensor};

/// Where Debian's `dataset-fashion-mnist` package puts the files; `LA_FASHION_MNIST` overrides.
pub fn fashion_dir() -> PathBuf {
    std::env::var_os("LA_FASHION_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"))
}

/// The images (n, rows * cols) as f32 in [0, 1] and the labels of one split ("train" or "t10k").
pub fn fashion(split: &str) -> Result<(Tensor, Vec<u32>)> {
    let dir = fashion_dir();
    let (dims, pixels) = idx(&dir.join(format!("{split}-images-idx3-ubyte.gz")))?;
    let (ldims, labels) = idx(&dir.join(format!("{split}-labels-idx1-ubyte.gz")))?;
    if dims.len() != 3 || ldims != [dims[0]] {
        bail!(
            "{}: image dims {dims:?} and label dims {ldims:?} do not fit",
            dir.display()
        );
    }
    let x: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let x = Tensor::from_vec(x, (dims[0], dims[1] * dims[2]), &Device::Cpu)?;
    Ok((x, labels.into_iter().map(u32::from).collect()))
}

/// The dimensions and the bytes of an IDX file of unsigned bytes (gzipped or not).
fn idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).with_context(|| {
        format!(
            "reading {} (apt-get install dataset-fashion-mnist, or set LA_FASHION_MNIST)",
            path.display()
        )
    })?;
    let mut bytes = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut bytes)
            .with_context(|| format!("decompressing {}", path.display()))?;
    } else {
        bytes = raw;
    }
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        bail!(
            "{}: not an IDX file of unsigned bytes (magic {:02x?})",
            path.display(),
            &bytes[..4.min(bytes.len())]
        );
    }
    let rank = usize::from(bytes[3]);
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        bail!("{}: truncated header", path.display());
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let count: usize = dims.iter().product();
    if bytes.len() != header + count {
        bail!(
            "{}: {} data bytes, dims {dims:?} need {count}",
            path.display(),
            bytes.len() - header
        );
    }
    bytes.drain(..header);
    Ok((dims, bytes))
}

/// Runs `f` and returns its result, the wall-clock seconds it took and the CPU seconds the
/// process spent meanwhile (all threads; on a machine shared with other work, CPU time / threads
/// is what the wall time would have been on an idle machine, roughly).
pub fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64, f64)> {
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let out = f()?;
    Ok((out, start.elapsed().as_secs_f64(), cpu_seconds() - cpu))
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit(')').next().unwrap_or("");
    let ticks: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// `n` x `d` rows drawn uniformly on the unit sphere from a fixed seed (Box-Muller normals,
/// normalised).
pub fn unit_vectors(seed: u64, n: usize, d: usize) -> Result<Tensor> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let normals: Vec<f32> = (0..n * d)
        .map(|_| {
            let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect();
    let x = Tensor::from_vec(normals, (n, d), &Device::Cpu)?;
    Ok(la_ops::l2_normalize_rows(&x)?)
}

/// The median of some numbers.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
