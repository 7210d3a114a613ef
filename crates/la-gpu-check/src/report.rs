//! The results table: one row per check or timing, printed at the end as Markdown.

use std::fmt::Write as _;

/// The outcome of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Within tolerance, or within the target.
    Pass,
    /// Outside tolerance, or above the target.
    Fail,
    /// A measurement without a target.
    Info,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "ok",
            Status::Fail => "FAIL",
            Status::Info => "-",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub section: &'static str,
    pub name: String,
    pub value: String,
    pub limit: String,
    pub status: Status,
}

/// Every row so far; each is also logged to stderr as it comes, so that a run cut short still
/// shows what it did.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// Adds a row.
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "[{}] {} {}: {} (limit {})",
            row.status.as_str(),
            row.section,
            row.name,
            row.value,
            row.limit
        );
        self.rows.push(row);
    }

    /// A check of a relative error against a tolerance.
    pub fn error(&mut self, section: &'static str, name: String, err: f64, tol: f64) {
        let status = if err <= tol {
            Status::Pass
        } else {
            Status::Fail
        };
        self.push(Row {
            section,
            name,
            value: format!("{err:.2e}"),
            limit: format!("<= {tol:.0e}"),
            status,
        });
    }

    /// A timing in milliseconds, against a target when there is one.
    pub fn millis(&mut self, name: String, ms: f64, target: Option<f64>) {
        let (limit, status) = match target {
            Some(t) if ms <= t => (format!("<= {t} ms"), Status::Pass),
            Some(t) => (format!("<= {t} ms"), Status::Fail),
            None => (String::new(), Status::Info),
        };
        self.push(Row {
            section: "time",
            name,
            value: format!("{ms:.1} ms"),
            limit,
            status,
        });
    }

    /// Whether no row failed.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.status != Status::Fail)
    }

    /// The table in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| section | what | result | limit | status |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.section,
                r.name,
                r.value,
                r.limit,
                r.status.as_str()
            );
        }
        let failed = self
            .rows
            .iter()
            .filter(|r| r.status == Status::Fail)
            .count();
        let _ = writeln!(out, "\n{} rows, {failed} failed", self.rows.len());
        out
    }
}

/// `|a - b| / |b|` over whole vectors (2-norms; `|a - b|` when `b` is zero). NaN anywhere
/// gives NaN, which fails every tolerance.
pub fn relative_error(got: &[f64], want: &[f64]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    let diff: f64 = got.iter().zip(want).map(|(a, b)| (a - b) * (a - b)).sum();
    let norm: f64 = want.iter().map(|b| b * b).sum();
    if norm > 0.0 {
        (diff / norm).sqrt()
    } else {
        diff.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_by_hand() {
        assert_eq!(relative_error(&[3.0, 4.0], &[3.0, 4.0]), 0.0);
        // |(0, 1)| / |(3, 4)| = 1 / 5.
        assert!((relative_error(&[3.0, 5.0], &[3.0, 4.0]) - 0.2).abs() < 1e-15);
        assert_eq!(relative_error(&[0.5], &[0.0]), 0.5);
        assert!(relative_error(&[f64::NAN], &[1.0]).is_nan());
        assert_eq!(relative_error(&[1.0], &[1.0, 2.0]), f64::INFINITY);
    }

    #[test]
    fn failures_show_in_the_table() {
        let mut t = Table::default();
        t.error("ops", "pool f32".into(), 1e-7, 1e-6);
        assert!(t.passed());
        t.error("ops", "conv f32".into(), f64::NAN, 1e-6);
        t.millis("top-k".into(), 7.5, Some(5.0));
        assert!(!t.passed());
        let md = t.markdown();
        assert!(
            md.contains("| ops | conv f32 | NaN | <= 1e-6 | FAIL |"),
            "{md}"
        );
        assert!(
            md.contains("| time | top-k | 7.5 ms | <= 5 ms | FAIL |"),
            "{md}"
        );
        assert!(md.contains("3 rows, 2 failed"), "{md}");
    }
}
