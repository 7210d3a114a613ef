//! Decoding throughput: JPEG decode + resize of the shorter side + centre crop to 224, on a
//! folder of generated 1024x768 JPEGs, with a fixed number of threads.
//!
//! ```text
//! cargo run --release -p la-data --example bench_decode -- [--n 500] [--threads 2]
//!     [--width 1024] [--height 768] [--side 224] [--repeat 3] [--dir PATH] [--json]
//! ```
//!
//! Without `--dir`, the images are generated into a temporary folder that is removed at the
//! end. With `--dir`, JPEGs already in the folder are used (for instance ones written by
//! `scripts/bench_decode.py --generate`), and if it holds none, the generated images are
//! written there and kept, so that `scripts/bench_decode.py --dir PATH` can measure Pillow and
//! torchvision on the very same files. Prints the best of `--repeat` passes for:
//! - `prepare`: decode + resize + centre crop to 8-bit RGB (what Pillow's pipeline does);
//! - `loader`: the same through `Loader` (batches of 64 normalised f32 tensors, prefetched),
//!   what torchvision's `DataLoader` with `ToTensor` + `Normalize` does.
//!
//! With `--json`, the two results are printed as JSON objects, one per line (`impl`, `images`,
//! `threads`, `side`, `passes`, `per_s`, `per_cpu_s`), for `cargo xtask bench data`.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use la_data::{Dataset, FolderSource, LoaderBuilder, PipelineBuilder, Verify};
use rayon::prelude::*;

struct Args {
    n: usize,
    threads: usize,
    width: u32,
    height: u32,
    side: u32,
    repeat: usize,
    dir: Option<PathBuf>,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        n: 500,
        threads: 2,
        width: 1024,
        height: 768,
        side: 224,
        repeat: 3,
        dir: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--n" => args.n = number(value()?)?,
            "--threads" => args.threads = number(value()?)?,
            "--width" => args.width = number(value()?)? as u32,
            "--height" => args.height = number(value()?)? as u32,
            "--side" => args.side = number(value()?)? as u32,
            "--repeat" => args.repeat = number(value()?)?.max(1),
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "--json" => args.json = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// A photo-like test image: smooth gradients, a few discs, and pixel noise, so that the JPEG
/// has realistic entropy (a pure gradient would decode unrealistically fast).
fn synthetic(width: u32, height: u32, seed: u32) -> image::RgbImage {
    let hash = |x: u32, y: u32| {
        let mut h = x.wrapping_mul(0x9e37_79b1)
            ^ y.wrapping_mul(0x85eb_ca77)
            ^ seed.wrapping_mul(0xc2b2_ae3d);
        h ^= h >> 15;
        h = h.wrapping_mul(0x2c1b_3c6d);
        h ^ (h >> 12)
    };
    let discs: Vec<(f32, f32, f32, [u8; 3])> = (0..6)
        .map(|k| {
            let h = hash(k, 7);
            let cx = (h % width) as f32;
            let cy = ((h >> 8) % height) as f32;
            let r = 40.0 + ((h >> 16) % 160) as f32;
            (
                cx,
                cy,
                r,
                [(h >> 3) as u8, (h >> 11) as u8, (h >> 19) as u8],
            )
        })
        .collect();
    image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let mut p = [
            (fx / width as f32 * 200.0) as i32,
            (fy / height as f32 * 180.0) as i32,
            (((fx + fy) * 0.02 + seed as f32).sin() * 60.0 + 100.0) as i32,
        ];
        for &(cx, cy, r, c) in &discs {
            if (fx - cx).powi(2) + (fy - cy).powi(2) < r * r {
                p = c.map(i32::from);
            }
        }
        let noise = (hash(x, y) % 25) as i32 - 12;
        image::Rgb(p.map(|v| (v + noise).clamp(0, 255) as u8))
    })
}

fn jpegs_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| {
                e.path()
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("jpg"))
            })
            .count()
    })
}

fn generate(dir: &Path, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    (0..args.n)
        .into_par_iter()
        .try_for_each(|k| {
            let image = synthetic(args.width, args.height, k as u32);
            let file = std::fs::File::create(dir.join(format!("img{k:05}.jpg")))?;
            let mut writer = std::io::BufWriter::new(file);
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, 90)
                .encode_image(&image)?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .map_err(|e| e as Box<dyn std::error::Error>)
}

/// Throughput of one measured stage.
struct Rate {
    /// Images per wall-clock second, best pass.
    wall: f64,
    /// Images per CPU-second (user + system, all threads), over all passes: what the work
    /// costs, which other load on the machine does not change much.
    cpu: Option<f64>,
}

/// CPU time used so far by this process, all threads (Linux: /proc/self/stat, in ticks of
/// 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The rates of `repeat` runs of `f` over `n` images.
fn rate(
    n: usize,
    repeat: usize,
    mut f: impl FnMut() -> Result<(), la_data::Error>,
) -> Result<Rate, la_data::Error> {
    let mut best = f64::MAX;
    let cpu_start = cpu_seconds();
    for _ in 0..repeat {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    let cpu = cpu_start
        .zip(cpu_seconds())
        .map(|(a, b)| (n * repeat) as f64 / (b - a));
    Ok(Rate {
        wall: n as f64 / best,
        cpu,
    })
}

fn measure(dataset: Arc<Dataset>, args: &Args) -> Result<(Rate, Rate), la_data::Error> {
    let pipeline = PipelineBuilder::new().side(args.side).build()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .map_err(|e| la_data::Error::ThreadPool {
            threads: args.threads,
            reason: e.to_string(),
        })?;
    let n = dataset.len();
    // Warm the page cache so that both measurements read from memory.
    for i in 0..n {
        let _ = std::fs::read(dataset.path(i).unwrap_or(Path::new("")));
    }
    let prepare = rate(n, args.repeat, || {
        pool.install(|| {
            (0..n)
                .into_par_iter()
                .try_for_each(|i| pipeline.prepare(&dataset, i).map(drop))
        })
    })?;
    let loader = LoaderBuilder::new()
        .batch_size(64)
        .threads(args.threads)
        .build(dataset, pipeline)?;
    let loaded = rate(n, args.repeat, || {
        loader.epoch(0).try_for_each(|b| b.map(drop))
    })?;
    Ok((prepare, loaded))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    if jpegs_in(&dir) == 0 {
        let start = Instant::now();
        generate(&dir, &args)?;
        println!(
            "generated {} JPEGs of {}x{} in {:.1} s into {}",
            args.n,
            args.width,
            args.height,
            start.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    let dataset = Arc::new(FolderSource::new(&dir).verify(Verify::Exists).build()?);
    let (prepare, loader) = measure(dataset.clone(), &args)?;
    if args.json {
        for (name, r) in [("la-data prepare", &prepare), ("la-data loader", &loader)] {
            let line = serde_json::json!({"impl": name, "images": dataset.len(),
                "threads": args.threads, "side": args.side, "passes": args.repeat,
                "per_s": r.wall, "per_cpu_s": r.cpu});
            println!("{line}");
        }
        return Ok(());
    }
    println!("images: {} in {}", dataset.len(), dir.display());
    println!(
        "threads: {}, side: {}, best of {} passes",
        args.threads, args.side, args.repeat
    );
    let show = |r: &Rate| match r.cpu {
        Some(cpu) => format!("{:.1} images/s, {cpu:.1} images per CPU-second", r.wall),
        None => format!("{:.1} images/s", r.wall),
    };
    println!(
        "la-data prepare (decode + resize + centre crop, u8): {}",
        show(&prepare)
    );
    println!(
        "la-data loader  (same + normalised f32 batches of 64): {}",
        show(&loader)
    );
    Ok(())
}
