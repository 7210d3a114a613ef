//! The overview page, `index.html`, and the map it shows.

use std::fmt::Write;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use la_cluster::Umap;
use la_data::image::RgbImage;

use super::html::{cluster_page, escape, page_end, page_start, swatch};
use super::labels::label_mix;
use super::map::{Layout, MAP_SIZE, MapInfo, colour, draw_map};
use super::pages::{Pages, most_central};
use super::pca::pca_2d;
use super::thumbs::Thumbs;
use super::{Embeddings, Run};
use crate::Result;
use crate::config::ClusterMethod;
use crate::evaluate::Scores;

/// Images in each cluster's strip on the overview.
const STRIP: usize = 8;

/// Neighbours of the map's UMAP layout (umap-learn's default); with no more items the map
/// is the PCA projection.
pub const MAP_NEIGHBOURS: usize = 15;

/// Passes of the map's UMAP optimisation: umap-learn's for large data sets, enough for a
/// picture (the clustering's own layout takes 500 up to 10,000 items).
const MAP_EPOCHS: usize = 200;

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
