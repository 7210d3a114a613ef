//! The `la` binary end to end on a tiny configuration, as a user runs it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{la, text};

/// 32 images in two labelled folders.
fn write_images(dir: &Path) {
    common::write_images(dir, 16);
}

const TINY: &[&str] = &[
    "--stages",
    "both",
    "--image-size",
    "32",
    "--width-divisor",
    "16",
    "--projection",
    "8",
    "--ae-epochs",
    "1",
    "--ae-batch-size",
    "8",
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--objective",
    "local-aggregation",
    "--la-clusters",
    "2",
    "--clusterings",
    "2",
    "--clusters",
    "2",
    "-q",
];

#[test]
fn train_then_eval_cluster_reconstruct_and_info() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);
    let run = tmp.path().join("run");
    let mut args = vec![
        "train",
        "--data",
        images.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(TINY);
    let out = la(&args);
    assert!(out.status.success(), "train failed: {}", text(&out.stderr));
    // Photos trained from scratch: the fast path with pretrained weights is pointed out.
    assert!(
        text(&out.stderr).contains("fetch-weights"),
        "{}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ACC") && stdout.contains("k-means on raw pixels"),
        "{stdout}"
    );
    for f in [
        "config.toml",
        "metrics.jsonl",
        "clusters.csv",
        "eval.json",
        "embedder.safetensors",
        "autoencoder.safetensors",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    assert!(run.join("contact_sheets/cluster_000.png").is_file());
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("\"epoch_end\"") && l.contains("\"embedding\""))
    );

    assert!(stdout.contains("raw pixels 1.000"), "{stdout}");

    let out = la(&["eval", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("32 items of 2 classes"), "{stdout}");
    assert!(stdout.contains("k-means on raw pixels") && stdout.contains("raw pixels 1.000"));

    let clustered = tmp.path().join("clustered");
    let out = la(&[
        "cluster",
        "--model",
        run.to_str().unwrap(),
        "--data",
        images.to_str().unwrap(),
        "--out",
        clustered.to_str().unwrap(),
        "-q",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(clustered.join("clusters.csv").is_file());

    let recon = tmp.path().join("recon.png");
    let image = images.join("left/0.png");
    let out = la(&[
        "reconstruct",
        "--model",
        run.to_str().unwrap(),
        image.to_str().unwrap(),
        "--out",
        recon.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(recon.is_file());

    let out = la(&["info", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("width 1/16"),
        "{}",
        text(&out.stdout)
    );

    // The same directory again is refused: nothing is overwritten.
    let mut again = vec!["train", "--out", run.to_str().unwrap()];
    again.extend_from_slice(TINY);
    let out = la(&again);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--resume"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn stages_none_clusters_with_the_untrained_encoder() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);
    let run = tmp.path().join("run");
    let mut args = vec!["train", "--data", images.to_str().unwrap()];
    args.extend(["--out", run.to_str().unwrap()]);
    // TINY without its leading `--stages both`.
    args.extend_from_slice(&TINY[2..]);
    args.extend(["--stages", "none"]);
    let out = la(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("weighted kNN accuracy"));
    assert!(run.join("embedder.safetensors").is_file());
    assert!(!run.join("autoencoder.safetensors").exists());
    assert!(!run.join("checkpoints").exists(), "nothing was trained");
    let clustered = tmp.path().join("clustered");
    let out = la(&[
        "cluster",
        "--model",
        run.to_str().unwrap(),
        "--data",
        images.to_str().unwrap(),
        "--out",
        clustered.to_str().unwrap(),
        "-q",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn the_contrastive_objective_and_umap_clusters_run_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);
    let run = tmp.path().join("run");
    let mut args = vec!["train", "--data", images.to_str().unwrap()];
    args.extend(["--out", run.to_str().unwrap()]);
    args.extend([
        "--image-size",
        "32",
        "--width-divisor",
        "16",
        "--projection",
        "8",
    ]);
    args.extend([
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--clusters",
        "2",
        "-q",
    ]);
    args.extend(["--stages", "embedding", "--objective", "contrastive"]);
    args.extend(["--cluster-method", "umap"]);
    let out = la(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("this model (UMAP + k-means)")
            && stdout.contains("UMAP + k-means on raw pixels")
            && stdout.contains("k-means on raw pixels"),
        "{stdout}"
    );
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("objective = \"contrastive\""), "{config}");
}

#[test]
fn user_mistakes_are_one_line_errors_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-photos");
    // A finished run whose recipe had no auto-encoder stage.
    let no_ae = tmp.path().join("la-only-run");
    std::fs::create_dir_all(&no_ae).unwrap();
    std::fs::write(no_ae.join("config.toml"), "[ae]\nenabled = false\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "reconstruct".into(),
                "--model".into(),
                no_ae.display().to_string(),
                "x.png".into(),
            ],
            "has no auto-encoder",
        ),
        (
            vec![
                "train".into(),
                "--data".into(),
                missing.display().to_string(),
            ],
            "no-such-photos",
        ),
        (
            vec!["train".into(), "--temperature=-1".into()],
            "embedding.contrastive.temperature",
        ),
        (
            vec!["train".into(), "--image-size".into(), "50".into()],
            "data.side",
        ),
        (vec!["train".into(), "--device".into(), "tpu".into()], "tpu"),
        (
            vec!["eval".into(), tmp.path().display().to_string()],
            "clusters.csv",
        ),
        (
            vec![
                "cluster".into(),
                "--model".into(),
                missing.display().to_string(),
            ],
            "run directory",
        ),
    ];
    for (args, needle) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_la"))
            .args(&args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A rejected command leaves nothing behind.
    assert!(!tmp.path().join("runs").exists());
}

#[test]
fn a_run_that_fails_on_its_data_leaves_no_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("photos.csv");
    std::fs::write(&csv, "Genus,Path\nAmanita,a.jpg\n").unwrap();
    let out_dir = tmp.path().join("run");
    let err = failed_train(
        tmp.path(),
        &["--data", &csv.display().to_string()],
        &out_dir,
    );
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("ImageName"),
        "{err}"
    );
    assert!(!out_dir.exists(), "{err}");

    // A corrupt image in strict mode: one line, the decoder's message once.
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("broken.jpg"), b"\xff\xd8\xff\xe0garbage").unwrap();
    let data = photos.display().to_string();
    let err = failed_train(tmp.path(), &["--strict", "--data", &data], &out_dir);
    let error = &err[err.find("error: ").expect("an error line")..];
    assert_eq!(error.trim_end().lines().count(), 1, "{err}");
    assert_eq!(error.matches("cannot decode").count(), 1, "{err}");
}

/// Runs `la train ARGS --out OUT` in `cwd`, expects exit code 2 and returns its stderr.
fn failed_train(cwd: &Path, args: &[&str], out: &Path) -> String {
    let run = Command::new(env!("CARGO_BIN_EXE_la"))
        .arg("train")
        .args(args)
        .arg("--out")
        .arg(out)
        .current_dir(cwd)
        .output()
        .unwrap();
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    err
}
