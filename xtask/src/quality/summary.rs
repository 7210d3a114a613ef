//! The harness's statistics and tables: per-seed rows, then mean, spread and minimum per data
//! set, the model beside the raw pixels.

use serde::Deserialize;

use super::Set;
use crate::bench::markdown::Table;

/// Scores of one clustering (as in `eval.json`) and the weighted kNN accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Scores {
    /// Accuracy under the best matching of clusters to classes.
    pub acc: f64,
    /// Normalised mutual information.
    pub nmi: f64,
    /// Adjusted Rand index.
    pub ari: f64,
    /// Leave-one-out weighted kNN accuracy.
    #[serde(default)]
    pub knn: Option<f64>,
}

/// One run of the harness.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The data set.
    pub set: Set,
    /// The seed.
    pub seed: u64,
    /// Items scored.
    pub items: usize,
    /// The trained model's scores.
    pub model: Scores,
    /// The raw pixels' scores (same k-means, same kNN).
    pub raw: Scores,
    /// Wall time of the run (training, embedding, clustering, reports).
    pub seconds: f64,
    /// Training images per second.
    pub images_per_s: Option<f64>,
}

/// Mean, sample standard deviation and minimum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation (0 for one value).
    pub sd: f64,
    /// The smallest value.
    pub min: f64,
}

/// The statistics of `xs` (not empty).
pub fn summarise(xs: &[f64]) -> Stat {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Stat {
        mean,
        sd: var.sqrt(),
        min: xs.iter().copied().fold(f64::INFINITY, f64::min),
    }
}

/// Reads one metric of a set of scores.
type Metric = fn(&Scores) -> Option<f64>;

/// The metrics of a row by name, model and raw pixels.
const METRICS: [(&str, Metric); 4] = [
    ("ACC", |s| Some(s.acc)),
    ("NMI", |s| Some(s.nmi)),
    ("ARI", |s| Some(s.ari)),
    ("kNN", |s| s.knn),
];

fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{x:.3}"))
}

/// One console line per run.
pub fn row_line(r: &Row) -> String {
    let pair = |f: Metric| format!("{} ({})", num(f(&r.model)), num(f(&r.raw)));
    let cells: Vec<String> = METRICS
        .iter()
        .map(|(name, f)| format!("{name} {}", pair(*f)))
        .collect();
    format!(
        "{} seed {}: {}; {:.0} s (model (raw pixels))",
        r.set.name(),
        r.seed,
        cells.join("  "),
        r.seconds
    )
}

/// The Markdown block: how it was made, one row per run, and the summary per data set.
pub fn render(name: &str, commands: &[String], machine: &str, rows: &[Row]) -> String {
    let mut out = format!("### Recipe `{name}`\n\n");
    out += &format!("Machine: {machine}. Commands:\n\n```\n");
    for c in commands {
        out += &format!("{c}\n");
    }
    out += "```\n\n";
    let mut per_run = Table::new(&[
        "data", "seed", "ACC", "NMI", "ARI", "kNN", "raw ACC", "raw NMI", "raw ARI", "raw kNN",
        "wall s", "images/s",
    ]);
    for r in rows {
        let mut cells = vec![r.set.name().to_string(), r.seed.to_string()];
        cells.extend(METRICS.iter().map(|(_, f)| num(f(&r.model))));
        cells.extend(METRICS.iter().map(|(_, f)| num(f(&r.raw))));
        cells.push(format!("{:.0}", r.seconds));
        cells.push(r.images_per_s.map_or("-".into(), |x| format!("{x:.0}")));
        per_run.rows.push(cells);
    }
    out += &per_run.render();
    out += "\n";
    let mut summary = Table::new(&[
        "data",
        "seeds",
        "metric",
        "model mean ± sd",
        "model min",
        "raw mean ± sd",
        "model > raw on",
    ]);
    let mut sets: Vec<Set> = rows.iter().map(|r| r.set).collect();
    sets.dedup();
    for set in sets {
        let runs: Vec<&Row> = rows.iter().filter(|r| r.set == set).collect();
        for (metric, f) in METRICS {
            let model: Option<Vec<f64>> = runs.iter().map(|r| f(&r.model)).collect();
            let raw: Option<Vec<f64>> = runs.iter().map(|r| f(&r.raw)).collect();
            let (Some(model), Some(raw)) = (model, raw) else {
                continue;
            };
            let (m, p) = (summarise(&model), summarise(&raw));
            let wins = model.iter().zip(&raw).filter(|(a, b)| a > b).count();
            summary.rows.push(vec![
                set.name().into(),
                runs.len().to_string(),
                metric.into(),
                format!("{:.3} ± {:.3}", m.mean, m.sd),
                format!("{:.3}", m.min),
                format!("{:.3} ± {:.3}", p.mean, p.sd),
                format!("{wins} of {}", runs.len()),
            ]);
        }
        let secs = summarise(&runs.iter().map(|r| r.seconds).collect::<Vec<_>>());
        summary.rows.push(vec![
            set.name().into(),
            runs.len().to_string(),
            "wall time".into(),
            format!("{:.0} ± {:.0} s", secs.mean, secs.sd),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    out += &summary.render();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_by_hand() {
        // Mean 2, squared deviations 1 + 0 + 1 over n - 1 = 2: sd 1.
        let s = summarise(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.sd, s.min), (2.0, 1.0, 1.0));
        assert_eq!(summarise(&[0.5]).sd, 0.0);
    }

    fn row(seed: u64, acc: f64, raw_acc: f64) -> Row {
        let s = |acc| Scores {
            acc,
            nmi: 0.5,
            ari: 0.4,
            knn: Some(0.7),
        };
        Row {
            set: Set::Sample,
            seed,
            items: 2000,
            model: s(acc),
            raw: s(raw_acc),
            seconds: 100.0,
            images_per_s: Some(500.0),
        }
    }

    #[test]
    fn the_block_has_every_run_and_the_summary() {
        let rows = [row(0, 0.6, 0.5), row(1, 0.4, 0.5)];
        let md = render("default", &["la train".into()], "a machine", &rows);
        assert!(md.contains("### Recipe `default`") && md.contains("la train\n"));
        assert!(
            md.contains("| sample (2,000) | 1 | 0.400 | 0.500 |"),
            "{md}"
        );
        // ACC: mean 0.5, sd sqrt(0.02) = 0.141, min 0.4, beats raw on one seed of two.
        assert!(
            md.contains("| ACC | 0.500 ± 0.141 | 0.400 | 0.500 ± 0.000 | 1 of 2 |"),
            "{md}"
        );
        assert!(md.contains("| wall time | 100 ± 0 s |"));
        assert!(row_line(&rows[0]).contains("ACC 0.600 (0.500)"));
    }
}
