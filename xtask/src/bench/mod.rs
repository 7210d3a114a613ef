//! `cargo xtask bench [NAME...] [--reps N] [--rounds R] [--no-torch] [--doc PATH]`: runs the
//! project's benchmarks (all, or the named ones) beside their Python counterparts, in
//! alternating rounds, and rewrites their generated blocks in docs/benchmarks.md with the medians,
//! the exact commands and the machine.
//!
//! Each benchmark is a Rust example printing JSON lines and Python scripts printing the same
//! kind of measurement ([`suites::SUITES`], `measurement.rs`). A round runs them in order (Rust, then Python); the figures are
//! medians over the rounds. A Python script runs only where its modules import; otherwise its
//! columns say "not run (torch not installed)". Each benchmark's block sits between
//! `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->` in its section; everything outside
//! the markers is left byte for byte.

mod cluster;
pub mod machine;
pub mod markdown;
mod measurement;
mod records;
mod render;
mod suites;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use measurement::Measurement;
use records::Line;
use suites::{Job, Python, SUITES, Suite};

/// The width at which the generated prose is wrapped, as the hand-written text around it.
const WIDTH: usize = 100;

/// The command line of the task.
pub struct Options {
    /// The benchmarks to run, in the order of [`SUITES`].
    names: Vec<&'static str>,
    /// Repetitions inside each program (each program's own default when unset).
    pub reps: Option<usize>,
    /// Alternating rounds; by default 3.
    rounds: usize,
    /// Leave PyTorch (and torchvision) out.
    no_torch: bool,
    /// The document to rewrite; by default docs/benchmarks.md.
    doc: PathBuf,
    /// The arguments as given, for the header block.
    line: String,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut o = Options {
            names: Vec::new(),
            reps: None,
            rounds: 3,
            no_torch: false,
            doc: PathBuf::from("docs/benchmarks.md"),
            line: args.join(" "),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
            let positive = |v: &String| match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => bail!("{arg} takes a positive number, not `{v}`"),
            };
            match arg.as_str() {
                "--reps" => o.reps = Some(positive(value()?)?),
                "--rounds" => o.rounds = positive(value()?)?,
                "--no-torch" => o.no_torch = true,
                "--doc" => o.doc = PathBuf::from(value()?),
                name => match SUITES.iter().find(|s| s.name == name) {
                    Some(s) => o.names.push(s.name),
                    None => {
                        let known: Vec<&str> = SUITES.iter().map(|s| s.name).collect();
                        bail!("unknown benchmark `{name}`; known: {}", known.join(", "));
                    }
                },
            }
        }
        Ok(o)
    }

    fn selected(&self) -> impl Iterator<Item = &'static Suite> {
        SUITES
            .iter()
            .filter(|s| self.names.is_empty() || self.names.contains(&s.name))
    }
}

/// What one benchmark's rounds printed, and the implementations left out.
pub struct Rounds {
    /// The JSON lines of each round, tagged.
    pub lines: Vec<Vec<Line>>,
    /// `(group, reason)` of the implementations that did not run ("pytorch", "--no-torch").
    pub not_run: Vec<(String, String)>,
}

impl Rounds {
    /// The lines as measurements of type `R`, medians over the rounds.
    pub fn results<R: Measurement>(&self) -> anyhow::Result<Results<R>> {
        let rounds = self
            .lines
            .iter()
            .map(|l| records::typed(l))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Results {
            records: records::merge(&rounds),
            not_run: self.not_run.clone(),
        })
    }
}

/// The merged measurements of a benchmark and the implementations left out.
pub struct Results<R> {
    /// One measurement per key, medians over the rounds.
    pub records: Vec<R>,
    /// `(group, reason)` of the implementations that did not run ("pytorch", "--no-torch").
    pub not_run: Vec<(String, String)>,
}

impl<R> Results<R> {
    /// Why the implementations of `group` did not run, if they did not.
    pub fn not_run(&self, group: &str) -> Option<&str> {
        self.not_run
            .iter()
            .find(|(g, _)| g == group)
            .map(|(_, r)| r.as_str())
    }

    /// The cell of a missing figure: "not run (REASON)" for a group left out, else "—".
    pub fn absent(&self, group: &str) -> String {
        self.not_run(group)
            .map_or_else(|| "—".into(), |r| format!("not run ({r})"))
    }
}

/// Runs the task with the arguments after `bench`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let opts = Options::parse(args)?;
    let sh = Shell::new()?;
    sh.change_dir(crate::project_root());
    let mut python = Python::new(sh.clone(), opts.no_torch);
    let (mut written, mut failed) = (Vec::new(), Vec::new());
    for suite in opts.selected() {
        let block = run_suite(&sh, suite, &opts, &mut python);
        match block.and_then(|b| write_block(&sh, &opts, suite, &b)) {
            Ok(()) => {
                eprintln!("bench {}: written to {}", suite.name, opts.doc.display());
                written.push(suite.name);
            }
            Err(e) => {
                eprintln!("bench {}: failed: {e:#}", suite.name);
                failed.push(suite.name);
            }
        }
    }
    if !written.is_empty() {
        let header = markdown::wrap(&header(&sh, &opts, &written)?, WIDTH);
        update_doc(&sh, &opts, |doc| {
            markdown::upsert_block(doc, "header", "# Benchmarks", &header)
        })?;
    }
    if !failed.is_empty() {
        bail!(
            "benchmarks that failed (their blocks are unchanged): {}",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Rewrites the document through `edit`, reading it right before (other people edit it too).
fn update_doc(sh: &Shell, opts: &Options, edit: impl FnOnce(&str) -> String) -> anyhow::Result<()> {
    let path = sh.current_dir().join(&opts.doc);
    let doc =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    std::fs::write(&path, edit(&doc)).with_context(|| format!("writing {}", path.display()))
}

/// Runs one benchmark's rounds and returns its block: machine, commands, tables.
fn run_suite(
    sh: &Shell,
    suite: &Suite,
    opts: &Options,
    python: &mut Python,
) -> anyhow::Result<String> {
    let plan = (suite.plan)(opts, python);
    for argv in &plan.setup {
        eprintln!("bench {}: set-up: {}", suite.name, shown(argv));
        run_argv(sh, argv).map(drop)?;
    }
    let mut builds: Vec<&Vec<String>> = plan.jobs.iter().filter_map(|j| j.build.as_ref()).collect();
    builds.dedup();
    for argv in builds {
        run_argv(sh, argv).map(drop)?;
    }
    let (date, commit) = (machine::date(sh)?, machine::commit(sh)?);
    let load_before = machine::load_now();
    let mut rounds = Vec::new();
    for round in 1..=opts.rounds {
        let mut records = Vec::new();
        for job in &plan.jobs {
            records.extend(run_job(
                sh,
                job,
                &format!("bench {} round {round}/{}", suite.name, opts.rounds),
            )?);
        }
        rounds.push(records);
    }
    let load_after = machine::load_now();
    let tables = (suite.render)(&Rounds {
        lines: rounds,
        not_run: plan.not_run,
    })?;
    let commands: Vec<String> = plan
        .setup
        .iter()
        .map(|a| format!("{}   # once, before the rounds", shown(a)))
        .chain(plan.jobs.iter().map(|j| shown(&j.argv)))
        .collect();
    let rounds = match opts.rounds {
        1 => "one round".to_string(),
        r => format!("medians of {r} alternating rounds"),
    };
    Ok(format!(
        "<!-- Generated by `cargo xtask bench {name}`; a rerun rewrites everything between these markers. -->\n\
         Measured {date}, {commit}, on {machine}; load average (1 min) {load_before} before and \
         {load_after} after the runs; {rounds}, each running, in this order:\n\n\
         ```\n{commands}\n```\n\n{tables}",
        name = suite.name,
        machine = machine::describe(),
        commands = commands.join("\n"),
    ))
}

/// Runs a job and returns its JSON lines (tagged).
fn run_job(sh: &Shell, job: &Job, what: &str) -> anyhow::Result<Vec<Line>> {
    let start = Instant::now();
    eprintln!("{what}: {}", shown(&job.argv));
    let out = run_argv(sh, &job.argv)?;
    let mut records = records::parse_lines(&out, &shown(&job.argv))?;
    if records.is_empty() {
        bail!("`{}` printed no JSON lines", shown(&job.argv));
    }
    if let Some((field, value)) = job.tag {
        for r in &mut records {
            r.insert(field.into(), value.into());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{what}: {} records in {secs:.0} s", records.len());
    Ok(records)
}

/// Runs a command line and returns its standard output (standard error passes through).
fn run_argv(sh: &Shell, argv: &[String]) -> anyhow::Result<String> {
    let (program, args) = argv.split_first().context("empty command")?;
    Ok(cmd!(sh, "{program} {args...}").quiet().read()?)
}

/// A command line as a shell would take it (arguments with spaces quoted).
fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.contains([' ', '"', '\'', ';']) {
                format!("\"{}\"", a.replace('"', "\\\""))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Puts `block` into its section of the document, with a note when hand-written figures of
/// earlier runs follow in the same section.
fn write_block(sh: &Shell, opts: &Options, suite: &Suite, block: &str) -> anyhow::Result<()> {
    update_doc(sh, opts, |doc| {
        let mut block = block.to_string();
        if markdown::section_has_prose(doc, suite.heading, suite.name) {
            block += "\nThe text and figures below this block are hand-written, from earlier runs \
                      under other machine load; the block above holds the latest generated run.\n";
        }
        let block = markdown::wrap(&block, WIDTH);
        markdown::upsert_block(doc, suite.name, suite.heading, &block)
    })
}

/// The header block: how the blocks are made, and the last run (which wrote `written`).
fn header(sh: &Shell, opts: &Options, written: &[&str]) -> anyhow::Result<String> {
    Ok(format!(
        "<!-- Generated by `cargo xtask bench`; a rerun rewrites everything between these markers. -->\n\
         The blocks between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->` markers are \
         written by `cargo xtask bench [ops|ae|data|cluster|la-step ...] [--reps N] [--rounds R] \
         [--no-torch]`; each names its own date, commit, load and commands. Everything outside \
         them is written by hand. Last run: `{line}` (blocks {names}), finished {date}, \
         {commit}, on {machine}.\n",
        line = format!("cargo xtask bench {}", opts.line).trim_end(),
        names = written.join(", "),
        date = machine::date(sh)?,
        commit = machine::commit(sh)?,
        machine = machine::describe(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        let o = Options::parse(&args("la-step ops --reps 2 --rounds 1 --no-torch")).unwrap();
        let names: Vec<&str> = o.selected().map(|s| s.name).collect();
        assert_eq!(names, ["ops", "la-step"], "the order of SUITES");
        assert_eq!((o.reps, o.rounds, o.no_torch), (Some(2), 1, true));
        let all = Options::parse(&[]).unwrap();
        assert_eq!(all.selected().count(), SUITES.len());
        assert_eq!((all.reps, all.rounds), (None, 3));
        for bad in ["nope", "--reps", "--reps 0", "--rounds x"] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad}");
        }
        let e = Options::parse(&args("opz")).err().unwrap().to_string();
        assert!(
            e.contains("unknown benchmark `opz`") && e.contains("la-step"),
            "{e}"
        );
    }

    #[test]
    fn commands_are_shown_as_a_shell_would_take_them() {
        assert_eq!(
            shown(&args("python3 x.py --reps 3")),
            "python3 x.py --reps 3"
        );
        let code = vec!["python3".into(), "-c".into(), "import a; a.b('d')".into()];
        assert_eq!(shown(&code), "python3 -c \"import a; a.b('d')\"");
    }

    #[test]
    fn absent_figures_say_why() {
        let r = Results::<()> {
            records: vec![],
            not_run: vec![("pytorch".into(), "torch not installed".into())],
        };
        assert_eq!(r.absent("pytorch"), "not run (torch not installed)");
        assert_eq!(r.absent("sklearn"), "—");
    }
}
