//! Resolving files in a faked Hugging Face cache (the layout huggingface_hub and hf-hub write).

use std::fs;
use std::path::{Path, PathBuf};

use la_vgg::{DEFAULT_REVISION, Error, HfCache, Variant};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// `{root}/models--timm--vgg16_bn.tv_in1k/{refs/main -> COMMIT, snapshots/COMMIT/model.safetensors}`.
fn fake_cache(root: &Path) -> PathBuf {
    let repo = root.join("models--timm--vgg16_bn.tv_in1k");
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("refs").join("main"), format!("{COMMIT}\n")).unwrap();
    let snapshot = repo.join("snapshots").join(COMMIT);
    fs::create_dir_all(&snapshot).unwrap();
    let file = snapshot.join("model.safetensors");
    fs::write(&file, b"weights").unwrap();
    file
}

fn miss_message(result: Result<PathBuf, Error>) -> String {
    match result {
        Err(e @ Error::NotInCache { .. }) => e.to_string(),
        other => panic!("expected NotInCache, got {other:?}"),
    }
}

#[test]
fn resolves_main_through_refs_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let file = fake_cache(dir.path());
    let cache = HfCache::new(dir.path());
    let variant = Variant::by_name("vgg16_bn").unwrap();
    assert_eq!(variant.cached_weights(&cache).unwrap(), file);
    assert_eq!(
        cache
            .resolve(
                "timm/vgg16_bn.tv_in1k",
                DEFAULT_REVISION,
                "model.safetensors"
            )
            .unwrap(),
        file
    );
    // A commit hash is used directly, without refs.
    assert_eq!(
        cache
            .resolve("timm/vgg16_bn.tv_in1k", COMMIT, "model.safetensors")
            .unwrap(),
        file
    );
}

#[test]
fn resolves_the_cache_named_by_the_environment_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let file = fake_cache(&dir.path().join("hub"));
    let home = dir.path().to_path_buf();
    let cache = HfCache::from_lookup(|key| (key == "HF_HOME").then(|| home.clone()));
    assert_eq!(
        Variant::by_name("16")
            .unwrap()
            .cached_weights(&cache)
            .unwrap(),
        file
    );
}

#[test]
fn missing_repo_says_where_to_put_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = HfCache::new(dir.path());
    let message = miss_message(Variant::by_name("vgg19_bn").unwrap().cached_weights(&cache));
    let repo_dir = dir.path().join("models--timm--vgg19_bn.tv_in1k");
    for needle in [
        "model.safetensors of timm/vgg19_bn.tv_in1k is not in the Hugging Face cache".to_string(),
        format!("{} does not exist", repo_dir.display()),
        "--weights PATH".to_string(),
        format!(
            "copy it to {}",
            repo_dir
                .join("snapshots/manual/model.safetensors")
                .display()
        ),
        format!(
            "write `manual` into {}",
            repo_dir.join("refs/main").display()
        ),
        "cargo xtask fetch-weights".to_string(),
    ] {
        assert!(message.contains(&needle), "{needle:?} not in:\n{message}");
    }
}

#[test]
fn the_suggested_manual_layout_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("models--timm--vgg11_bn.tv_in1k");
    fs::create_dir_all(repo.join("snapshots/manual")).unwrap();
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("snapshots/manual/model.safetensors"), b"w").unwrap();
    fs::write(repo.join("refs/main"), "manual").unwrap();
    let cache = HfCache::new(dir.path());
    let path = Variant::by_name("vgg11_bn")
        .unwrap()
        .cached_weights(&cache)
        .unwrap();
    assert_eq!(path, repo.join("snapshots/manual/model.safetensors"));
}

#[test]
fn missing_ref_and_missing_snapshot_file_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = fake_cache(dir.path());
    let cache = HfCache::new(dir.path());
    let repo = "timm/vgg16_bn.tv_in1k";

    let message = miss_message(cache.resolve(repo, "v2", "model.safetensors"));
    assert!(
        message.contains("cannot read") && message.contains("refs/v2"),
        "{message}"
    );

    let message = miss_message(cache.resolve(repo, DEFAULT_REVISION, "pytorch_model.bin"));
    assert!(
        message.contains(&format!("{COMMIT}/pytorch_model.bin does not exist")),
        "{message}"
    );

    fs::remove_file(&file).unwrap();
    let message = miss_message(cache.resolve(repo, DEFAULT_REVISION, "model.safetensors"));
    assert!(
        message.contains(&format!("{} does not exist", file.display())),
        "{message}"
    );

    fs::write(
        dir.path().join("models--timm--vgg16_bn.tv_in1k/refs/main"),
        "\n",
    )
    .unwrap();
    let message = miss_message(cache.resolve(repo, DEFAULT_REVISION, "model.safetensors"));
    assert!(message.contains("holds no commit hash"), "{message}");
}
