//! The benchmarks' output: JSON objects, one per line, and their medians over rounds.

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// One measurement: a flat JSON object such as `{"op": "conv_fwd", "impl": "la-ops", "ms": 1.2}`.
pub type Record = Map<String, Value>;

/// The records in a program's standard output: every line that starts with `{` must be one
/// JSON object; other lines (titles, progress) are skipped. `source` names the program in errors.
pub fn parse_lines(text: &str, source: &str) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{source}, line {}: not a JSON object: {line}", i + 1))?;
        match value {
            Value::Object(record) => records.push(record),
            _ => bail!("{source}, line {}: expected a JSON object: {line}", i + 1),
        }
    }
    Ok(records)
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

/// The identity of a record: the values of the `keys` fields (absent ones count as null).
fn identity(record: &Record, keys: &[&str]) -> Vec<Value> {
    keys.iter()
        .map(|k| record.get(*k).cloned().unwrap_or(Value::Null))
        .collect()
}

/// Merges the records of several rounds: records with the same `keys` values become one, each
/// numeric field the median of its values, any other field as in the first round. The order is
/// that of first appearance.
pub fn merge(rounds: &[Vec<Record>], keys: &[&str]) -> Vec<Record> {
    let mut groups: Vec<(Vec<Value>, Vec<&Record>)> = Vec::new();
    for record in rounds.iter().flatten() {
        let id = identity(record, keys);
        match groups.iter_mut().find(|(g, _)| *g == id) {
            Some((_, members)) => members.push(record),
            None => groups.push((id, vec![record])),
        }
    }
    groups
        .into_iter()
        .map(|(id, members)| {
            let mut merged = members[0].clone();
            for (field, value) in merged.iter_mut() {
                if value.is_number() && !keys.contains(&field.as_str()) {
                    let xs = members
                        .iter()
                        .filter_map(|m| m.get(field).and_then(Value::as_f64))
                        .collect();
                    if let Some(m) = median(xs) {
                        *value = number(m, members.iter().all(|r| is_integer(r.get(field))));
                    }
                }
            }
            debug_assert_eq!(identity(&merged, keys), id);
            merged
        })
        .collect()
}

fn is_integer(value: Option<&Value>) -> bool {
    value.is_some_and(|v| v.is_i64() || v.is_u64())
}

/// `x` as a JSON number: an integer when `integer` and `x` is whole, else a float (null if not
/// finite).
fn number(x: f64, integer: bool) -> Value {
    if integer && x.fract() == 0.0 && x.abs() < 9e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// The first record whose fields equal all the given `(field, value)` pairs (compared as
/// [`text`]).
pub fn find<'a>(records: &'a [Record], fields: &[(&str, &str)]) -> Option<&'a Record> {
    records.iter().find(|r| {
        fields
            .iter()
            .all(|(k, v)| r.get(*k).is_some_and(|x| text(x) == *v))
    })
}

/// A field's value as text: strings without quotes, anything else as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Record {
        parse_lines(line, "test").unwrap().remove(0)
    }

    #[test]
    fn parses_json_lines_and_skips_other_lines() {
        let out = "la-cluster, rayon threads: 2\n\
                   {\"op\": \"conv_fwd\", \"shape\": \"64->64@64\", \"impl\": \"la-ops\", \"ms\": 12.5}\n\
                   \n  {\"k\": 100, \"step_ms\": 30}\n";
        let records = parse_lines(out, "bench_ops").unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["op"], "conv_fwd");
        assert_eq!(records[0]["ms"].as_f64(), Some(12.5));
        assert_eq!(records[1]["k"].as_u64(), Some(100));
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
    fn merge_takes_medians_per_identity_in_first_seen_order() {
        let round = |a: f64, b: f64, iters: &str| {
            vec![
                one(&format!(
                    r#"{{"op": "pool", "k": 2, "ms": {a}, "iterations": {iters}}}"#
                )),
                one(&format!(r#"{{"op": "conv", "k": 2, "ms": {b}}}"#)),
            ]
        };
        let rounds = [
            round(1.0, 10.0, "[1, 2]"),
            round(5.0, 30.0, "[3]"),
            round(2.0, 20.0, "[4]"),
        ];
        let merged = merge(&rounds, &["op", "k"]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0]["op"], "pool");
        assert_eq!(merged[0]["ms"].as_f64(), Some(2.0));
        assert_eq!(
            merged[0]["k"].as_u64(),
            Some(2),
            "key fields are not medians"
        );
        assert_eq!(merged[0]["iterations"], serde_json::json!([1, 2]));
        assert_eq!(merged[1]["ms"].as_f64(), Some(20.0));
        let ints = [
            vec![one(r#"{"a": 1, "n": 4}"#)],
            vec![one(r#"{"a": 1, "n": 6}"#)],
        ];
        let merged = merge(&ints, &["a"]);
        assert_eq!(
            merged[0]["n"].as_u64(),
            Some(5),
            "integers stay integers when whole"
        );
    }

    #[test]
    fn merge_keeps_records_that_differ_in_a_key_apart() {
        let rounds = [vec![
            one(r#"{"impl": "la", "k": 100, "ms": 1}"#),
            one(r#"{"impl": "la", "k": 4096, "ms": 2}"#),
            one(r#"{"impl": "pytorch", "k": 100, "ms": 3}"#),
        ]];
        let merged = merge(&rounds, &["impl", "k", "absent"]);
        assert_eq!(merged.len(), 3);
        assert_eq!(
            find(&merged, &[("impl", "la"), ("k", "4096")]).unwrap()["ms"].as_f64(),
            Some(2.0)
        );
        assert!(find(&merged, &[("impl", "pytorch"), ("k", "4096")]).is_none());
    }
}
