//! `la report`: make a run's HTML report again.

use std::process::ExitCode;

use la_train::RunDir;

use crate::args::{OutputMode, ReportArgs};

/// Runs `la report`.
pub fn run(args: &ReportArgs, mode: OutputMode) -> anyhow::Result<ExitCode> {
    let summary = la_train::remake_report(&RunDir::new(&args.dir))?;
    if mode == OutputMode::Json {
        println!(
            "{}",
            serde_json::json!({
                "event": "report",
                "index": summary.index,
                "pages": summary.pages,
                "thumbnails": summary.thumbnails,
                "unreadable": summary.unreadable,
                "map": summary.map,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    if summary.unreadable > 0 {
        eprintln!(
            "note: {} image{} could not be read and {} shown as grey boxes",
            summary.unreadable,
            if summary.unreadable == 1 { "" } else { "s" },
            if summary.unreadable == 1 { "is" } else { "are" }
        );
    }
    println!(
        "report: {} ({} pages, {} thumbnails{})",
        summary.index.display(),
        summary.pages,
        summary.thumbnails,
        if summary.map { ", map" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}
