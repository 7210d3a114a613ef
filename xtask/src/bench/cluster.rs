//! The tables of la-cluster's benchmark: k-means and kNN on Fashion-MNIST, Local Aggregation's
//! clusterings, top-k; against scikit-learn and torch.topk.

use super::Results;
use super::markdown::Table;
use super::measurement::{Bench, ClusterRun};
use super::records::{distinct, find};
use super::render::{cell, met, num, ratio};

/// All four tables, each under a one-line title.
pub fn render(results: &Results<ClusterRun>) -> String {
    [kmeans(results), knn(results), la(results), topk(results)]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// "1.52 (1.72)": wall seconds and CPU seconds, or `absent`.
fn seconds(r: Option<&ClusterRun>, absent: &str) -> String {
    match r.and_then(|r| r.s) {
        Some(s) => format!("{} ({})", num(s), cell(r.and_then(|r| r.cpu_s), "—")),
        None => absent.to_string(),
    }
}

fn fixed(value: Option<f64>, decimals: usize) -> String {
    value.map_or("—".into(), |x| format!("{x:.decimals$}"))
}

fn metrics(r: Option<&ClusterRun>) -> String {
    let fields: [fn(&ClusterRun) -> Option<f64>; 3] = [|r| r.acc, |r| r.nmi, |r| r.ari];
    let [a, n, i] = fields.map(|f| fixed(r.and_then(f), 3));
    format!("{a} / {n} / {i}")
}

/// The measurements of one benchmark.
fn of(results: &Results<ClusterRun>, bench: Bench) -> Vec<&ClusterRun> {
    results
        .records
        .iter()
        .filter(|r| r.bench == bench)
        .collect()
}

fn kmeans(results: &Results<ClusterRun>) -> String {
    let rs = of(results, Bench::FashionKmeans);
    if rs.is_empty() {
        return String::new();
    }
    let sk = results.absent("sklearn");
    let mut t = Table::new(&[
        "seed",
        "la s (cpu s)",
        "sklearn s (cpu s)",
        "la inertia",
        "sklearn inertia",
        "la ACC / NMI / ARI",
        "sklearn ACC / NMI / ARI",
    ]);
    for seed in distinct(&rs, |r| r.seed) {
        let get = |imp: &str| find(&rs, |r| r.seed == seed && r.imp == imp).copied();
        let (la, skl) = (get("la"), get("sklearn"));
        let or_absent = |s: String| if skl.is_some() { s } else { sk.clone() };
        t.rows.push(vec![
            seed.map_or(String::new(), |s| s.to_string()),
            seconds(la, "—"),
            seconds(skl, &sk),
            fixed(la.and_then(|r| r.inertia), 1),
            or_absent(fixed(skl.and_then(|r| r.inertia), 1)),
            metrics(la),
            or_absent(metrics(skl)),
        ]);
    }
    format!(
        "k-means, Fashion-MNIST test split (10,000 x 784), k = 10, 10 restarts (greedy k-means++):\n\n{}",
        t.render()
    )
}

fn knn(results: &Results<ClusterRun>) -> String {
    let rs = of(results, Bench::Knn);
    if rs.is_empty() {
        return String::new();
    }
    let sk = results.absent("sklearn");
    let mut t = Table::new(&["classifier", "la accuracy", "sklearn accuracy"]);
    for classifier in distinct(&rs, |r| r.classifier.clone()) {
        let get = |imp: &str| find(&rs, |r| r.classifier == classifier && r.imp == imp).copied();
        let theirs = match get("sklearn") {
            Some(r) => fixed(r.accuracy, 4),
            None if results.not_run("sklearn").is_some() => sk.clone(),
            None => String::new(),
        };
        t.rows.push(vec![
            classifier.clone().unwrap_or_default(),
            fixed(get("la").and_then(|r| r.accuracy), 4),
            theirs,
        ]);
    }
    let la = seconds(of(results, Bench::KnnSearch).first().copied(), "—");
    let skl = seconds(find(&rs, |r| r.imp == "sklearn").copied(), &sk);
    format!(
        "Weighted kNN, Fashion-MNIST test (10,000) against train (60,000), cosine on raw pixels; \
         s (cpu s) of the search of the 200 nearest: la {la}; scikit-learn's classifier (search \
         and vote): {skl}.\n\n{}",
        t.render()
    )
}

fn la(results: &Results<ClusterRun>) -> String {
    let rs = of(results, Bench::LaClusterings);
    if rs.is_empty() {
        return String::new();
    }
    let sk = results.absent("sklearn");
    let mut t = Table::new(&[
        "setting",
        "la s (cpu s)",
        "sklearn s (cpu s)",
        "la iterations",
        "la inertia",
        "sklearn inertia",
    ]);
    let get = |setting: &str, imp: &str| {
        find(&rs, |r| {
            r.setting.as_deref() == Some(setting) && r.imp == imp
        })
        .copied()
    };
    for setting in distinct(&rs, |r| r.setting.clone().unwrap_or_default()) {
        let (la, skl) = (get(&setting, "la"), get(&setting, "sklearn"));
        let iterations = la
            .and_then(|r| r.iterations.as_ref())
            .map_or("—".into(), |its| {
                let its: Vec<String> = its.iter().map(u64::to_string).collect();
                format!("[{}]", its.join(","))
            });
        let theirs = |s: String| match skl {
            Some(_) => s,
            None if la.is_some_and(|r| r.inertia.is_some()) => sk.clone(),
            None => String::new(),
        };
        t.rows.push(vec![
            setting.clone(),
            seconds(la, "—"),
            theirs(seconds(skl, &sk)),
            iterations,
            fixed(la.and_then(|r| r.inertia), 1),
            theirs(fixed(skl.and_then(|r| r.inertia), 1)),
        ]);
    }
    let faiss = get("random init, max_iter 20 (faiss/LA)", "la");
    let target = match faiss.and_then(|r| r.s) {
        Some(s) => format!(
            "Target <= 1.5 s for the faiss setting on 2 cores: {} ({} s, {} cpu s).\n",
            met(s <= 1.5),
            num(s),
            cell(faiss.and_then(|r| r.cpu_s), "—")
        ),
        None => String::new(),
    };
    format!(
        "Local Aggregation's per-epoch clusterings, 6 x k-means(100) of 14,400 x 512 unit vectors \
         (la: one `fit_many`; scikit-learn: 6 fits):\n\n{}\n{target}",
        t.render()
    )
}

fn topk(results: &Results<ClusterRun>) -> String {
    let rs = of(results, Bench::Topk);
    if rs.is_empty() {
        return String::new();
    }
    let torch = results.absent("torch");
    let mut t = Table::new(&[
        "rows x columns",
        "k",
        "la-ops ms",
        "torch.topk ms",
        "la-ops / torch",
    ]);
    for case in distinct(&rs, |r| [r.rows, r.cols, r.k]) {
        let ms = |imp: &str| {
            find(&rs, |r| [r.rows, r.cols, r.k] == case && r.imp == imp).and_then(|r| r.ms)
        };
        let [rows, cols, k] = case.map(|x| x.map_or(String::new(), |x| x.to_string()));
        let (la, th) = (ms("la-ops"), ms("torch"));
        t.rows.push(vec![
            format!("{rows} x {cols}"),
            k,
            cell(la, "—"),
            cell(th, &torch),
            ratio(la, th),
        ]);
    }
    format!(
        "Top-k over the last dimension (f32, uniform values):\n\n{}",
        t.render()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Rounds;
    use crate::bench::records::parse_lines;

    fn results(lines: &str, not_run: Vec<(String, String)>) -> Results<ClusterRun> {
        let rounds = Rounds {
            lines: vec![parse_lines(lines, "t").unwrap()],
            not_run,
        };
        rounds.results().unwrap()
    }

    #[test]
    fn every_table_from_the_json_lines() {
        let lines = r#"
{"bench": "fashion_kmeans", "impl": "la", "seed": 0, "s": 1.63, "cpu_s": 1.77, "iterations": 80, "inertia": 316752.94, "acc": 0.4861, "nmi": 0.516, "ari": 0.351}
{"bench": "knn_search", "impl": "la", "k": 200, "s": 14.1, "cpu_s": 13.0}
{"bench": "knn", "impl": "la", "classifier": "weighted kNN, k = 200, tau = 0.07", "accuracy": 0.79141}
{"bench": "knn", "impl": "la", "classifier": "1-NN", "accuracy": 0.8576}
{"bench": "la_clusterings", "impl": "la", "setting": "random init, max_iter 20 (faiss/LA)", "s": 2.45, "cpu_s": 2.32, "iterations": [20, 19], "inertia": 14036.1}
{"bench": "la_clusterings", "impl": "la", "setting": "21 products alone", "s": 3.7, "cpu_s": 1.86}
{"bench": "topk", "impl": "la-ops", "rows": 1, "cols": 1048576, "k": 10, "ms": 0.36}
{"bench": "topk", "impl": "torch", "rows": 1, "cols": 1048576, "k": 10, "ms": 8.05}
{"bench": "fashion_kmeans", "impl": "sklearn", "seed": 0, "s": 12.2, "cpu_s": 14.4, "iterations": 12, "inertia": 316769.8, "acc": 0.491, "nmi": 0.516, "ari": 0.354}
{"bench": "knn", "impl": "sklearn", "classifier": "weighted kNN, k = 200, tau = 0.07", "accuracy": 0.7914, "s": 32.2, "cpu_s": 40.0}
{"bench": "la_clusterings", "impl": "sklearn", "setting": "random init, max_iter 20 (faiss/LA)", "s": 8.8, "cpu_s": 4.2, "iterations": [20], "inertia": 14036.12}
"#;
        let r = results(lines, vec![]);
        let md = render(&r);
        let expect = [
            "| 0 | 1.63 (1.77) | 12.2 (14.4) | 316752.9 | 316769.8 | 0.486 / 0.516 / 0.351 | 0.491 / 0.516 / 0.354 |",
            "la 14.1 (13.0); scikit-learn's classifier (search and vote): 32.2 (40.0).",
            "| weighted kNN, k = 200, tau = 0.07 | 0.7914 | 0.7914 |",
            "| 1-NN | 0.8576 |  |",
            "| random init, max_iter 20 (faiss/LA) | 2.45 (2.32) | 8.80 (4.20) | [20,19] | 14036.1 | 14036.1 |",
            "| 21 products alone | 3.70 (1.86) |  | — | — |  |",
            "Target <= 1.5 s for the faiss setting on 2 cores: **not met** (2.45 s, 2.32 cpu s).",
            "| 1 x 1048576 | 10 | 0.360 | 8.05 | 0.04x |",
        ];
        for line in expect {
            assert!(md.contains(line), "missing {line}\nin\n{md}");
        }
    }

    #[test]
    fn without_python_the_reference_columns_say_why() {
        let lines = r#"{"bench": "fashion_kmeans", "impl": "la", "seed": 1, "s": 1.5, "cpu_s": 1.7, "inertia": 3.0, "acc": 0.5, "nmi": 0.5, "ari": 0.3}
{"bench": "topk", "impl": "la-ops", "rows": 128, "cols": 14400, "k": 4096, "ms": 60}"#;
        let r = results(
            lines,
            vec![
                ("sklearn".into(), "scikit-learn not installed".into()),
                ("torch".into(), "--no-torch".into()),
            ],
        );
        let md = render(&r);
        assert!(md.contains("| 1 | 1.50 (1.70) | not run (scikit-learn not installed) | 3.0 | not run (scikit-learn not installed) |"), "{md}");
        assert!(
            md.contains("| 128 x 14400 | 4096 | 60.0 | not run (--no-torch) | — |"),
            "{md}"
        );
        assert!(!md.contains("Weighted kNN"), "no table without records");
    }
}
