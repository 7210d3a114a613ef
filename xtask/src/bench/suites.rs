//! The project's benchmarks: for each, the programs a round runs, the section of
//! docs/benchmarks.md and the function that types its measurements and writes its tables.

use std::collections::HashMap;
use std::path::Path;

use xshell::{Shell, cmd};

use super::{Options, Rounds, cluster, render};

/// One benchmark of the project.
pub struct Suite {
    /// The name on the command line and in the markers.
    pub name: &'static str,
    /// The heading of its section in docs/benchmarks.md.
    pub heading: &'static str,
    /// The runs of one round and what is set up before them.
    pub plan: fn(&Options, &mut Python) -> Plan,
    /// The Markdown tables of the rounds' measurements, merged.
    pub render: fn(&Rounds) -> anyhow::Result<String>,
}

/// Every benchmark, in the order `cargo xtask bench` runs them.
pub const SUITES: &[Suite] = &[
    Suite {
        name: "ops",
        heading: "## la-ops",
        plan: ops,
        render: |r| Ok(render::ops(&r.results()?)),
    },
    Suite {
        name: "ae",
        heading: "## la-segnet",
        plan: ae,
        render: |r| Ok(render::ae(&r.results()?)),
    },
    Suite {
        name: "data",
        heading: "## la-data",
        plan: data,
        render: |r| Ok(render::data(&r.results()?)),
    },
    Suite {
        name: "cluster",
        heading: "## la-cluster",
        plan: cluster,
        render: |r| Ok(cluster::render(&r.results()?)),
    },
    Suite {
        name: "la-step",
        heading: "## la-train",
        plan: la_step,
        render: |r| Ok(render::la_step(&r.results()?)),
    },
];

/// A program that a round runs.
pub struct Job {
    /// The command line, program first.
    pub argv: Vec<String>,
    /// For Rust examples, the command that builds the example (run once, before the rounds).
    pub build: Option<Vec<String>>,
    /// A field added to each of its records, naming the case (e.g. `files: 4:2:0`).
    pub tag: Option<(&'static str, &'static str)>,
}

/// What one benchmark runs.
#[derive(Default)]
pub struct Plan {
    /// Commands run once before the rounds (data generation), not timed.
    pub setup: Vec<Vec<String>>,
    /// The programs of one round, in order: Rust and Python alternate.
    pub jobs: Vec<Job>,
    /// Implementations left out, with the reason ("pytorch" -> "torch not installed").
    pub not_run: Vec<(String, String)>,
}

impl Plan {
    /// Adds `cargo run --release -p PACKAGE --example EXAMPLE [-- ARGS]`.
    fn rust(&mut self, package: &str, example: &str, args: &[String]) -> &mut Job {
        let build = words(&["cargo build --release -p", package, "--example", example]);
        let mut argv = words(&["cargo run --release -p", package, "--example", example]);
        if !args.is_empty() {
            argv.push("--".into());
            argv.extend_from_slice(args);
        }
        self.push(argv, Some(build))
    }

    /// Adds `python3 SCRIPT ARGS` when `modules` import, else notes `group` as not run.
    fn python(
        &mut self,
        python: &mut Python,
        modules: &[&str],
        group: &str,
        script: &str,
        args: &[String],
    ) -> Option<&mut Job> {
        if let Some(reason) = python.missing(modules) {
            self.not_run.push((group.into(), reason));
            return None;
        }
        let mut argv = words(&["python3", script]);
        argv.extend_from_slice(args);
        Some(self.push(argv, None))
    }

    fn push(&mut self, argv: Vec<String>, build: Option<Vec<String>>) -> &mut Job {
        self.jobs.push(Job {
            argv,
            build,
            tag: None,
        });
        self.jobs.last_mut().expect("just pushed")
    }
}

/// Splits each part at spaces: `words(&["cargo run -p", pkg])`.
fn words(parts: &[&str]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| p.split_whitespace())
        .map(String::from)
        .collect()
}

/// `flag N` when `n` is set.
fn count(flag: &str, n: Option<usize>) -> Vec<String> {
    n.map(|n| vec![flag.to_string(), n.to_string()])
        .unwrap_or_default()
}

/// Which Python modules import, asked once each.
pub struct Python {
    no_torch: bool,
    known: HashMap<String, bool>,
    sh: Shell,
}

impl Python {
    /// Answers from `python3` in `sh`'s directory; with `no_torch`, torch counts as missing.
    pub fn new(sh: Shell, no_torch: bool) -> Python {
        Python {
            no_torch,
            known: HashMap::new(),
            sh,
        }
    }

    /// Why a script needing `modules` cannot run ("torch not installed", "--no-torch"), if so.
    pub fn missing(&mut self, modules: &[&str]) -> Option<String> {
        for &m in modules {
            if self.no_torch && m.starts_with("torch") {
                return Some("--no-torch".into());
            }
            let sh = &self.sh;
            let ok = *self.known.entry(m.to_string()).or_insert_with(|| {
                let code = format!("import {m}");
                let check = cmd!(sh, "python3 -c {code}").quiet();
                check.ignore_stdout().ignore_stderr().run().is_ok()
            });
            if !ok {
                let name = match m {
                    "PIL" => "Pillow",
                    "sklearn" => "scikit-learn",
                    other => other,
                };
                return Some(format!("{name} not installed"));
            }
        }
        None
    }
}

fn ops(o: &Options, py: &mut Python) -> Plan {
    let mut plan = Plan::default();
    let reps = count("--reps", o.reps);
    plan.rust("la-ops", "bench_ops", &reps);
    let script = "crates/la-ops/scripts/bench_ops.py";
    plan.python(py, &["torch"], "pytorch", script, &reps);
    plan
}

fn ae(o: &Options, py: &mut Python) -> Plan {
    let mut plan = Plan::default();
    let reps = count("--reps", o.reps);
    // The FMA peak of the same machine and load, for the step's fraction of it.
    plan.rust("la-ops", "bench_ops", &["--peak-only".to_string()]);
    plan.rust("la-segnet", "bench_ae_step", &reps);
    let script = "crates/la-segnet/scripts/bench_ae_step.py";
    plan.python(py, &["torch", "torchvision"], "pytorch", script, &reps);
    plan
}

fn la_step(o: &Options, py: &mut Python) -> Plan {
    let mut plan = Plan::default();
    let reps = count("--reps", o.reps);
    plan.rust("la-train", "bench_la_step", &reps);
    let script = "crates/la-train/scripts/bench_la_step.py";
    plan.python(py, &["torch"], "pytorch", script, &reps);
    plan
}

/// Where the decoding benchmark's JPEGs live: 4:2:0 ones written by Pillow, 4:4:4 ones by the
/// image crate (the Rust example writes them on its first run into an empty folder).
const JPEG_420: &str = "target/bench-data/jpeg-420";
const JPEG_444: &str = "target/bench-data/jpeg-444";

fn data(o: &Options, py: &mut Python) -> Plan {
    let mut plan = Plan::default();
    let pillow = py.missing(&["PIL", "numpy"]);
    let torchvision = pillow
        .clone()
        .or_else(|| py.missing(&["torch", "torchvision"]));
    let mut sets = vec![("4:4:4", JPEG_444)];
    if pillow.is_none() {
        sets.insert(0, ("4:2:0", JPEG_420));
        if !has_jpegs(&py.sh.current_dir().join(JPEG_420)) {
            let code = format!(
                "import sys, pathlib; sys.path.insert(0, 'crates/la-data/scripts'); \
                 import bench_decode; bench_decode.generate(pathlib.Path('{JPEG_420}'), 500, 1024, 768)"
            );
            plan.setup.push(vec!["python3".into(), "-c".into(), code]);
        }
    }
    for (name, dir) in sets {
        let mut args = words(&["--dir", dir, "--json"]);
        args.extend(count("--repeat", o.reps));
        let rust = [words(&["--threads 2"]), args.clone()].concat();
        plan.rust("la-data", "bench_decode", &rust).tag = Some(("files", name));
        let mut py_args = [words(&["--workers 2"]), args].concat();
        if torchvision.is_some() {
            py_args.push("--no-torchvision".into());
        }
        let script = "crates/la-data/scripts/bench_decode.py";
        if let Some(job) = plan.python(py, &["PIL", "numpy"], "pillow", script, &py_args) {
            job.tag = Some(("files", name));
        }
    }
    if let Some(reason) = pillow.or(torchvision) {
        plan.not_run.push(("torchvision".into(), reason));
    }
    plan.not_run.dedup();
    plan
}

fn has_jpegs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| {
        d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "jpg")))
    })
}

fn cluster(o: &Options, py: &mut Python) -> Plan {
    let mut plan = Plan::default();
    let reps = count("--reps", o.reps);
    plan.rust(
        "la-cluster",
        "bench_kmeans",
        &[words(&["all"]), reps.clone()].concat(),
    );
    let sklearn = ["sklearn", "scipy", "threadpoolctl", "numpy"];
    let script = "crates/la-cluster/scripts/bench_sklearn.py";
    plan.python(py, &sklearn, "sklearn", script, &words(&["all"]));
    let script = "crates/la-cluster/scripts/bench_topk_torch.py";
    plan.python(py, &["torch"], "torch", script, &reps);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_commands_are_split_into_words() {
        for (i, s) in SUITES.iter().enumerate() {
            assert!(SUITES[i + 1..].iter().all(|t| t.name != s.name));
        }
        let mut plan = Plan::default();
        plan.rust("la-ops", "bench_ops", &count("--reps", Some(3)));
        plan.rust("la-ops", "bench_ops", &count("--reps", None));
        assert_eq!(
            plan.jobs[0].argv.join(" "),
            "cargo run --release -p la-ops --example bench_ops -- --reps 3"
        );
        assert_eq!(
            plan.jobs[1].argv.join(" "),
            "cargo run --release -p la-ops --example bench_ops"
        );
        assert_eq!(
            plan.jobs[0].build.as_ref().unwrap().join(" "),
            "cargo build --release -p la-ops --example bench_ops"
        );
    }
}
