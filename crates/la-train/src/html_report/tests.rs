//! The report made from a run directory written by hand: what every page holds, parsed back.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use la_data::image::{Rgb, RgbImage};

use super::write_html_report;
use crate::config::ClusterMethod;
use crate::evaluate::KChoice;
use crate::report::{ClusterRow, DuplicateRow, EvalReport, SkipRow};
use crate::run_dir::RunDir;
use crate::{Error, Scores};

const N: usize = 60;
const K: u32 = 3;
const NASTY: &str = "<script>alert(\"x\")</script> & 'q'.jpg";

/// A finished run of `N` items in `K` clusters (item 7 named [`NASTY`]), with labels,
/// scores, a K curve, embeddings and, when `duplicates`, two near-duplicate pairs.
fn run(dir: &Path, duplicates: bool) -> RunDir {
    let run = RunDir::new(dir);
    let rows: Vec<ClusterRow> = (0..N)
        .map(|i| ClusterRow {
            item: 100 + i,
            path: if i == 7 {
                format!("photos/{NASTY}")
            } else {
                format!("photos/{i}.png")
            },
            cluster: i as u32 % K,
            distance: ((i * 37) % 11) as f32 * 0.1,
            confidence: ((i * 53) % 17) as f32 / 16.0,
            label: Some(["cat", "dog"][i % 2].to_string()),
        })
        .collect();
    run.write_clusters(&rows).unwrap();
    let scores = Scores {
        acc: 0.5,
        nmi: 0.25,
        ari: 0.125,
        purity: 0.5,
    };
    run.write_report(&EvalReport {
        items: N,
        clusters: K as usize,
        inertia: 1.0,
        cluster_sizes: vec![N / K as usize; K as usize],
        scores: Some(scores),
        knn_accuracy: Some(0.75),
        method: ClusterMethod::UMAP,
        pixel_baseline: Some(scores),
        pixel_method_baseline: None,
        pixel_knn_accuracy: Some(0.5),
        skipped: 1,
        k_choice: Some(KChoice {
            criterion: "silhouette <cosine>".into(),
            curve: vec![(2, 0.1), (3, 0.3), (4, 0.2)],
            chosen: 3,
        }),
        duplicates: 2,
        notes: vec!["a <note> & more".into()],
    })
    .unwrap();
    let vectors: Vec<f32> = (0..N * 4).map(|v| ((v * 7919) % 101) as f32).collect();
    let items: Vec<usize> = (100..100 + N).collect();
    run.write_embeddings(
        &items,
        &Tensor::from_vec(vectors, (N, 4), &Device::Cpu).unwrap(),
    )
    .unwrap();
    let pairs = if duplicates {
        vec![
            DuplicateRow {
                item_a: 100,
                path_a: "photos/0.png".into(),
                item_b: 103,
                path_b: "photos/3.png".into(),
                similarity: 0.99,
            },
            DuplicateRow {
                item_a: 107,
                path_a: format!("photos/{NASTY}"),
                item_b: 110,
                path_b: "photos/10.png".into(),
                similarity: 0.995,
            },
        ]
    } else {
        Vec::new()
    };
    run.write_duplicates(&pairs).unwrap();
    run.write_skipped(&[SkipRow {
        path: "photos/broken.jpg".into(),
        row: None,
        reason: "truncated".into(),
    }])
    .unwrap();
    run
}

/// A picture of `item`; item 111 cannot be read.
fn image(item: usize) -> crate::Result<RgbImage> {
    if item == 111 {
        return Err(Error::RunFile {
            path: "photos/11.png".into(),
            problem: "gone".into(),
        });
    }
    Ok(RgbImage::from_pixel(40, 30, Rgb([item as u8, 0, 0])))
}

/// The values of `attr="..."` in `html`, in order.
fn attributes<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!(" {attr}=\"");
    html.split(&key)
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

fn pages(report: &Path) -> HashMap<String, String> {
    std::fs::read_dir(report)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn every_item_is_on_exactly_one_cluster_page_most_confident_first() {
    let dir = tempfile::tempdir().unwrap();
    let run = run(dir.path(), true);
    let summary = write_html_report(&run, image).unwrap();
    assert_eq!(summary.index, run.report_index());
    assert_eq!((summary.thumbnails, summary.unreadable), (N - 1, 1));
    let rows = run.clusters().unwrap();
    let by_item: HashMap<usize, &ClusterRow> = rows.iter().map(|r| (r.item, r)).collect();
    let pages = pages(&run.report_dir());
    // index, outliers, duplicates and one page per cluster.
    assert_eq!(pages.len(), 3 + K as usize);
    assert_eq!(summary.pages, pages.len());
    let mut seen = HashMap::new();
    for c in 0..K {
        let page = &pages[&format!("cluster_{c:03}.html")];
        let items: Vec<usize> = attributes(page, "data-item")
            .iter()
            .map(|i| i.parse().unwrap())
            .collect();
        assert!(!items.is_empty());
        for w in items.windows(2) {
            assert!(by_item[&w[0]].confidence >= by_item[&w[1]].confidence);
        }
        for item in items {
            assert_eq!(by_item[&item].cluster, c, "item {item} on page {c}");
            *seen.entry(item).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|&n| n == 1));
    // The least confident member is last and marked.
    let page = &pages["cluster_000.html"];
    let last = page.rfind("<figure").unwrap();
    assert!(
        page[last..].starts_with("<figure class=\"low\""),
        "{}",
        &page[last..]
    );
}

#[test]
fn every_link_and_image_resolves_and_every_name_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let run = run(dir.path(), true);
    write_html_report(&run, image).unwrap();
    let report = run.report_dir();
    for (name, page) in pages(&report) {
        assert!(page.starts_with("<!doctype html>") && page.ends_with("</html>\n"));
        assert!(!page.contains("<script"), "{name} holds a script");
        assert!(!page.contains(NASTY), "{name} holds the raw name");
        for target in attributes(&page, "src")
            .into_iter()
            .chain(attributes(&page, "href"))
        {
            let file = target.split('#').next().unwrap();
            let file = if file.is_empty() { name.as_str() } else { file };
            assert!(
                report.join(file).is_file(),
                "{name}: {target} does not resolve"
            );
        }
        // Thumbnails have the size of their file.
        for src in attributes(&page, "src")
            .iter()
            .filter(|s| s.starts_with("thumbs/"))
        {
            let thumb = la_data::image::open(report.join(src)).unwrap();
            assert_eq!((thumb.width(), thumb.height()), (40, 30));
        }
    }
    let index = std::fs::read_to_string(run.report_index()).unwrap();
    assert!(index.contains("a &lt;note&gt; &amp; more"));
    assert!(index.contains("silhouette &lt;cosine&gt;") && index.contains("<svg"));
    assert!(index.contains("map.png") && report.join("map.png").is_file());
    assert!(index.contains("placed by UMAP (2-D, 15 neighbours, cosine) from its 4-D"));
    assert!(index.contains("ACC") && index.contains("k-means on the raw pixels"));
    // The unreadable item is a grey box wherever it is shown, and counted.
    assert!(!report.join("thumbs/111.jpg").exists());
    assert!(index.contains("1 image could not be read"));
    let duplicates = std::fs::read_to_string(report.join("duplicates.html")).unwrap();
    assert!(duplicates.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    // Most similar pair first.
    assert!(
        duplicates.find("thumbs/107.jpg").unwrap() < duplicates.find("thumbs/100.jpg").unwrap()
    );
}

#[test]
fn outliers_are_the_farthest_relative_to_their_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let run = run(dir.path(), false);
    write_html_report(&run, image).unwrap();
    let page = std::fs::read_to_string(run.report_dir().join("outliers.html")).unwrap();
    let items = attributes(&page, "data-item");
    // 2 % of 60 is under the minimum of 20.
    assert_eq!(items.len(), 20);
    let rows = run.clusters().unwrap();
    let members = super::members(&rows, K as usize);
    let ranked = super::outliers(&rows, &members);
    let ratio: HashMap<usize, f32> = ranked.iter().map(|&(r, q)| (rows[r].item, q)).collect();
    let ratios: Vec<f32> = items.iter().map(|i| ratio[&i.parse().unwrap()]).collect();
    assert!(ratios.windows(2).all(|w| w[0] >= w[1]), "{ratios:?}");
    // Every item left out is no farther than the last one shown.
    let shown: std::collections::HashSet<usize> = ranked.iter().map(|p| p.0).collect();
    for (c, m) in members.iter().enumerate() {
        let mut d: Vec<f32> = m.iter().map(|&r| rows[r].distance).collect();
        d.sort_by(f32::total_cmp);
        let median = d[d.len() / 2];
        for &r in m.iter().filter(|r| !shown.contains(r)) {
            assert!(
                rows[r].distance / median <= ratios[19],
                "cluster {c} row {r}"
            );
        }
    }
}

#[test]
fn a_report_made_again_replaces_the_old_one_and_duplicates_show_only_when_found() {
    let dir = tempfile::tempdir().unwrap();
    let run = run(dir.path(), true);
    write_html_report(&run, image).unwrap();
    assert!(run.report_dir().join("duplicates.html").is_file());
    let run = super::tests::run(dir.path(), false);
    std::fs::remove_file(run.embeddings()).unwrap();
    let summary = write_html_report(&run, image).unwrap();
    assert!(!summary.map);
    let pages = pages(&run.report_dir());
    assert!(!pages.contains_key("duplicates.html"));
    assert!(!pages["index.html"].contains("duplicates.html"));
    assert!(!run.report_dir().join("map.png").exists());
    assert!(!run.report_dir().with_extension("partial").exists());
}

#[test]
fn a_run_without_results_is_named_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_html_report(&RunDir::new(dir.path()), image)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("clusters.csv") && err.contains("is the run finished?"),
        "{err}"
    );
}

#[test]
fn the_map_is_a_umap_layout_or_with_few_items_the_pca_projection() {
    let embeddings = |n: usize| super::Embeddings {
        rows: (0..n).collect(),
        vectors: (0..n * 3).map(|v| ((v * 7919) % 101) as f32).collect(),
        dim: 3,
    };
    let (points, layout) = super::index::layout(&embeddings(10)).unwrap();
    assert!(matches!(layout, super::map::Layout::Pca(_)));
    assert_eq!(points.len(), 10);
    let (points, layout) = super::index::layout(&embeddings(40)).unwrap();
    assert_eq!(layout, super::map::Layout::Umap);
    assert_eq!(points.len(), 40);
    assert!(points.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
}

/// A finished run in `dir/run` of the three photos a.png, b.png, c.png of `dir/photos`.
fn photo_run(dir: &Path) -> RunDir {
    let photos = dir.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, name) in ["a.png", "b.png", "c.png"].iter().enumerate() {
        RgbImage::from_pixel(48, 32, Rgb([60 * i as u8, 90, 120]))
            .save(photos.join(name))
            .unwrap();
    }
    let run = RunDir::new(dir.join("run"));
    run.create().unwrap();
    let mut config = crate::RunConfig::default();
    config.data.source = crate::DataSource::Folder {
        path: photos,
        labels: false,
    };
    run.write_config(&config).unwrap();
    let rows: Vec<ClusterRow> = ["a.png", "b.png", "c.png"]
        .iter()
        .enumerate()
        .map(|(i, name)| ClusterRow {
            item: i,
            path: name.to_string(),
            cluster: i as u32 % 2,
            distance: 0.5,
            confidence: 0.5,
            label: None,
        })
        .collect();
    run.write_clusters(&rows).unwrap();
    run.write_report(&EvalReport {
        items: 3,
        clusters: 2,
        inertia: 0.0,
        cluster_sizes: vec![2, 1],
        scores: None,
        knn_accuracy: None,
        method: ClusterMethod::KMeans,
        pixel_baseline: None,
        pixel_method_baseline: None,
        pixel_knn_accuracy: None,
        skipped: 0,
        k_choice: None,
        duplicates: 0,
        notes: Vec::new(),
    })
    .unwrap();
    run
}

#[test]
fn a_remade_report_reads_the_photos_again_and_refuses_changed_data() {
    let dir = tempfile::tempdir().unwrap();
    let run = photo_run(dir.path());
    let summary = super::remake_report(&run).unwrap();
    assert_eq!(
        (summary.thumbnails, summary.pages, summary.map),
        (3, 4, false)
    );
    let thumb = la_data::image::open(run.report_dir().join("thumbs/2.jpg")).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (48, 32));
    std::fs::rename(
        dir.path().join("photos/c.png"),
        dir.path().join("photos/d.png"),
    )
    .unwrap();
    let err = super::remake_report(&run).unwrap_err().to_string();
    assert!(
        err.contains("row 4: item 2 was `c.png`") && err.contains("`d.png`"),
        "{err}"
    );
}

#[test]
fn a_report_that_cannot_be_written_says_the_results_are() {
    let dir = tempfile::tempdir().unwrap();
    let run = photo_run(dir.path());
    // A file where the report is being made.
    std::fs::write(run.report_dir().with_extension("partial"), b"x").unwrap();
    let data = crate::RunData::open(&run.config().unwrap().data, &Device::Cpu).unwrap();
    let err = super::write_run_report(&run, &data).unwrap_err();
    assert!(matches!(err, Error::Report { .. }), "{err}");
    assert!(err.to_string().contains("`la report"), "{err}");
}
