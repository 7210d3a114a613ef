//! `la eval`: the scores of a finished run (or cluster) directory, from its clusters.csv.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use la_train::{EvalReport, RunDir, Scores};

use crate::args::{EvalArgs, OutputMode};

/// Runs `la eval`.
pub fn run(args: &EvalArgs, mode: OutputMode) -> anyhow::Result<ExitCode> {
    let path = RunDir::new(&args.dir).clusters_csv();
    let (truth, clusters) = read_assignments(&path)?;
    let scores = Scores::of(&truth, &clusters)?;
    if mode == OutputMode::Json {
        println!("{}", serde_json::to_string(&scores)?);
    } else {
        println!(
            "{} items of {} classes in {} clusters",
            truth.len(),
            count(&truth),
            count(&clusters)
        );
        // The baselines and the kNN accuracy need the embeddings: eval.json has them.
        match EvalReport::load(&RunDir::new(&args.dir).eval_json()) {
            Ok(report) => {
                crate::train::print_scores(&scores, &report);
                crate::train::print_knn(report.knn_accuracy, report.pixel_knn_accuracy);
            }
            Err(_) => println!(
                "ACC {:.3}  NMI {:.3}  ARI {:.3}  purity {:.3}",
                scores.acc, scores.nmi, scores.ari, scores.purity
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn count(v: &[u32]) -> usize {
    v.iter().collect::<std::collections::BTreeSet<_>>().len()
}

/// The label (as a class number) and cluster of every row of a clusters.csv.
fn read_assignments(path: &std::path::Path) -> anyhow::Result<(Vec<u32>, Vec<u32>)> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read {} (is the run finished?)", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no `{name}` column", path.display()))
    };
    let (cluster_col, label_col) = (column("cluster")?, column("label")?);
    let mut classes = BTreeMap::new();
    let (mut truth, mut clusters) = (Vec::new(), Vec::new());
    for (row, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", path.display(), row + 2))?;
        let label = &record[label_col];
        if label.is_empty() {
            bail!(
                "{}: row {} has no label; scores need labelled data (sub-folders, --label-column or IDX labels)",
                path.display(),
                row + 2
            );
        }
        let next = classes.len() as u32;
        truth.push(*classes.entry(label.to_string()).or_insert(next));
        clusters.push(record[cluster_col].parse().with_context(|| {
            format!(
                "{}: row {}: cluster `{}` is not a number",
                path.display(),
                row + 2,
                &record[cluster_col]
            )
        })?);
    }
    if truth.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok((truth, clusters))
}
