//! The label mix of a cluster, when the data have labels: a bar of colours and the commonest
//! labels with their shares.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Run;
use super::html::{escape, hex, swatch};
use super::map::colour;

/// The first colour of the labels (those before are the clusters').
const LABEL_COLOURS: u32 = 20;

/// The labels of `members` as a bar of colours and the three commonest with their shares,
/// and the cluster's purity; `None` when none has a label.
pub fn label_mix(run: &Run, members: &[usize]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for &r in members {
        if let Some(l) = &run.rows[r].label {
            *counts.entry(l).or_default() += 1;
        }
    }
    let labelled: usize = counts.values().sum();
    if labelled == 0 {
        return None;
    }
    let mut by_count: Vec<(&str, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    // Colours after the clusters' twenty, so that a label is never taken for a cluster.
    let class_colour = |l: &str| {
        let class = run.classes.binary_search_by(|c| c.as_str().cmp(l));
        colour(LABEL_COLOURS + class.unwrap_or(0) as u32)
    };
    let mut s = String::from("<div class=\"bar\">");
    for &(l, n) in &by_count {
        let _ = write!(
            s,
            "<span style=\"width:{:.2}%;background:{}\" title=\"{}: {n}\"></span>",
            100.0 * n as f64 / labelled as f64,
            hex(class_colour(l)),
            escape(l)
        );
    }
    s.push_str("</div>");
    let top: Vec<String> = by_count
        .iter()
        .take(3)
        .map(|&(l, n)| {
            format!(
                "{}{} {}",
                swatch(class_colour(l)),
                escape(l),
                percent(n, labelled)
            )
        })
        .collect();
    let _ = write!(
        s,
        "<div>{}{}; purity {}</div>",
        top.join(", "),
        if by_count.len() > 3 { ", …" } else { "" },
        percent(by_count[0].1, labelled)
    );
    Some(s)
}

/// `n` of `of` as a whole percentage; a share that would round to 0 or 100 without being
/// none or all is `<1 %` or `>99 %`.
pub(super) fn percent(n: usize, of: usize) -> String {
    let p = 100.0 * n as f64 / of as f64;
    match p {
        p if p > 0.0 && p < 0.5 => "<1 %".into(),
        p if (99.5..100.0).contains(&p) => ">99 %".into(),
        p => format!("{p:.0} %"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_to_whole_percentages_but_never_to_none_or_all() {
        assert_eq!(percent(1, 500), "<1 %");
        assert_eq!(percent(0, 500), "0 %");
        assert_eq!(percent(499, 500), ">99 %");
        assert_eq!(percent(500, 500), "100 %");
        assert_eq!(percent(1, 3), "33 %");
    }
}
