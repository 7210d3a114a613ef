//! `la eval`: the scores of a finished run (or cluster) directory, from its clusters.csv.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use la_train::{RunDir, Scores};

use crate::args::{EvalArgs, OutputMode};

/// Runs `la eval`.
pub fn run(args: &EvalArgs, mode: OutputMode) -> anyhow::Result<ExitCode> {
    let run = RunDir::new(&args.dir);
    let (truth, clusters) = read_assignments(&run)?;
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
        match run.report() {
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

/// The label (as a class number) and cluster of every row of a run's clusters.csv.
fn read_assignments(run: &RunDir) -> anyhow::Result<(Vec<u32>, Vec<u32>)> {
    let path = run.clusters_csv();
    let rows = run
        .clusters()
        .with_context(|| format!("cannot read {} (is the run finished?)", path.display()))?;
    let mut classes = BTreeMap::new();
    let (mut truth, mut clusters) = (Vec::new(), Vec::new());
    for (row, r) in rows.iter().enumerate() {
        let Some(label) = &r.label else {
            bail!(
                "{}: row {} has no label; scores need labelled data (sub-folders, --label-column or IDX labels)",
                path.display(),
                row + 2
            );
        };
        let next = classes.len() as u32;
        truth.push(*classes.entry(label.clone()).or_insert(next));
        clusters.push(r.cluster);
    }
    if truth.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok((truth, clusters))
}
