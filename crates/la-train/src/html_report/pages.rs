//! The pages of the report but the overview: one per cluster, the outliers and the
//! near-duplicates; and the orders they show items in.

use std::collections::HashMap;
use std::fmt::Write;

use super::Run;
use super::html::{Nav, cluster_page, escape, page_end, page_start, thumb};
use super::labels::label_mix;
use super::map::MapInfo;
use super::thumbs::Thumbs;
use crate::report::ClusterRow;

/// Below this confidence an item is marked as near the border with another cluster
/// (confidence is `1 - d1 / d2`: at 0.1 the next centroid is only 11 % farther).
pub const LOW_CONFIDENCE: f32 = 0.1;

/// The share of the items shown as outliers, and the fewest shown.
const OUTLIER_SHARE: f64 = 0.02;
const MIN_OUTLIERS: usize = 20;

/// The most near-duplicate pairs shown; duplicates.csv lists them all.
const MAX_PAIRS: usize = 1000;

/// The rows of `rows` in each of `k` clusters, most confident first (then nearest the
/// centre, then by item).
pub fn members(rows: &[ClusterRow], k: usize) -> Vec<Vec<usize>> {
    let mut members = vec![Vec::new(); k];
    for (r, row) in rows.iter().enumerate() {
        members[row.cluster as usize].push(r);
    }
    for m in &mut members {
        m.sort_by(|&a, &b| {
            let (a, b) = (&rows[a], &rows[b]);
            b.confidence
                .total_cmp(&a.confidence)
                .then(a.distance.total_cmp(&b.distance))
                .then(a.item.cmp(&b.item))
        });
    }
    members
}

/// The row of `members` nearest its cluster's centre.
pub fn most_central(rows: &[ClusterRow], members: &[usize]) -> Option<usize> {
    members
        .iter()
        .copied()
        .min_by(|&a, &b| rows[a].distance.total_cmp(&rows[b].distance))
}

/// The outliers: the 2 % of the rows (at least 20, at most all) farthest from their
/// cluster's centre relative to the cluster's median distance, farthest first; with that
/// ratio.
pub fn outliers(rows: &[ClusterRow], members: &[Vec<usize>]) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = Vec::with_capacity(rows.len());
    for m in members.iter().filter(|m| !m.is_empty()) {
        let mut d: Vec<f32> = m.iter().map(|&r| rows[r].distance).collect();
        d.sort_by(f32::total_cmp);
        let median = d[d.len() / 2];
        ranked.extend(m.iter().map(|&r| {
            let ratio = match (median > 0.0, rows[r].distance > 0.0) {
                (true, _) => rows[r].distance / median,
                (false, true) => f32::INFINITY,
                (false, false) => 1.0,
            };
            (r, ratio)
        }));
    }
    ranked.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(rows[a.0].item.cmp(&rows[b.0].item))
    });
    let n = ((rows.len() as f64 * OUTLIER_SHARE).ceil() as usize)
        .max(MIN_OUTLIERS)
        .min(rows.len());
    ranked.truncate(n);
    ranked
}

/// Everything the pages show.
pub struct Pages<'a> {
    pub run: &'a Run,
    pub members: Vec<Vec<usize>>,
    pub outliers: Vec<(usize, f32)>,
    pub is_outlier: HashMap<usize, f32>,
    pub thumbs: &'a Thumbs,
    pub map: Option<MapInfo>,
    pub nav: Nav,
}

impl<'a> Pages<'a> {
    pub fn new(
        run: &'a Run,
        members: Vec<Vec<usize>>,
        thumbs: &'a Thumbs,
        map: Option<MapInfo>,
    ) -> Self {
        let outliers = outliers(&run.rows, &members);
        Pages {
            run,
            is_outlier: outliers.iter().copied().collect(),
            outliers,
            members,
            thumbs,
            map,
            nav: Nav {
                duplicates: !run.duplicates.is_empty(),
            },
        }
    }

    /// Every page: (file name, HTML).
    pub fn all(&self) -> Vec<(String, String)> {
        let mut pages = vec![
            ("index.html".to_string(), self.index()),
            ("outliers.html".to_string(), self.outliers_page()),
        ];
        if self.nav.duplicates {
            pages.push(("duplicates.html".into(), self.duplicates_page()));
        }
        for (c, m) in self.members.iter().enumerate() {
            if !m.is_empty() {
                pages.push((cluster_page(c as u32), self.cluster(c as u32)));
            }
        }
        pages
    }

    /// The thumbnail of row `r`'s item, or a grey box.
    pub fn thumb_of(&self, r: usize) -> String {
        let row = &self.run.rows[r];
        thumb(
            row.item,
            self.thumbs.sizes.get(&row.item).copied(),
            &row.path,
        )
    }

    /// Row `r` as a figure: thumbnail, name, confidence, label, and a mark when it is near a
    /// border or an outlier; `extra` (HTML) is added to the caption.
    fn figure(&self, r: usize, extra: &str) -> String {
        let row = &self.run.rows[r];
        let mut flags = String::new();
        if row.confidence < LOW_CONFIDENCE {
            flags.push_str(" <span class=\"flag\">near a border</span>");
        }
        if self.is_outlier.contains_key(&r) {
            flags.push_str(" <span class=\"flag\">outlier</span>");
        }
        let class = if flags.is_empty() {
            ""
        } else {
            " class=\"low\""
        };
        let name = row.path.rsplit('/').next().unwrap_or(&row.path);
        let label = row
            .label
            .as_ref()
            .map(|l| format!("<br>{}", escape(l)))
            .unwrap_or_default();
        format!(
            "<figure{class} data-item=\"{}\">{}<figcaption title=\"{}\">{}{label}<br>\
             confidence {:.2}{flags}{extra}</figcaption></figure>\n",
            row.item,
            self.thumb_of(r),
            escape(&row.path),
            escape(name),
            row.confidence,
        )
    }

    /// Cluster `c`'s page: every member, most confident first.
    fn cluster(&self, c: u32) -> String {
        let m = &self.members[c as usize];
        let mut s = page_start(&format!("Cluster {c}: {} items", m.len()), &self.nav);
        let marked = m
            .iter()
            .filter(|&&r| {
                self.run.rows[r].confidence < LOW_CONFIDENCE || self.is_outlier.contains_key(&r)
            })
            .count();
        if let Some(mix) = label_mix(self.run, m) {
            s.push_str(&mix);
        }
        let _ = writeln!(
            s,
            "<p>Most confident first: confidence is 1 at the cluster's centre and 0 on the \
             border with the next cluster. {marked} item{} marked in red: near a border \
             (confidence under {LOW_CONFIDENCE}) or among the <a href=\"outliers.html\">\
             outliers</a>.</p>",
            if marked == 1 { " is" } else { "s are" },
        );
        s.push_str("<div class=\"grid\">\n");
        for &r in m {
            s.push_str(&self.figure(r, ""));
        }
        s.push_str("</div>\n");
        page_end(s)
    }

    fn outliers_page(&self) -> String {
        let mut s = page_start("Outliers", &self.nav);
        let _ = write!(
            s,
            "<p>The {} items farthest from the centre of their cluster, measured against the \
             cluster's median distance (x 2.0: twice as far as a typical member), farthest \
             first. They may be unusual photos, or photos the clustering could not place.</p>\n\
             <div class=\"grid\">\n",
            self.outliers.len()
        );
        for &(r, ratio) in &self.outliers {
            let c = self.run.rows[r].cluster;
            let extra = format!(
                "<br><a href=\"{}\">cluster {c}</a>, x {ratio:.1}",
                cluster_page(c)
            );
            s.push_str(&self.figure(r, &extra));
        }
        s.push_str("</div>\n");
        page_end(s)
    }

    fn duplicates_page(&self) -> String {
        let pairs = &self.run.duplicates;
        let mut s = page_start("Near-duplicates", &self.nav);
        let mut sorted: Vec<_> = pairs.iter().collect();
        sorted.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        let _ = write!(
            s,
            "<p>{} pair{} of items whose embeddings are nearly the same (cosine similarity), most \
             similar first{}. All are listed in <a href=\"../duplicates.csv\">duplicates.csv\
             </a>.</p>\n<div class=\"pairs\">\n",
            pairs.len(),
            if pairs.len() == 1 { "" } else { "s" },
            if pairs.len() > MAX_PAIRS {
                format!("; the first {MAX_PAIRS} are shown")
            } else {
                String::new()
            }
        );
        let size = |item| self.thumbs.sizes.get(&item).copied();
        for p in sorted.iter().take(MAX_PAIRS) {
            let _ = writeln!(
                s,
                "<div class=\"pair\"><figure>{}<figcaption>{}</figcaption></figure>\
                 <figure>{}<figcaption>{}</figcaption></figure><span>{:.3}</span></div>",
                thumb(p.item_a, size(p.item_a), &p.path_a),
                escape(&p.path_a),
                thumb(p.item_b, size(p.item_b), &p.path_b),
                escape(&p.path_b),
                p.similarity
            );
        }
        s.push_str("</div>\n");
        page_end(s)
    }
}
