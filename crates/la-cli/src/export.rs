//! `la export`: the clusters of a run as folders of the original photos.

use std::process::ExitCode;

use la_train::{ExportMode, RunDir};

use crate::args::{ExportArgs, OutputMode};

/// Runs `la export`.
pub fn run(args: &ExportArgs, mode: OutputMode) -> anyhow::Result<ExitCode> {
    let how = if args.copy {
        ExportMode::Copy
    } else {
        ExportMode::Link
    };
    let summary = la_train::export_clusters(&RunDir::new(&args.dir), &args.to, how, args.outliers)?;
    if mode == OutputMode::Json {
        println!(
            "{}",
            serde_json::json!({
                "event": "export",
                "to": args.to,
                "folders": summary.folders,
                "linked": summary.linked,
                "copied": summary.copied,
                "written": summary.written,
                "notes": summary.notes,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    // Notes go to stderr, also under -q.
    for note in &summary.notes {
        eprintln!("note: {note}");
    }
    let items: usize = summary.folders.iter().map(|f| f.1).sum();
    let what = [
        (summary.linked, "linked"),
        (summary.copied, "copied"),
        (summary.written, "written as PNG"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect::<Vec<_>>()
    .join(", ");
    println!(
        "{items} files in {} folders of {} ({what})",
        summary.folders.len(),
        args.to.display()
    );
    if mode != OutputMode::Quiet {
        for (name, n) in &summary.folders {
            println!("  {name:<12} {n:>6}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
