//! What a user looks at after training: the HTML report (every page's links and images
//! resolve, `la report` remakes it, a browser renders it) and `la export` (a folder per
//! cluster of links to, or copies of, the original photos).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{FAST, la, text, write_images};

/// Trains on `data` into `dir/run` and returns the run directory.
fn train(dir: &Path, data: &Path) -> PathBuf {
    let run = dir.join("run");
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(FAST);
    args.extend(["--clusters", "2"]);
    let out = la(&args);
    assert!(out.status.success(), "train failed: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("report:"),
        "{}",
        text(&out.stdout)
    );
    run
}

/// (item, path, cluster) of every row of the run's clusters.csv (paths without commas).
fn clusters(run: &Path) -> Vec<(usize, String, u32)> {
    std::fs::read_to_string(run.join("clusters.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].to_string(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// The values of `attr="..."` in `html`.
fn attributes<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!(" {attr}=\"");
    html.split(&key)
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

/// Every HTML page of `report`: (file name, text).
fn pages(report: &Path) -> Vec<(String, String)> {
    let mut pages: Vec<(String, String)> = std::fs::read_dir(report)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    pages.sort();
    pages
}

/// Every file under `dir` and its bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(contents(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

/// The names in `dir/folder` and how many there are.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn every_page_resolves_la_report_remakes_it_and_export_fills_a_folder_per_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images, 16);
    let originals = contents(&images);
    let run = train(tmp.path(), &images);
    let report = run.join("report");
    assert!(report.join("index.html").is_file());

    // Every image and link of every page is a file of the report (or of the run beside it):
    // nothing from the network.
    let rows = clusters(&run);
    let pages = pages(&report);
    assert_eq!(
        pages.iter().filter(|p| p.0.starts_with("cluster_")).count(),
        rows.iter()
            .map(|r| r.2)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    for (name, page) in &pages {
        let targets = attributes(page, "src")
            .into_iter()
            .chain(attributes(page, "href"));
        for target in targets {
            assert!(
                !target.contains("://"),
                "{name}: {target} is not a local file"
            );
            let file = target.split('#').next().unwrap();
            let file = if file.is_empty() { name.as_str() } else { file };
            assert!(
                report.join(file).is_file(),
                "{name}: {target} does not resolve"
            );
        }
    }

    // `la report` makes the same pages again.
    std::fs::remove_dir_all(&report).unwrap();
    let out = la(&["report", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("report: "),
        "{}",
        text(&out.stdout)
    );
    let names: Vec<String> = crate::pages(&report).into_iter().map(|p| p.0).collect();
    assert_eq!(names, pages.iter().map(|p| p.0.clone()).collect::<Vec<_>>());
    assert_eq!(listing(&report.join("thumbs")).len(), rows.len());

    // The default export: a folder per cluster of symbolic links to the photos.
    let mut per_cluster: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for (_, path, c) in &rows {
        per_cluster.entry(*c).or_default().push(path);
    }
    let links = tmp.path().join("by-cluster");
    let out = la(&[
        "export",
        run.to_str().unwrap(),
        "--to",
        links.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("{} linked", rows.len())));
    let folders = listing(&links);
    assert_eq!(folders.len(), per_cluster.len());
    for (c, paths) in &per_cluster {
        let folder = links.join(format!("cluster_{c:03}"));
        let entries = listing(&folder);
        assert_eq!(entries.len(), paths.len(), "{}", folder.display());
        let mut targets: Vec<PathBuf> = entries
            .iter()
            .map(|e| {
                #[cfg(unix)]
                assert!(e.symlink_metadata().unwrap().file_type().is_symlink());
                std::fs::canonicalize(e).unwrap()
            })
            .collect();
        targets.sort();
        let mut expected: Vec<PathBuf> = paths
            .iter()
            .map(|p| std::fs::canonicalize(images.join(p)).unwrap())
            .collect();
        expected.sort();
        assert_eq!(targets, expected);
    }

    // Copies, with the outliers: the same counts, regular files with the photos' bytes.
    let copies = tmp.path().join("copies");
    let out = la(&[
        "export",
        run.to_str().unwrap(),
        "--to",
        copies.to_str().unwrap(),
        "--copy",
        "--outliers",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (c, paths) in &per_cluster {
        let entries = listing(&copies.join(format!("cluster_{c:03}")));
        assert_eq!(entries.len(), paths.len());
        for e in entries {
            assert!(e.symlink_metadata().unwrap().file_type().is_file());
        }
    }
    // 2 % of 32 items is under the 20 shown at least.
    let outliers = listing(&copies.join("outliers"));
    assert_eq!(outliers.len(), 20);
    assert!(
        outliers[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("001_")
    );
    let copied = contents(&copies);
    assert!(
        copied
            .values()
            .all(|bytes| originals.values().any(|o| o == bytes))
    );

    // A folder with files in it is refused in one line, and left as it was.
    let out = la(&[
        "export",
        run.to_str().unwrap(),
        "--to",
        copies.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("not empty"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(contents(&copies), copied);
    // The photos were never changed.
    assert_eq!(contents(&images), originals);
}

/// An IDX file of `n` 28 x 28 images with a labels file: (images, labels).
fn idx_files(dir: &Path, n: u32) -> (PathBuf, PathBuf) {
    let mut images = 0x803u32.to_be_bytes().to_vec();
    for d in [n, 28, 28] {
        images.extend(d.to_be_bytes());
    }
    images.extend((0..n * 28 * 28).map(|i| {
        let (item, x) = (i / 784, i % 28);
        if (x < 14) == (item % 2 == 0) {
            200
        } else {
            (i % 37) as u8
        }
    }));
    let mut labels = 0x801u32.to_be_bytes().to_vec();
    labels.extend(n.to_be_bytes());
    labels.extend((0..n).map(|i| (i % 2) as u8));
    let (i, l) = (dir.join("images.idx"), dir.join("labels.idx"));
    std::fs::write(&i, images).unwrap();
    std::fs::write(&l, labels).unwrap();
    (i, l)
}

#[test]
fn items_without_files_of_their_own_are_exported_as_png() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, labels) = idx_files(tmp.path(), 24);
    let run = tmp.path().join("run");
    let mut args = vec![
        "train",
        "--data",
        images.to_str().unwrap(),
        "--idx-labels",
        labels.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(FAST);
    args.extend(["--clusters", "2"]);
    let out = la(&args);
    assert!(out.status.success(), "train failed: {}", text(&out.stderr));
    assert_eq!(listing(&run.join("report/thumbs")).len(), 24);
    let to = tmp.path().join("export");
    let out = la(&[
        "export",
        run.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("24 written as PNG"),
        "{}",
        text(&out.stdout)
    );
    let files: Vec<PathBuf> = listing(&to).iter().flat_map(|f| listing(f)).collect();
    assert_eq!(files.len(), 24);
    for f in files {
        let image = la_data::image::open(&f).unwrap();
        assert_eq!((image.width(), image.height()), (32, 32), "{}", f.display());
    }
}

/// Runs `chromium ARGS` headless, waiting at most two minutes; (success, stdout, stderr).
fn chromium(profile: &Path, args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..1200 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

#[test]
#[allow(clippy::print_stdout)] // says that it skipped
fn a_headless_browser_renders_the_pages_without_console_errors() {
    if !on_path("chromium") {
        println!("skipped: no `chromium` on PATH (apt-get install chromium)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images, 16);
    let run = train(tmp.path(), &images);
    let report = std::fs::canonicalize(run.join("report")).unwrap();
    for page in ["index.html", "cluster_000.html"] {
        let url = format!("file://{}", report.join(page).display());
        let source = std::fs::read_to_string(report.join(page)).unwrap();
        let (ok, dom, log) = chromium(&tmp.path().join("profile"), &["--dump-dom", &url]);
        assert!(ok, "chromium failed on {page}: {log}");
        let console: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .collect();
        assert!(console.is_empty(), "{page}: {console:?}");
        assert_eq!(
            dom.matches("<img ").count(),
            source.matches("<img ").count(),
            "{page}: images lost"
        );
        assert!(dom.contains("</nav>"), "{page} was not rendered: {dom}");
        let shot = tmp.path().join(format!("{page}.png"));
        let (ok, _, log) = chromium(
            &tmp.path().join("profile"),
            &[
                "--window-size=1280,1600",
                &format!("--screenshot={}", shot.display()),
                &url,
            ],
        );
        assert!(ok, "chromium could not take a screenshot of {page}: {log}");
        let png = la_data::image::open(&shot).unwrap();
        assert_eq!((png.width(), png.height()), (1280, 1600));
    }
}
