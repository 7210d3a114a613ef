//! The `hub` feature without a hub: files already cached are returned without any network
//! access, and a download from an unreachable endpoint fails fast with the clear message.
#![cfg(feature = "hub")]

use std::fs;
use std::path::PathBuf;

use la_vgg::hub::{DEFAULT_ENDPOINT, HubOptions, fetch, fetch_variant};
use la_vgg::{Error, HfCache, Variant};

/// Port 9 (discard) on the loopback: nothing listens, the connection is refused at once.
const CLOSED_ENDPOINT: &str = "http://127.0.0.1:9";

fn options(cache: &std::path::Path) -> HubOptions {
    HubOptions {
        endpoint: CLOSED_ENDPOINT.to_string(),
        cache: HfCache::new(cache),
        revision: "main".to_string(),
        token: None,
        progress: false,
    }
}

#[test]
fn options_follow_the_environment_lookup() {
    let vars = [
        ("HF_ENDPOINT", CLOSED_ENDPOINT),
        ("HF_HUB_CACHE", "/cache"),
        ("HF_TOKEN", ""),
    ];
    let lookup = |key: &str| {
        vars.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    };
    let opts = HubOptions::from_lookup(lookup);
    assert_eq!(opts.endpoint, CLOSED_ENDPOINT);
    assert_eq!(opts.cache.dir(), PathBuf::from("/cache"));
    assert_eq!(opts.revision, "main");
    assert_eq!(opts.token, None);
    assert!(!opts.progress);
    let defaults = HubOptions::from_lookup(|key| (key == "HOME").then(|| "/home/u".to_string()));
    assert_eq!(defaults.endpoint, DEFAULT_ENDPOINT);
    assert_eq!(
        defaults.cache.dir(),
        PathBuf::from("/home/u/.cache/huggingface/hub")
    );
}

#[test]
fn cached_files_need_no_network() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("models--timm--vgg16_bn.tv_in1k");
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::create_dir_all(repo.join("snapshots/abc")).unwrap();
    fs::write(repo.join("refs/main"), "abc").unwrap();
    fs::write(repo.join("snapshots/abc/model.safetensors"), b"w").unwrap();
    let variant = Variant::by_name("vgg16_bn").unwrap();
    let path = fetch_variant(variant, &options(dir.path())).unwrap();
    assert_eq!(path, repo.join("snapshots/abc/model.safetensors"));
}

#[test]
fn unreachable_hub_gives_the_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(
        "timm/vgg16_bn.tv_in1k",
        "model.safetensors",
        &options(dir.path()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Download { .. }), "{err:?}");
    let message = err.to_string();
    let repo_dir = dir.path().join("models--timm--vgg16_bn.tv_in1k");
    for needle in [
        "cannot download model.safetensors of timm/vgg16_bn.tv_in1k from http://127.0.0.1:9"
            .to_string(),
        "unreachable".to_string(),
        "--weights PATH".to_string(),
        format!(
            "copy it to {}",
            repo_dir
                .join("snapshots/manual/model.safetensors")
                .display()
        ),
        "cargo xtask fetch-weights".to_string(),
    ] {
        assert!(message.contains(&needle), "{needle:?} not in:\n{message}");
    }
    // Nothing half-written is left where the resolver would find it.
    assert!(
        HfCache::new(dir.path())
            .resolve("timm/vgg16_bn.tv_in1k", "main", "model.safetensors")
            .is_err()
    );
}
