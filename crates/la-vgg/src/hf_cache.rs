//! Where a hub file lives in the standard Hugging Face cache, without any network access.
//!
//! The layout is the one `huggingface_hub` (Python) and `hf-hub` (Rust) write:
//!
//! ```text
//! {cache}/models--{org}--{name}/refs/main             the commit hash of `main`
//! {cache}/models--{org}--{name}/snapshots/{hash}/{file}
//! ```
//!
//! where `{cache}` is `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub` (the order of
//! `huggingface_hub`'s `constants.py`).

use std::path::{Path, PathBuf};

use crate::Error;

/// The revision resolved when none is given.
pub const DEFAULT_REVISION: &str = "main";

/// The snapshot folder name the error messages suggest for files placed by hand.
const MANUAL_SNAPSHOT: &str = "manual";

/// A Hugging Face hub cache directory.
///
/// [`HfCache::from_env`] finds it as `huggingface_hub` does: `$HF_HUB_CACHE`, else
/// `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
/// else `~/.cache/huggingface/hub`. A file of a model repository lives at
/// `models--{org}--{name}/snapshots/{commit}/{file}`, the commit of branch `main` being the
/// content of `models--{org}--{name}/refs/main`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfCache {
    dir: PathBuf,
}

impl HfCache {
    /// The cache at `dir` (the folder holding the `models--*` folders).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        HfCache { dir: dir.into() }
    }

    /// The cache the environment names (see [`HfCache`] for the order).
    pub fn from_env() -> Self {
        HfCache::from_lookup(|key| std::env::var_os(key).map(PathBuf::from))
    }

    /// The cache that the variables given by `lookup` name; `from_env` with `std::env`.
    /// Empty values count as unset. Pure, so that tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<PathBuf>) -> Self {
        let var = |key: &str| lookup(key).filter(|v| !v.as_os_str().is_empty());
        let dir = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .or_else(|| var("HF_HOME").map(|home| home.join("hub")))
            .or_else(|| var("XDG_CACHE_HOME").map(|xdg| xdg.join("huggingface").join("hub")))
            .unwrap_or_else(|| {
                let home = var("HOME")
                    .or_else(|| var("USERPROFILE"))
                    .unwrap_or_default();
                home.join(".cache").join("huggingface").join("hub")
            });
        HfCache { dir }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of a model repository: `models--{org}--{name}`.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.dir
            .join(format!("models--{}", repo.replace('/', "--")))
    }

    /// The path of `file` of `repo` at `revision` (a branch or tag name, resolved through
    /// `refs/{revision}`, or a 40-hex commit hash), if it is in the cache.
    ///
    /// The error says which step failed and where to put the file by hand.
    pub fn resolve(&self, repo: &str, revision: &str, file: &str) -> Result<PathBuf, Error> {
        let miss = |reason: String| Error::NotInCache {
            repo: repo.to_string(),
            file: file.to_string(),
            cache_dir: self.dir.clone(),
            reason,
        };
        let repo_dir = self.repo_dir(repo);
        if !repo_dir.is_dir() {
            return Err(miss(format!("{} does not exist", repo_dir.display())));
        }
        let commit = if is_commit_hash(revision) {
            revision.to_string()
        } else {
            let ref_path = repo_dir.join("refs").join(revision);
            let text = std::fs::read_to_string(&ref_path)
                .map_err(|e| miss(format!("cannot read {}: {e}", ref_path.display())))?;
            let commit = text.trim().to_string();
            if commit.is_empty() || commit.contains(['/', '\\']) || commit == ".." {
                return Err(miss(format!("{} holds no commit hash", ref_path.display())));
            }
            commit
        };
        let path = repo_dir.join("snapshots").join(commit).join(file);
        if path.is_file() {
            Ok(path)
        } else {
            Err(miss(format!("{} does not exist", path.display())))
        }
    }
}

fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How to provide a file by hand, appended to every cache and download error.
fn how_to_provide(repo: &str, file: &str, cache_dir: &Path) -> String {
    let cache = HfCache::new(cache_dir);
    let repo_dir = cache.repo_dir(repo);
    let target = repo_dir.join("snapshots").join(MANUAL_SNAPSHOT).join(file);
    let refs = repo_dir.join("refs").join(DEFAULT_REVISION);
    format!(
        "To provide the file, do one of:\n  \
         - pass its path directly (la-cli: --weights PATH);\n  \
         - copy it to {} and write `{MANUAL_SNAPSHOT}` into {};\n  \
         - run `cargo xtask fetch-weights` on a machine with internet access and copy its \
         folder {} to the same place here (HF_HUB_CACHE or HF_HOME choose another cache).",
        target.display(),
        refs.display(),
        repo_dir.display(),
    )
}

/// The message of [`Error::NotInCache`].
pub(crate) fn describe_miss(repo: &str, file: &str, cache_dir: &Path, reason: &str) -> String {
    format!(
        "{file} of {repo} is not in the Hugging Face cache {}: {reason}.\n{}",
        cache_dir.display(),
        how_to_provide(repo, file, cache_dir)
    )
}

/// The message of [`Error::Download`].
pub(crate) fn describe_download_failure(
    repo: &str,
    file: &str,
    endpoint: &str,
    cache_dir: &Path,
    reason: &str,
) -> String {
    format!(
        "cannot download {file} of {repo} from {endpoint} into {}: {reason}.\n\
         The Hugging Face hub may be unreachable from this machine (HF_ENDPOINT sets another endpoint).\n{}",
        cache_dir.display(),
        how_to_provide(repo, file, cache_dir)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_for(vars: &[(&str, &str)]) -> PathBuf {
        let vars: Vec<(String, PathBuf)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
            .collect();
        let cache =
            HfCache::from_lookup(|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()));
        cache.dir().to_path_buf()
    }

    #[test]
    fn cache_dir_follows_huggingface_hub_precedence() {
        let all = [
            ("HF_HUB_CACHE", "/a"),
            ("HUGGINGFACE_HUB_CACHE", "/b"),
            ("HF_HOME", "/c"),
            ("XDG_CACHE_HOME", "/d"),
            ("HOME", "/e"),
        ];
        assert_eq!(cache_for(&all), PathBuf::from("/a"));
        assert_eq!(cache_for(&all[1..]), PathBuf::from("/b"));
        assert_eq!(cache_for(&all[2..]), PathBuf::from("/c/hub"));
        assert_eq!(cache_for(&all[3..]), PathBuf::from("/d/huggingface/hub"));
        assert_eq!(
            cache_for(&all[4..]),
            PathBuf::from("/e/.cache/huggingface/hub")
        );
        // An empty variable counts as unset.
        assert_eq!(
            cache_for(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/c")]),
            PathBuf::from("/c/hub")
        );
    }

    #[test]
    fn repo_folder_name_replaces_slashes() {
        let cache = HfCache::new("/cache");
        assert_eq!(
            cache.repo_dir("timm/vgg16_bn.tv_in1k"),
            PathBuf::from("/cache/models--timm--vgg16_bn.tv_in1k")
        );
    }

    #[test]
    fn commit_hashes_are_40_hex_digits() {
        assert!(is_commit_hash(&"a1".repeat(20)));
        assert!(!is_commit_hash("main"));
        assert!(!is_commit_hash(&"g1".repeat(20)));
    }
}
