//! `cargo xtask quality [--sets LIST] [--seeds A-B] [--full-seeds A-B] [--name NAME]
//! [--doc PATH] [-- LA_TRAIN_FLAGS...]`: trains a recipe over several seeds on labelled data
//! sets with the release `la` binary and reports the scores beside the raw pixels' as mean,
//! spread and minimum. A benchmark, not a test: the numbers go to `docs/quality.md`.
//!
//! The data sets: `sample` (the bundled 2,000 images, seeds 0-4 by default), `full` (the
//! 10,000 Fashion-MNIST test images, seeds 0-2) and `train` (trained on the 60,000 training
//! images, the test images then assigned with `la cluster`; seeds 0-2, like `full`).

mod summary;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Deserialize;
use xshell::{Shell, cmd};

use crate::bench::{machine, markdown};
use summary::{Row, Scores, render};

const USAGE: &str = "usage: cargo xtask quality [--sets sample,full,train] [--seeds 0-4] \
    [--full-seeds 0-2] [--name NAME] [--doc docs/quality.md] [-- LA_TRAIN_FLAGS...]";

/// A labelled data set the harness trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// The bundled sample (2,000 Fashion-MNIST test images).
    Sample,
    /// The full Fashion-MNIST test split (10,000 images).
    Full,
    /// Trained on the 60,000 training images, scored on the test images via `la cluster`.
    Train,
}

impl Set {
    fn parse(s: &str) -> anyhow::Result<Set> {
        Ok(match s {
            "sample" => Set::Sample,
            "full" => Set::Full,
            "train" => Set::Train,
            _ => bail!("unknown data set `{s}`: sample, full or train\n{USAGE}"),
        })
    }

    /// The name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            Set::Sample => "sample (2,000)",
            Set::Full => "Fashion-MNIST test (10,000)",
            Set::Train => "train 60,000 -> test 10,000",
        }
    }
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    sets: Vec<Set>,
    seeds: Vec<u64>,
    full_seeds: Vec<u64>,
    name: String,
    doc: PathBuf,
    flags: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut o = Options {
            sets: vec![Set::Sample, Set::Full],
            seeds: (0..5).collect(),
            full_seeds: (0..3).collect(),
            name: String::new(),
            doc: PathBuf::from("docs/quality.md"),
            flags: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .with_context(|| format!("{a} needs a value\n{USAGE}"))
            };
            match a.as_str() {
                "--sets" => {
                    o.sets = value()?
                        .split(',')
                        .map(Set::parse)
                        .collect::<Result<_, _>>()?
                }
                "--seeds" => o.seeds = seeds(value()?)?,
                "--full-seeds" => o.full_seeds = seeds(value()?)?,
                "--name" => o.name = value()?.clone(),
                "--doc" => o.doc = PathBuf::from(value()?),
                "--" => {
                    o.flags = it.by_ref().cloned().collect();
                }
                other => bail!("unknown argument `{other}`\n{USAGE}"),
            }
        }
        if o.name.is_empty() {
            o.name = if o.flags.is_empty() {
                "default".into()
            } else {
                slug(&o.flags.join(" "))
            };
        }
        Ok(o)
    }

    /// The seeds of `set`.
    fn seeds_of(&self, set: Set) -> &[u64] {
        match set {
            Set::Sample => &self.seeds,
            Set::Full | Set::Train => &self.full_seeds,
        }
    }
}

/// `0-4` (inclusive) or `0,2,7`.
fn seeds(s: &str) -> anyhow::Result<Vec<u64>> {
    let bad = || format!("seeds `{s}`: expected a range like 0-4 or a list like 0,2,7");
    let list: Vec<u64> = match s.split_once('-') {
        Some((a, b)) => {
            let (a, b): (u64, u64) = (a.parse().with_context(bad)?, b.parse().with_context(bad)?);
            (a..=b).collect()
        }
        None => s
            .split(',')
            .map(|x| x.parse().with_context(bad))
            .collect::<Result<_, _>>()?,
    };
    if list.is_empty() {
        bail!(bad());
    }
    Ok(list)
}

/// A block name from free text: lower-case letters, digits and dashes.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// What the harness reads from a run's `eval.json`.
#[derive(Debug, Deserialize)]
struct EvalJson {
    items: usize,
    scores: Option<Scores>,
    knn_accuracy: Option<f64>,
    pixel_baseline: Option<Scores>,
    pixel_knn_accuracy: Option<f64>,
}

/// Runs the task.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let opts = Options::parse(args)?;
    let root = crate::project_root();
    let sh = Shell::new()?;
    sh.change_dir(&root);
    cmd!(sh, "cargo build --release -p la-cli").run()?;
    let fmnist = if opts.sets.iter().any(|s| *s != Set::Sample) {
        Some(crate::fetch_data::fetch(None)?)
    } else {
        None
    };
    // Kept for inspection until the next run of the same recipe.
    let work = root.join("target/quality").join(&opts.name);
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    // A copy of the binary: a build during the runs must not change the program measured.
    std::fs::create_dir_all(&work)?;
    let la = work.join("la");
    std::fs::copy(root.join("target/release/la"), &la).context("copying target/release/la")?;
    let mut rows = Vec::new();
    for &set in &opts.sets {
        for &seed in opts.seeds_of(set) {
            let out = work.join(format!("{set:?}-{seed}").to_lowercase());
            let row = train_one(&sh, &la, set, seed, fmnist.as_deref(), &opts.flags, &out)?;
            println!("{}", summary::row_line(&row));
            rows.push(row);
        }
    }
    let body = render(&opts.name, &commands(&opts), &describe_machine(&sh)?, &rows);
    println!("\n{body}");
    let doc = root.join(&opts.doc);
    let text = std::fs::read_to_string(&doc).unwrap_or_default();
    let heading = "## Generated results";
    let block = format!("quality:{}", opts.name);
    let updated = markdown::upsert_block(&text, &block, heading, &body);
    std::fs::write(&doc, updated).with_context(|| format!("writing {}", doc.display()))?;
    println!("rewrote the block `{}` of {}", opts.name, doc.display());
    Ok(())
}

/// One training run (plus `la cluster` for [`Set::Train`]) and its scores.
fn train_one(
    sh: &Shell,
    la: &Path,
    set: Set,
    seed: u64,
    fmnist: Option<&Path>,
    flags: &[String],
    out: &Path,
) -> anyhow::Result<Row> {
    let idx = |name: &str| fmnist.map(|d| d.join(format!("{name}.gz")));
    let mut data: Vec<String> = Vec::new();
    let train_split = match set {
        Set::Sample => None,
        Set::Full => Some("t10k"),
        Set::Train => Some("train"),
    };
    if let Some(split) = train_split {
        let images = idx(&format!("{split}-images-idx3-ubyte")).context("no Fashion-MNIST")?;
        let labels = idx(&format!("{split}-labels-idx1-ubyte")).context("no Fashion-MNIST")?;
        data = vec![
            "--data".into(),
            images.display().to_string(),
            "--idx-labels".into(),
            labels.display().to_string(),
        ];
    }
    let seed_text = seed.to_string();
    let clock = Instant::now();
    cmd!(
        sh,
        "{la} train -q --out {out} --seed {seed_text} {data...} {flags...}"
    )
    .quiet()
    .ignore_stdout()
    .run()
    .with_context(|| format!("la train on {} with seed {seed}", set.name()))?;
    let train_seconds = clock.elapsed().as_secs_f64();
    let scored = if set == Set::Train {
        let test = out.join("test-assigned");
        let images = idx("t10k-images-idx3-ubyte").context("no Fashion-MNIST")?;
        let labels = idx("t10k-labels-idx1-ubyte").context("no Fashion-MNIST")?;
        cmd!(
            sh,
            "{la} cluster -q --model {out} --data {images} --idx-labels {labels} --out {test}"
        )
        .quiet()
        .ignore_stdout()
        .run()
        .context("la cluster of the test images")?;
        test
    } else {
        out.to_path_buf()
    };
    let eval: EvalJson = serde_json::from_str(
        &std::fs::read_to_string(scored.join("eval.json")).context("reading eval.json")?,
    )?;
    let (model, raw) = match (eval.scores, eval.pixel_baseline) {
        (Some(m), Some(r)) => (m, r),
        _ => bail!(
            "{}: eval.json has no scores (are the data labelled?)",
            out.display()
        ),
    };
    Ok(Row {
        set,
        seed,
        items: eval.items,
        model: Scores {
            knn: eval.knn_accuracy,
            ..model
        },
        raw: Scores {
            knn: eval.pixel_knn_accuracy,
            ..raw
        },
        seconds: train_seconds,
        images_per_s: images_per_second(&out.join("metrics.jsonl")),
    })
}

/// Training images per second over every epoch of a run's metrics log.
fn images_per_second(metrics: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(metrics).ok()?;
    let (mut images, mut seconds) = (0.0, 0.0);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if v["event"] == "epoch_end" {
            let s = v["seconds"].as_f64()?;
            images += v["images_per_s"].as_f64()? * s;
            seconds += s;
        }
    }
    (seconds > 0.0).then(|| images / seconds)
}

/// The commands that reproduce the block.
fn commands(opts: &Options) -> Vec<String> {
    let sets: Vec<&str> = opts
        .sets
        .iter()
        .map(|s| match s {
            Set::Sample => "sample",
            Set::Full => "full",
            Set::Train => "train",
        })
        .collect();
    let range = |s: &[u64]| match s {
        [a, .., b] if *b - *a + 1 == s.len() as u64 => format!("{a}-{b}"),
        _ => s.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
    };
    let mut harness = format!(
        "cargo xtask quality --sets {} --seeds {} --full-seeds {} --name {}",
        sets.join(","),
        range(&opts.seeds),
        range(&opts.full_seeds),
        opts.name
    );
    if !opts.flags.is_empty() {
        harness += &format!(" -- {}", opts.flags.join(" "));
    }
    vec![
        harness,
        format!("la train --seed S {}", opts.flags.join(" "))
            .trim_end()
            .to_string(),
    ]
}

fn describe_machine(sh: &Shell) -> anyhow::Result<String> {
    Ok(format!(
        "{}; {}; {}; load {} at the start",
        machine::describe(),
        machine::date(sh)?,
        machine::commit(sh)?,
        machine::load_now()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_and_their_defaults() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!(o.sets, [Set::Sample, Set::Full]);
        assert_eq!((o.seeds.len(), o.full_seeds.len()), (5, 3));
        assert_eq!(o.name, "default");
        let o = Options::parse(&args(
            "--sets sample,train --seeds 3,5 --full-seeds 1-2 -- --projection 0 --epochs 9",
        ))
        .unwrap();
        assert_eq!(o.sets, [Set::Sample, Set::Train]);
        assert_eq!((o.seeds, o.full_seeds), (vec![3, 5], vec![1, 2]));
        assert_eq!(o.flags, args("--projection 0 --epochs 9"));
        assert_eq!(o.name, "projection-0-epochs-9");
        assert!(Options::parse(&args("--sets moon")).is_err());
        assert!(Options::parse(&args("--seeds")).is_err());
        assert!(Options::parse(&args("--seeds 4-x")).is_err());
        assert!(Options::parse(&args("--bogus")).is_err());
    }

    #[test]
    fn commands_reproduce_the_options() {
        let o = Options::parse(&args("--seeds 0-4 -- --epochs 9")).unwrap();
        assert_eq!(
            commands(&o)[0],
            "cargo xtask quality --sets sample,full --seeds 0-4 --full-seeds 0-2 --name epochs-9 \
             -- --epochs 9"
        );
        assert_eq!(commands(&o)[1], "la train --seed S --epochs 9");
    }

    #[test]
    fn images_per_second_weighs_epochs_by_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(
            &path,
            "{\"event\":\"step\",\"loss\":1}\n\
             {\"event\":\"epoch_end\",\"images_per_s\":100.0,\"seconds\":2.0}\n\
             {\"event\":\"epoch_end\",\"images_per_s\":400.0,\"seconds\":1.0}\n",
        )
        .unwrap();
        // 200 + 400 images in 3 seconds.
        assert_eq!(images_per_second(&path), Some(200.0));
        assert_eq!(images_per_second(&dir.path().join("none")), None);
    }
}
