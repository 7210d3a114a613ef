//! Download from the Hugging Face hub into the standard cache (feature `hub`).
//!
//! Uses hf-hub 0.4's blocking ureq client (chosen over hf-hub 1.0 for its much smaller
//! dependency tree; the figures are in `crates/la-vgg/docs/hub.md`).

use std::path::PathBuf;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Repo, RepoType};

use crate::hf_cache::DEFAULT_REVISION;
use crate::{Error, HfCache, Variant};

/// The public hub, used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where and how to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    /// The hub's base URL. From `HF_ENDPOINT`; by default, [`DEFAULT_ENDPOINT`].
    pub endpoint: String,
    /// The cache the file goes into. By default, [`HfCache::from_env`] (`HF_HUB_CACHE`,
    /// `HF_HOME`, ..).
    pub cache: HfCache,
    /// Branch, tag or commit. By default, `main`.
    pub revision: String,
    /// Access token, from `HF_TOKEN`; by default, none (hf-hub then reads
    /// `$HF_HOME/token` if it exists). The VGG repositories are public.
    pub token: Option<String>,
    /// Whether hf-hub draws a progress bar on stderr. By default, disabled: library code does
    /// not print unless its caller asks.
    pub progress: bool,
}

impl HubOptions {
    /// The options the process environment gives.
    pub fn from_env() -> Self {
        HubOptions::from_lookup(|key| std::env::var(key).ok())
    }

    /// The options the variables given by `lookup` give (empty values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |key: &str| lookup(key).filter(|v| !v.is_empty());
        HubOptions {
            endpoint: var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            cache: HfCache::from_lookup(|key| var(key).map(PathBuf::from)),
            revision: DEFAULT_REVISION.to_string(),
            token: var("HF_TOKEN"),
            progress: false,
        }
    }
}

/// The local path of `file` of the model repository `repo`: from the cache if it is there
/// (no network access at all), else downloaded into the cache first.
///
/// When the hub cannot be reached the error is [`Error::Download`], whose message says how to
/// provide the file by hand.
pub fn fetch(repo: &str, file: &str, options: &HubOptions) -> Result<PathBuf, Error> {
    if let Ok(path) = options.cache.resolve(repo, &options.revision, file) {
        return Ok(path);
    }
    let failed = |reason: String| Error::Download {
        repo: repo.to_string(),
        file: file.to_string(),
        endpoint: options.endpoint.clone(),
        cache_dir: options.cache.dir().to_path_buf(),
        reason,
    };
    let mut builder = ApiBuilder::from_cache(hf_hub::Cache::new(options.cache.dir().to_path_buf()))
        .with_endpoint(options.endpoint.clone())
        .with_progress(options.progress);
    if options.token.is_some() {
        builder = builder.with_token(options.token.clone());
    }
    let api = builder.build().map_err(|e| failed(e.to_string()))?;
    let hub_repo = Repo::with_revision(repo.to_string(), RepoType::Model, options.revision.clone());
    api.repo(hub_repo)
        .download(file)
        .map_err(|e| failed(e.to_string()))
}

/// [`fetch`] for a pretrained variant's weights file.
pub fn fetch_variant(variant: &Variant, options: &HubOptions) -> Result<PathBuf, Error> {
    fetch(variant.hub_repo, variant.file, options)
}
