//! Row selection by column values: `Family=Amanitaceae,Boletaceae`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Keeps the rows whose `column` holds one of `values` (exact, case-sensitive match after
/// trimming spaces).
///
/// ```
/// let s: la_data::Selection = "Family=Amanitaceae, Boletaceae".parse()?;
/// assert_eq!(s.column(), "Family");
/// assert_eq!(s.values(), ["Amanitaceae", "Boletaceae"]);
/// assert!(s.matches(" Boletaceae"));
/// assert!(!s.matches("Russulaceae"));
/// assert_eq!(s.to_string(), "Family=Amanitaceae,Boletaceae");
/// # Ok::<(), la_data::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    column: String,
    values: Vec<String>,
}

impl Selection {
    /// Selects the rows whose `column` holds one of `values`.
    pub fn new<S: AsRef<str>>(column: impl Into<String>, values: &[S]) -> Result<Self> {
        let column: String = column.into();
        let values: Vec<String> = values
            .iter()
            .map(|v| v.as_ref().trim().to_string())
            .collect();
        let spec = || format!("{column}={}", values.join(","));
        if column.trim().is_empty() {
            return Err(Error::InvalidSelection {
                spec: spec(),
                reason: "the column name is empty".into(),
            });
        }
        if values.is_empty() || values.iter().any(String::is_empty) {
            return Err(Error::InvalidSelection {
                spec: spec(),
                reason: "expected one or more non-empty comma-separated values".into(),
            });
        }
        Ok(Selection {
            column: column.trim().to_string(),
            values,
        })
    }

    /// Parses `COLUMN=VALUE[,VALUE...]`.
    pub fn parse(spec: &str) -> Result<Self> {
        let (column, values) = spec
            .split_once('=')
            .ok_or_else(|| Error::InvalidSelection {
                spec: spec.to_string(),
                reason: "expected COLUMN=VALUE[,VALUE...]".into(),
            })?;
        let values: Vec<&str> = values.split(',').collect();
        Selection::new(column, &values)
    }

    /// The column tested.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The accepted values.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// True if `value` (trimmed) is one of the accepted values.
    pub fn matches(&self, value: &str) -> bool {
        let value = value.trim();
        self.values.iter().any(|v| v == value)
    }
}

impl FromStr for Selection {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Selection::parse(s)
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.column, self.values.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_specs_are_refused() {
        for spec in ["Family", "=Amanitaceae", "Family=", "Family=a,,b", " =a"] {
            assert!(
                matches!(Selection::parse(spec), Err(Error::InvalidSelection { .. })),
                "{spec}"
            );
        }
    }
}
