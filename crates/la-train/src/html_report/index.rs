//! The overview page, `index.html`, and the map it shows.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use la_cluster::Umap;
use la_data::image::RgbImage;

use super::html::{cluster_page, escape, hex, page_end, page_start, swatch};
use super::map::{MAP_SIZE, Stamp, colour, draw_map};
use super::pages::{Pages, most_central};
use super::pca::pca_2d;
use super::thumbs::Thumbs;
use super::{Embeddings, Run};
use crate::Result;
use crate::config::ClusterMethod;
use crate::evaluate::Scores;

/// Images in each cluster's strip on the overview.
const STRIP: usize = 8;

/// The first colour of the labels (those before are the clusters').
const LABEL_COLOURS: u32 = 20;

/// How the map places the items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Layout {
    /// A 2-D UMAP layout of the embeddings ([`MAP_NEIGHBOURS`] neighbours, cosine).
    Umap,
    /// The projection on the two principal axes, with the share of the variance of each.
    Pca([f64; 2]),
}

/// Neighbours of the map's UMAP layout (umap-learn's default); with no more items the map
/// is the PCA projection.
pub const MAP_NEIGHBOURS: usize = 15;

/// Passes of the map's UMAP optimisation: umap-learn's for large data sets, enough for a
/// picture (the clustering's own layout takes 500 up to 10,000 items).
const MAP_EPOCHS: usize = 200;

/// What the map shows, for its caption and its links.
pub struct MapInfo {
    /// How the items were placed.
    pub layout: Layout,
    /// Where each cluster's thumbnail is.
    pub stamps: Vec<Stamp>,
    /// Dimensions of the embedding.
    pub dim: usize,
}

/// The 2-D position of every embedding: its UMAP layout (min_dist 0.1, umap-learn's default
/// for pictures, [`MAP_EPOCHS`] passes, seed 0), or its PCA projection when there are no more items than
/// [`MAP_NEIGHBOURS`].
pub fn layout(e: &Embeddings) -> Result<(Vec<[f64; 2]>, Layout)> {
    let n = e.rows.len();
    if n <= MAP_NEIGHBOURS {
        let p = pca_2d(&e.vectors, e.dim);
        return Ok((p.points, Layout::Pca(p.explained)));
    }
    let x = Tensor::from_slice(&e.vectors, (n, e.dim), &Device::Cpu)?;
    let placed: Vec<Vec<f32>> = Umap::params(2)
        .neighbours(MAP_NEIGHBOURS)
        .epochs(MAP_EPOCHS)
        .seed(0)
        .fit(&x)?
        .to_dtype(DType::F32)?
        .to_vec2()?;
    let points = placed
        .iter()
        .map(|p| [f64::from(p[0]), f64::from(p[1])])
        .collect();
    Ok((points, Layout::Umap))
}

/// Lays out the embeddings ([`layout`]) and draws `map.png` into `dir`.
pub fn draw(
    run: &Run,
    e: &Embeddings,
    members: &[Vec<usize>],
    thumbs: &Thumbs,
    dir: &Path,
) -> Result<MapInfo> {
    let (points, layout) = layout(e)?;
    let clusters: Vec<u32> = e.rows.iter().map(|&r| run.rows[r].cluster).collect();
    let stamps: Vec<(u32, &RgbImage)> = members
        .iter()
        .enumerate()
        .filter_map(|(c, m)| {
            let r = most_central(&run.rows, m)?;
            Some((c as u32, thumbs.kept.get(&run.rows[r].item)?))
        })
        .collect();
    let stamps = draw_map(&points, &clusters, &colour, &stamps, &dir.join("map.png"))?;
    Ok(MapInfo {
        layout,
        stamps,
        dim: e.dim,
    })
}

/// How the clusters were found, in words.
fn method_name(method: &ClusterMethod) -> String {
    match method {
        ClusterMethod::KMeans => "k-means on the embeddings".into(),
        ClusterMethod::Umap { dim, neighbours } => {
            format!("k-means on a {dim}-D UMAP layout of the embeddings ({neighbours} neighbours)")
        }
    }
}

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
fn percent(n: usize, of: usize) -> String {
    let p = 100.0 * n as f64 / of as f64;
    match p {
        p if p > 0.0 && p < 0.5 => "<1 %".into(),
        p if (99.5..100.0).contains(&p) => ">99 %".into(),
        p => format!("{p:.0} %"),
    }
}

fn score_row(name: &str, s: &Scores) -> String {
    format!(
        "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>\n",
        escape(name),
        s.acc,
        s.nmi,
        s.ari,
        s.purity
    )
}

impl Pages<'_> {
    /// The overview.
    pub fn index(&self) -> String {
        let run = self.run;
        let eval = &run.eval;
        let method = method_name(&eval.method);
        let mut s = page_start(
            &format!("{} items in {} clusters", run.rows.len(), run.k),
            &self.nav,
        );
        let _ = writeln!(
            s,
            "<p class=\"muted\">Clusters found by {method}. The run's files: \
             <a href=\"../clusters.csv\">clusters.csv</a> (every item and its cluster), \
             <a href=\"../eval.json\">eval.json</a>.</p>"
        );
        for note in &eval.notes {
            let _ = writeln!(s, "<div class=\"note\">{}</div>", escape(note));
        }
        if let Some((item, reason)) = self.thumbs.failed.first() {
            let _ = writeln!(
                s,
                "<div class=\"note\">{} image{} could not be read for this report (the first, \
                 item {item}: {}); {} shown as grey boxes.</div>",
                self.thumbs.failed.len(),
                if self.thumbs.failed.len() == 1 {
                    ""
                } else {
                    "s"
                },
                escape(reason),
                if self.thumbs.failed.len() == 1 {
                    "it is"
                } else {
                    "they are"
                },
            );
        }
        if eval.skipped > 0 {
            let _ = writeln!(
                s,
                "<div class=\"note\">{} input file{} could not be read and {} left out: see \
                 <a href=\"../skipped.csv\">skipped.csv</a>.</div>",
                eval.skipped,
                if eval.skipped == 1 { "" } else { "s" },
                if eval.skipped == 1 { "was" } else { "were" },
            );
        }
        self.scores(&mut s, &method);
        if let Some(choice) = &eval.k_choice {
            let _ = writeln!(
                s,
                "<h2>The number of clusters</h2>\n<p>K = {} was chosen by {}: its value at \
                 every K tried.</p>",
                choice.chosen,
                escape(&choice.criterion)
            );
            if let Some(svg) = super::curve::k_curve_svg(choice) {
                s.push_str(&svg);
                s.push('\n');
            }
        }
        if !run.duplicates.is_empty() {
            let _ = writeln!(
                s,
                "<p><a href=\"duplicates.html\">{} near-duplicate pair{}</a> (items whose \
                 embeddings are nearly the same).</p>",
                run.duplicates.len(),
                if run.duplicates.len() == 1 { "" } else { "s" }
            );
        }
        self.map_section(&mut s, &method);
        s.push_str("<h2>Clusters</h2>\n<div class=\"cards\">\n");
        for (c, m) in self.members.iter().enumerate() {
            self.card(&mut s, c as u32, m);
        }
        s.push_str("</div>\n");
        page_end(s)
    }

    fn scores(&self, s: &mut String, method: &str) {
        let eval = &self.run.eval;
        let Some(scores) = &eval.scores else {
            return;
        };
        s.push_str(
            "<h2>Agreement with the labels</h2>\n<table>\n<tr><th></th><th>ACC</th><th>NMI</th>\
             <th>ARI</th><th>purity</th></tr>\n",
        );
        s.push_str(&score_row(&format!("this model ({method})"), scores));
        if let Some(p) = &eval.pixel_method_baseline {
            s.push_str(&score_row("the same on the raw pixels", p));
        }
        if let Some(p) = &eval.pixel_baseline {
            s.push_str(&score_row("k-means on the raw pixels", p));
        }
        s.push_str("</table>\n");
        if let Some(m) = eval.knn_accuracy {
            let pixels = eval
                .pixel_knn_accuracy
                .map(|p| format!(", raw pixels {p:.3}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "<p>Weighted kNN accuracy (leave-one-out): this model {m:.3}{pixels}.</p>"
            );
        }
    }

    fn map_section(&self, s: &mut String, method: &str) {
        s.push_str("<h2 id=\"map\">Map</h2>\n");
        let Some(map) = &self.map else {
            s.push_str(
                "<p class=\"muted\">No map: the run has no embeddings.safetensors (runs \
                 before it existed).</p>\n",
            );
            return;
        };
        let (w, h) = MAP_SIZE;
        let _ = writeln!(
            s,
            "<img src=\"map.png\" width=\"{w}\" height=\"{h}\" usemap=\"#clusters\" \
             alt=\"The embedding projected on its two principal axes\" style=\"max-width:none\">\
             \n<map name=\"clusters\">"
        );
        for (c, [x0, y0, x1, y1]) in &map.stamps {
            let _ = writeln!(
                s,
                "<area shape=\"rect\" coords=\"{x0},{y0},{x1},{y1}\" href=\"{}\" \
                 alt=\"cluster {c}\">",
                cluster_page(*c)
            );
        }
        let placed = match map.layout {
            Layout::Umap => format!(
                "placed by UMAP (2-D, {MAP_NEIGHBOURS} neighbours, cosine) from its {}-D \
                 embedding: similar items lie close together, but the distances between \
                 groups and the sizes of groups mean little",
                map.dim
            ),
            Layout::Pca([x, y]) => format!(
                "placed by principal component analysis (PCA) of its {}-D embedding: the \
                 horizontal axis holds {:.0} % of the variance, the vertical {:.0} %",
                map.dim,
                100.0 * x,
                100.0 * y
            ),
        };
        let _ = writeln!(
            s,
            "</map>\n<p class=\"muted\">Each dot is an item, {placed}. The colour is the \
             cluster; the picture on each cluster is its most central item (it opens the \
             cluster). The clusters were found by {method}, not on this map.</p>"
        );
    }

    fn card(&self, s: &mut String, c: u32, m: &[usize]) {
        let size = format!("{} item{}", m.len(), if m.len() == 1 { "" } else { "s" });
        let name = if m.is_empty() {
            format!("Cluster {c}")
        } else {
            format!("<a href=\"{}\">Cluster {c}</a>", cluster_page(c))
        };
        let _ = write!(
            s,
            "<div class=\"card\"><h2>{}{name} <span class=\"muted\">{size}</span></h2>\n\
             <div class=\"strip\">",
            swatch(colour(c))
        );
        let mut central = m.to_vec();
        central.sort_by(|&a, &b| {
            let (a, b) = (&self.run.rows[a], &self.run.rows[b]);
            a.distance.total_cmp(&b.distance).then(a.item.cmp(&b.item))
        });
        for &r in central.iter().take(STRIP) {
            s.push_str(&self.thumb_of(r));
        }
        s.push_str("</div>\n");
        if let Some(mix) = label_mix(self.run, m) {
            s.push_str(&mix);
        }
        s.push_str("</div>\n");
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
