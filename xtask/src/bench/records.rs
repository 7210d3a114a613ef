//! The benchmarks' output: JSON objects, one per line, read into typed measurements and merged
//! into their medians over rounds.

use anyhow::{Context, bail};
use serde_json::{Map, Value};

use super::measurement::Measurement;

/// One line of a program's output as read, before it is typed: a flat JSON object such as
/// `{"op": "conv_fwd", "impl": "la-ops", "ms": 1.2}`. Jobs may add a field (their tag).
pub type Line = Map<String, Value>;

/// The JSON lines in a program's standard output: every line that starts with `{` must be one
/// JSON object; other lines (titles, progress) are skipped. `source` names the program in errors.
pub fn parse_lines(text: &str, source: &str) -> anyhow::Result<Vec<Line>> {
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{source}, line {}: not a JSON object: {line}", i + 1))?;
        match value {
            Value::Object(fields) => lines.push(fields),
            _ => bail!("{source}, line {}: expected a JSON object: {line}", i + 1),
        }
    }
    Ok(lines)
}

/// The lines as measurements of type `R`; an error quotes the line that does not fit.
pub fn typed<R: Measurement>(lines: &[Line]) -> anyhow::Result<Vec<R>> {
    lines
        .iter()
        .map(|l| {
            let value = Value::Object(l.clone());
            serde_json::from_value(value.clone())
                .with_context(|| format!("a benchmark printed an unexpected line: {value}"))
        })
        .collect()
}

/// The median of some numbers (the mean of the two middle ones for an even count); `None` when
/// there are none.
pub fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(xs[n / 2]),
        _ => Some((xs[n / 2 - 1] + xs[n / 2]) / 2.0),
    }
}

/// Merges the measurements of several rounds: those with the same key become one, each figure
/// the median of the rounds that have it, anything else as in the first round. The order is
/// that of first appearance.
pub fn merge<R: Measurement>(rounds: &[Vec<R>]) -> Vec<R> {
    let mut groups: Vec<Vec<&R>> = Vec::new();
    for m in rounds.iter().flatten() {
        match groups.iter_mut().find(|g| g[0].key() == m.key()) {
            Some(group) => group.push(m),
            None => groups.push(vec![m]),
        }
    }
    groups
        .into_iter()
        .map(|members| {
            let figures: Vec<Vec<Option<f64>>> = members
                .iter()
                .map(|&m| m.clone().figures().into_iter().map(|f| *f).collect())
                .collect();
            let mut merged = members[0].clone();
            for (i, figure) in merged.figures().into_iter().enumerate() {
                *figure = median(figures.iter().filter_map(|f| f[i]).collect());
            }
            merged
        })
        .collect()
}

/// The first measurement for which `is` holds.
pub fn find<R>(records: &[R], is: impl Fn(&R) -> bool) -> Option<&R> {
    records.iter().find(|&r| is(r))
}

/// The distinct values of `id` over the records, in order of first appearance.
pub fn distinct<'a, R, K: PartialEq>(records: &'a [R], id: impl Fn(&'a R) -> K) -> Vec<K> {
    let mut out: Vec<K> = Vec::new();
    for r in records {
        let k = id(r);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measurement::{LaStep, OpTiming};

    fn lines(text: &str) -> Vec<Line> {
        parse_lines(text, "test").unwrap()
    }

    #[test]
    fn parses_json_lines_and_skips_other_lines() {
        let out = "la-cluster, rayon threads: 2\n\
                   {\"op\": \"conv_fwd\", \"shape\": \"64->64@64\", \"impl\": \"la-ops\", \"ms\": 12.5}\n\
                   \n  {\"k\": 100, \"step_ms\": 30}\n";
        let read = parse_lines(out, "bench_ops").unwrap();
        assert_eq!(read.len(), 2);
        let ops: Vec<OpTiming> = typed(&read[..1]).unwrap();
        assert_eq!((ops[0].op.as_str(), ops[0].ms), ("conv_fwd", Some(12.5)));
        assert!(
            typed::<OpTiming>(&read[1..]).is_err(),
            "a line of another kind"
        );
    }

    #[test]
    fn a_broken_json_line_is_an_error_naming_the_program_and_line() {
        let err = parse_lines("title\n{\"ms\": }\n", "bench_ops").unwrap_err();
        assert!(format!("{err:#}").contains("bench_ops, line 2"), "{err:#}");
        let err = parse_lines("{\"a\": 1}\n{1}\n", "x").unwrap_err();
        assert!(format!("{err:#}").contains("x, line 2"), "{err:#}");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![7.0]), Some(7.0));
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 10.0]), Some(3.5));
        assert_eq!(median(vec![5.0, f64::INFINITY, 1.0]), Some(5.0));
    }

    #[test]
    fn merge_takes_medians_per_key_in_first_seen_order() {
        let round = |a: f64, b: f64| {
            typed::<OpTiming>(&lines(&format!(
                "{{\"op\": \"pool\", \"shape\": \"2\", \"impl\": \"la\", \"ms\": {a}}}\n\
                 {{\"op\": \"conv\", \"shape\": \"2\", \"impl\": \"la\", \"ms\": {b}}}"
            )))
            .unwrap()
        };
        let merged = merge(&[round(1.0, 10.0), round(5.0, 30.0), round(2.0, 20.0)]);
        assert_eq!(merged.len(), 2);
        assert_eq!((merged[0].op.as_str(), merged[0].ms), ("pool", Some(2.0)));
        assert_eq!((merged[1].op.as_str(), merged[1].ms), ("conv", Some(20.0)));
    }

    #[test]
    fn merge_keeps_records_that_differ_in_a_key_apart_and_skips_absent_figures() {
        let rounds = [
            typed::<LaStep>(&lines(
                r#"{"impl": "la", "k": 100, "step_ms": 1, "product_alone_ms": 5}
                   {"impl": "la", "k": 4096, "step_ms": 2}
                   {"impl": "pytorch", "k": 100, "step_ms": 3}"#,
            ))
            .unwrap(),
            typed::<LaStep>(&lines(r#"{"impl": "la", "k": 100, "step_ms": 4}"#)).unwrap(),
        ];
        let merged = merge(&rounds);
        assert_eq!(merged.len(), 3);
        let la100 = find(&merged, |r| r.imp == "la" && r.k == 100).unwrap();
        assert_eq!(
            (la100.step_ms, la100.product_alone_ms),
            (Some(2.5), Some(5.0))
        );
        assert!(find(&merged, |r| r.imp == "pytorch" && r.k == 4096).is_none());
        assert_eq!(distinct(&merged, |r| r.k), [100, 4096]);
    }
}
