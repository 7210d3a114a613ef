//! The bad-input and fault corpus: every kind of bad input a user can give `la` (images,
//! folders, CSV, IDX, TOML, weights, output paths, flags, signals), run through the binary.
//! Each case asserts its outcome class — a one-line error with exit code 2 naming what is at
//! fault, a counted skip listed in skipped.csv, or success (with the note the user must see)
//! — that no file outside the run directories changed, and that a run directory left behind
//! resumes or is cleanly refused. docs/reliability.md lists the cases.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{FAST, la_in, pattern, text, write_images};

/// What a case must end with.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit code 2 and one line `error: ...` holding every word.
    Error(&'static [&'static str]),
    /// Success, `clustered` rows in clusters.csv and `skipped` in skipped.csv.
    Counted { clustered: usize, skipped: usize },
    /// Success with a `note: ...` line on stderr holding the word.
    Note(&'static str),
}

/// One case: a name, what it builds in its folder (returning the arguments of `la`), and
/// the outcome.
struct Case {
    name: &'static str,
    make: fn(&Path) -> Vec<String>,
    expect: Expect,
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// `la train --data DATA --out DIR/run EXTRA`, with the [`FAST`] settings `extra` does not
/// give.
fn train(dir: &Path, data: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = s(&["train", "--data", &p(data), "--out", &p(&dir.join("run"))]);
    args.extend(s(extra));
    for pair in FAST.chunks(2) {
        if !extra.contains(&pair[0]) {
            args.extend(s(pair));
        }
    }
    args
}

/// Two labelled folders of 8 images each in `dir/photos`.
fn photos(dir: &Path) -> PathBuf {
    let photos = dir.join("photos");
    write_images(&photos, 8);
    photos
}

fn png_bytes() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    pattern(0, 1)
        .write_to(&mut out, la_data::image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn jpeg_bytes() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    pattern(1, 2)
        .write_to(&mut out, la_data::image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

/// A PNG signature and IHDR declaring `w` x `h`, and nothing else.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut v = png_bytes()[..33].to_vec();
    v[16..20].copy_from_slice(&w.to_be_bytes());
    v[20..24].copy_from_slice(&h.to_be_bytes());
    v
}

/// An IDX file: magic, dimensions, values.
fn idx(magic: u32, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(values);
    v
}

fn idx_images(n: u32) -> Vec<u8> {
    let values: Vec<u8> = (0..n * 28 * 28).map(|i| (i % 251) as u8).collect();
    idx(0x803, &[n, 28, 28], &values)
}

/// A finished tiny run in `dir/model` (with an auto-encoder when `ae`).
fn finished_run(dir: &Path, ae: bool) -> PathBuf {
    let data = photos(dir);
    let model = dir.join("model");
    let mut args = s(&["train", "--data", &p(&data), "--out", &p(&model)]);
    if ae {
        args.extend(s(&[
            "--stages",
            "both",
            "--ae-epochs",
            "1",
            "--ae-batch-size",
            "8",
        ]));
    }
    args.extend(s(FAST));
    let out = run(dir, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    model
}

fn run(dir: &Path, args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    la_in(dir, &args)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn bad_image_case(dir: &Path, name: &str, bytes: Vec<u8>) -> Vec<String> {
    let data = photos(dir);
    write(&data.join("left").join(name), &bytes);
    train(dir, &data, &[])
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let counted = |skipped| Counted {
        clustered: 16,
        skipped,
    };
    vec![
        // Images in a folder.
        Case {
            name: "truncated PNG",
            make: |d| {
                let b = png_bytes();
                bad_image_case(d, "cut.png", b[..b.len() / 2].to_vec())
            },
            expect: counted(1),
        },
        Case {
            name: "truncated JPEG",
            make: |d| {
                let b = jpeg_bytes();
                bad_image_case(d, "cut.jpg", b[..b.len() / 2].to_vec())
            },
            expect: counted(1),
        },
        Case {
            name: "PNG with a bad CRC",
            make: |d| {
                let mut b = png_bytes();
                let at = b.len() - 20;
                b[at] ^= 0x5a;
                bad_image_case(d, "crc.png", b)
            },
            expect: counted(1),
        },
        Case {
            name: "empty image file",
            make: |d| bad_image_case(d, "empty.png", Vec::new()),
            expect: counted(1),
        },
        Case {
            name: "text named .jpg",
            make: |d| bad_image_case(d, "notes.jpg", b"shopping list".to_vec()),
            expect: counted(1),
        },
        Case {
            name: "image below the smallest side",
            make: |d| {
                let mut out = std::io::Cursor::new(Vec::new());
                la_data::image::RgbImage::new(8, 8)
                    .write_to(&mut out, la_data::image::ImageFormat::Png)
                    .unwrap();
                bad_image_case(d, "tiny.png", out.into_inner())
            },
            expect: counted(1),
        },
        Case {
            name: "PNG header declaring 100000 x 100000",
            make: |d| bad_image_case(d, "bomb.png", png_header(100_000, 100_000)),
            expect: counted(1),
        },
        Case {
            name: "four bad files of four kinds",
            make: |d| {
                let data = photos(d);
                let (png, jpg) = (png_bytes(), jpeg_bytes());
                write(&data.join("left/a.png"), &png[..png.len() / 2]);
                write(&data.join("left/b.jpg"), &jpg[..jpg.len() / 3]);
                write(&data.join("top/c.png"), b"");
                write(&data.join("top/d.jpeg"), b"\xff\xd8\xff\xe0garbage");
                train(d, &data, &[])
            },
            expect: counted(4),
        },
        Case {
            name: "hidden and other files are not images",
            make: |d| {
                let data = photos(d);
                write(&data.join("left/.hidden.png"), b"not an image");
                write(&data.join("top/readme.txt"), b"hello");
                train(d, &data, &[])
            },
            expect: counted(0),
        },
        Case {
            name: "every image unreadable",
            make: |d| {
                write(&d.join("bad/a/1.png"), b"x");
                write(&d.join("bad/b/2.jpg"), b"y");
                train(d, &d.join("bad"), &[])
            },
            expect: Error(&["all 2 images were skipped"]),
        },
        Case {
            name: "empty folder",
            make: |d| {
                std::fs::create_dir_all(d.join("empty")).unwrap();
                train(d, &d.join("empty"), &[])
            },
            expect: Error(&["empty", "no image"]),
        },
        Case {
            name: "folder of other file types",
            make: |d| {
                write(&d.join("docs/a.txt"), b"x");
                write(&d.join("docs/b.pdf"), b"y");
                train(d, &d.join("docs"), &[])
            },
            expect: Error(&["docs", "no image"]),
        },
        Case {
            name: "stray image beside the label folders",
            make: |d| {
                let data = photos(d);
                pattern(0, 9).save(data.join("stray.png")).unwrap();
                train(d, &data, &[])
            },
            expect: Note("have no label"),
        },
        Case {
            name: "missing --data",
            make: |d| train(d, &d.join("no-such-photos"), &[]),
            expect: Error(&["no-such-photos", "no such file"]),
        },
        Case {
            name: "--data of an unknown kind",
            make: |d| {
                write(&d.join("notes.txt"), b"x");
                train(d, &d.join("notes.txt"), &[])
            },
            expect: Error(&["notes.txt", "expected a folder"]),
        },
        // CSV tables of contents.
        Case {
            name: "CSV with a header only",
            make: |d| {
                write(&d.join("photos.csv"), b"ImageName,Genus\n");
                train(d, &d.join("photos.csv"), &[])
            },
            expect: Error(&["photos.csv"]),
        },
        Case {
            name: "CSV row naming a missing file",
            make: |d| {
                let data = photos(d);
                let mut csv = String::from("ImageName,Genus\n");
                for i in 0..8 {
                    csv += &format!("left/{i}.png,L\ntop/{i}.png,T\n");
                }
                csv += "left/gone.png,L\n";
                write(&data.join("photos.csv"), csv.as_bytes());
                train(d, &data.join("photos.csv"), &["--label-column", "Genus"])
            },
            expect: counted(1),
        },
        Case {
            name: "CSV with an empty label cell",
            make: |d| {
                let data = photos(d);
                let mut csv = String::from("ImageName,Genus\n");
                for i in 0..8 {
                    csv += &format!("left/{i}.png,L\ntop/{i}.png,\n");
                }
                write(&data.join("photos.csv"), csv.as_bytes());
                train(d, &data.join("photos.csv"), &["--label-column", "Genus"])
            },
            expect: Note("have no label"),
        },
        Case {
            name: "CSV label column that does not exist",
            make: |d| {
                let data = photos(d);
                write(&data.join("photos.csv"), b"ImageName\nleft/0.png\n");
                train(d, &data.join("photos.csv"), &["--label-column", "Genus"])
            },
            expect: Error(&["Genus"]),
        },
        Case {
            name: "CSV selection on a missing column",
            make: |d| {
                let data = photos(d);
                write(&data.join("photos.csv"), b"ImageName\nleft/0.png\n");
                train(
                    d,
                    &data.join("photos.csv"),
                    &["--select", "Family=Amanitaceae"],
                )
            },
            expect: Error(&["Family"]),
        },
        Case {
            name: "IDX labels flag given for a CSV",
            make: |d| {
                let data = photos(d);
                write(&data.join("photos.csv"), b"ImageName\nleft/0.png\n");
                train(d, &data.join("photos.csv"), &["--idx-labels", "labels.idx"])
            },
            expect: Error(&["--idx-labels", "does not apply"]),
        },
        Case {
            name: "CSV selection flag given for a folder",
            make: |d| {
                let data = photos(d);
                train(d, &data, &["--select", "Genus=Amanita"])
            },
            expect: Error(&["--select", "does not apply"]),
        },
        // IDX files.
        Case {
            name: "IDX images cut short",
            make: |d| {
                let b = idx_images(20);
                write(&d.join("images.idx"), &b[..b.len() - 100]);
                train(d, &d.join("images.idx"), &[])
            },
            expect: Error(&["images.idx"]),
        },
        Case {
            name: "IDX with a wrong magic number",
            make: |d| {
                write(&d.join("images.idx"), &idx(0x801, &[3], &[1, 2, 3]));
                train(d, &d.join("images.idx"), &[])
            },
            expect: Error(&["images.idx"]),
        },
        Case {
            name: "IDX labels of another count",
            make: |d| {
                write(&d.join("images.idx"), &idx_images(20));
                write(&d.join("labels.idx"), &idx(0x801, &[19], &[1; 19]));
                train(
                    d,
                    &d.join("images.idx"),
                    &["--idx-labels", &p(&d.join("labels.idx"))],
                )
            },
            expect: Error(&["labels.idx"]),
        },
        Case {
            name: "CSV root flag given for IDX",
            make: |d| {
                write(&d.join("images.idx"), &idx_images(20));
                train(d, &d.join("images.idx"), &["--root", "photos"])
            },
            expect: Error(&["--root", "does not apply"]),
        },
        // Configuration files.
        Case {
            name: "TOML syntax error",
            make: |d| {
                write(&d.join("run.toml"), b"seed = 1\n[embedding\nepochs = 2\n");
                s(&["train", "--config", &p(&d.join("run.toml")), "-q"])
            },
            expect: Error(&["run.toml", "line 2"]),
        },
        Case {
            name: "TOML unknown field",
            make: |d| {
                write(&d.join("run.toml"), b"[embedding]\nepoch = 2\n");
                s(&["train", "--config", &p(&d.join("run.toml")), "-q"])
            },
            expect: Error(&["run.toml", "epoch"]),
        },
        Case {
            name: "TOML value out of range",
            make: |d| {
                write(&d.join("run.toml"), b"[embedding]\nbatch_size = 0\n");
                s(&["train", "--config", &p(&d.join("run.toml")), "-q"])
            },
            expect: Error(&["embedding.batch_size"]),
        },
        // Weights.
        Case {
            name: "weights file missing",
            make: |d| {
                let data = photos(d);
                train(
                    d,
                    &data,
                    &["--weights", "nope.safetensors", "--width-divisor", "1"],
                )
            },
            expect: Error(&["nope.safetensors"]),
        },
        Case {
            name: "weights file of garbage",
            make: |d| {
                let data = photos(d);
                write(
                    &d.join("w.safetensors"),
                    b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage",
                );
                let w = p(&d.join("w.safetensors"));
                train(d, &data, &["--weights", &w, "--width-divisor", "1"])
            },
            expect: Error(&["w.safetensors"]),
        },
        Case {
            name: "pretrained weights at a reduced width",
            make: |d| {
                let data = photos(d);
                train(d, &data, &["--weights", "imagenet"])
            },
            expect: Error(&["model.weights", "--width-divisor 1"]),
        },
        Case {
            name: "corrupt model given to la cluster",
            make: |d| {
                let model = finished_run(d, false);
                write(&model.join("embedder.safetensors"), b"\x00\x01broken");
                let out = p(&d.join("run"));
                s(&[
                    "cluster",
                    "--model",
                    &p(&model),
                    "--data",
                    &p(&d.join("photos")),
                    "--out",
                    &out,
                ])
            },
            expect: Error(&["embedder.safetensors"]),
        },
        Case {
            name: "la info on garbage",
            make: |d| {
                write(&d.join("x.safetensors"), b"garbage");
                s(&["info", &p(&d.join("x.safetensors"))])
            },
            expect: Error(&["x.safetensors", "safetensors"]),
        },
        // Output paths.
        Case {
            name: "--out a folder of the user's files",
            make: |d| {
                let data = photos(d);
                write(&d.join("run/my-notes.txt"), b"keep me");
                train(d, &data, &[])
            },
            expect: Error(&["not empty"]),
        },
        Case {
            name: "--out an empty folder of the user's",
            make: |d| {
                let data = photos(d);
                std::fs::create_dir_all(d.join("run")).unwrap();
                train(d, &data, &[])
            },
            expect: counted(0),
        },
        Case {
            name: "--out an existing file",
            make: |d| {
                let data = photos(d);
                write(&d.join("run"), b"a file");
                train(d, &data, &[])
            },
            expect: Error(&["run"]),
        },
        Case {
            name: "la cluster into a finished run",
            make: |d| {
                let model = finished_run(d, false);
                let data = p(&d.join("photos"));
                s(&[
                    "cluster",
                    "--model",
                    &p(&model),
                    "--data",
                    &data,
                    "--out",
                    &p(&model),
                ])
            },
            expect: Error(&["already holds a run"]),
        },
        Case {
            name: "la reconstruct over its input photo",
            make: |d| {
                let model = finished_run(d, true);
                let photo = p(&d.join("photos/left/0.png"));
                s(&[
                    "reconstruct",
                    "--model",
                    &p(&model),
                    &photo,
                    "--out",
                    &photo,
                ])
            },
            expect: Error(&["0.png", "already exists"]),
        },
        // Flags.
        Case {
            name: "--resume with a setting",
            make: |d| {
                let model = finished_run(d, false);
                s(&["train", "--resume", &p(&model), "--epochs", "5"])
            },
            expect: Error(&["--epochs", "--resume"]),
        },
        Case {
            name: "--resume of a folder that is not a run",
            make: |d| {
                std::fs::create_dir_all(d.join("somewhere")).unwrap();
                s(&["train", "--resume", &p(&d.join("somewhere"))])
            },
            expect: Error(&["somewhere", "not a run directory"]),
        },
        Case {
            name: "--image-size beyond memory",
            make: |d| {
                let data = photos(d);
                train(d, &data, &["--image-size", "65536"])
            },
            expect: Error(&["GiB", "--image-size"]),
        },
        Case {
            name: "--image-size not a multiple of 32",
            make: |d| {
                let data = photos(d);
                train(d, &data, &["--image-size", "50"])
            },
            expect: Error(&["data.side"]),
        },
        Case {
            name: "more clusters than images",
            make: |d| {
                let data = d.join("few");
                write_images(&data, 9);
                std::fs::remove_dir_all(data.join("top")).unwrap();
                train(d, &data, &["--clusters", "20"])
            },
            expect: Note("only 9 items"),
        },
        Case {
            name: "one cluster",
            make: |d| {
                let data = photos(d);
                train(d, &data, &["--clusters", "1"])
            },
            expect: Error(&["eval.clusters"]),
        },
        Case {
            name: "batch size 0",
            make: |d| {
                let data = photos(d);
                train(d, &data, &["--batch-size", "0"])
            },
            expect: Error(&["batch_size"]),
        },
        Case {
            name: "grid without its tile",
            make: |d| {
                let data = photos(d);
                train(d, &data, &["--grid", "3"])
            },
            expect: Error(&["--grid 3"]),
        },
        Case {
            name: "unknown device",
            make: |d| {
                let data = photos(d);
                train(d, &data, &["--device", "tpu"])
            },
            expect: Error(&["tpu"]),
        },
        Case {
            name: "a learning rate that diverges",
            make: |d| {
                let data = photos(d);
                train(d, &data, &["--lr", "1e30", "--epochs", "2"])
            },
            expect: Error(&["diverged", "lower the learning rate"]),
        },
        Case {
            name: "weights with NaN given to la cluster",
            make: |d| {
                let model = finished_run(d, false);
                let file = model.join("embedder.safetensors");
                let mut bytes = std::fs::read(&file).unwrap();
                // The last 4 bytes are the last value of the last tensor: a NaN.
                let n = bytes.len();
                bytes[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
                write(&file, &bytes);
                let out = p(&d.join("run"));
                s(&[
                    "cluster",
                    "--model",
                    &p(&model),
                    "--data",
                    &p(&d.join("photos")),
                    "--out",
                    &out,
                ])
            },
            expect: Error(&["embedder.safetensors", "NaN"]),
        },
        // Runs resumed after their data changed.
        Case {
            name: "--resume after an image was deleted",
            make: |d| {
                let model = finished_run(d, false);
                std::fs::remove_file(d.join("photos/top/3.png")).unwrap();
                s(&["train", "--resume", &p(&model), "-q"])
            },
            expect: Error(&["data changed", "16 items then, 15 now"]),
        },
    ]
}

/// Every file below `dir` outside the folders la may write (`run`, `model`), with a hash
/// of its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, u64> {
    use std::hash::{Hash, Hasher};
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if rel.starts_with("run") || rel.starts_with("model") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path).unwrap().hash(&mut h);
                files.insert(rel, h.finish());
            }
        }
    }
    files
}

fn rows(csv: &Path) -> usize {
    std::fs::read_to_string(csv)
        .unwrap_or_else(|e| panic!("{}: {e}", csv.display()))
        .lines()
        .count()
        - 1
}

fn check(case: &Case, dir: &Path, out: &Output) -> Result<(), String> {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let said = || {
        format!(
            "exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
            out.status.code()
        )
    };
    if stderr.contains("panicked") {
        return Err(format!("panic: {}", said()));
    }
    match case.expect {
        Expect::Error(words) => {
            let line = stderr.lines().find(|l| l.starts_with("error: "));
            let ok = out.status.code() == Some(2)
                && line.is_some_and(|l| words.iter().all(|w| l.contains(w)))
                && stderr.lines().filter(|l| l.starts_with("error")).count() == 1;
            if !ok {
                return Err(format!(
                    "expected one error line with {words:?}: {}",
                    said()
                ));
            }
        }
        Expect::Counted { clustered, skipped } => {
            let run = dir.join("run");
            if !out.status.success() {
                return Err(format!("expected success: {}", said()));
            }
            let (c, s) = (
                rows(&run.join("clusters.csv")),
                rows(&run.join("skipped.csv")),
            );
            if (c, s) != (clustered, skipped) {
                return Err(format!(
                    "expected {clustered} clustered and {skipped} skipped, got {c} and {s}: {}",
                    said()
                ));
            }
            if skipped > 0 && !stderr.contains("note: ") {
                return Err(format!("skips without a note: {}", said()));
            }
        }
        Expect::Note(word) => {
            let noted = stderr
                .lines()
                .any(|l| l.starts_with("note: ") && l.contains(word));
            if !out.status.success() || !noted {
                return Err(format!(
                    "expected success with a note on {word:?}: {}",
                    said()
                ));
            }
        }
    }
    Ok(())
}

/// A run directory left behind resumes, or is refused in one line.
fn check_left_behind(dir: &Path) -> Result<(), String> {
    for name in ["run", "model"] {
        let run = dir.join(name);
        if !run.join("config.toml").is_file() {
            continue;
        }
        let out = la_in(dir, &["train", "--resume", &p(&run), "-q"]);
        let err = text(&out.stderr);
        let clean_refusal = out.status.code() == Some(2)
            && err.lines().filter(|l| l.starts_with("error: ")).count() == 1;
        if !(out.status.success() || clean_refusal) || err.contains("panicked") {
            return Err(format!("{name} left behind does not resume: {err}"));
        }
    }
    Ok(())
}

#[test]
fn every_bad_input_has_its_outcome_and_changes_no_file_of_the_user() {
    let cases = cases();
    assert!(cases.len() >= 40, "the corpus has {} kinds", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let args = (case.make)(dir);
        let before = snapshot(dir);
        let out = run(dir, &args);
        let outcome = check(case, dir, &out)
            .and_then(|()| {
                let after = snapshot(dir);
                match before == after {
                    true => Ok(()),
                    false => Err(format!(
                        "files outside the run changed: {before:?} -> {after:?}"
                    )),
                }
            })
            .and_then(|()| check_left_behind(dir));
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_run_killed_at_any_moment_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = photos(dir);
    let mut args = train(dir, &data, &[]);
    let epochs = args.iter().position(|a| a == "--epochs").unwrap() + 1;
    args[epochs] = "40".into();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_la"))
        .args(&argv)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the first checkpoint exists, wherever the run then is.
    let sidecar = dir.join("run/checkpoints/embedding.json");
    let clock = std::time::Instant::now();
    while !sidecar.exists() && clock.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(sidecar.exists(), "no checkpoint within two minutes");
    let out = la_in(dir, &["train", "--resume", &p(&dir.join("run")), "-q"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(rows(&dir.join("run/clusters.csv")), 16);
}
