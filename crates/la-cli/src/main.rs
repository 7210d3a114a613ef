//! `la`: deep image clustering from the command line. A thin front end: flags are parsed,
//! turned into the library's validated settings, and handed to la-train.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod cluster;
mod eval;
mod export;
mod info;
mod progress;
mod reconstruct;
mod report;
mod settings;
mod train;

use std::process::ExitCode;

use args::{Cli, Command, OutputMode};
use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { la_ops::tune_cpu_runtime() };
    // `la info | head` ends quietly, as other Unix tools do, instead of panicking on EPIPE.
    // SAFETY: restoring a signal's default disposition, before any thread exists.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let mode = if cli.quiet {
        OutputMode::Quiet
    } else {
        cli.progress
    };
    let run = || match &cli.command {
        Command::Train(a) => train::run(a, &given(matches.subcommand_matches("train")), mode),
        Command::Cluster(a) => cluster::run(a, mode),
        Command::Eval(a) => eval::run(a, mode),
        Command::Reconstruct(a) => reconstruct::run(a),
        Command::Info(a) => info::run(a),
        Command::Report(a) => report::run(a, mode),
        Command::Export(a) => export::run(a, mode),
    };
    let result = la_ops::run_in_worker_pool(run);
    result.unwrap_or_else(|e| {
        report_error(&e, cli.verbose);
        ExitCode::from(2)
    })
}

/// One line naming what failed; with `-v`, every cause on its own line.
fn report_error(e: &anyhow::Error, verbose: bool) {
    if verbose {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
    } else {
        eprintln!("error: {}", one_line(e));
    }
}

/// The error and its causes joined by ": ", each cause only when the text so far does not
/// already quote it (many errors include their source's message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if !line.contains(text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(text);
        }
    }
    line
}

/// The ids of the arguments given on the command line (not defaults).
fn given(matches: Option<&clap::ArgMatches>) -> Vec<String> {
    let Some(m) = matches else {
        return Vec::new();
    };
    m.ids()
        .filter(|id| m.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect()
}
