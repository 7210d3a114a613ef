//! `la-fetch-weights`: download pretrained VGG-bn weights into the Hugging Face cache and check
//! that they load. Built only with the `hub` feature; `cargo xtask fetch-weights` runs it.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::{Context, bail};
use la_vgg::hub::{HubOptions, fetch};
use la_vgg::{Variant, load_weights};

/// The usage lines of this task.
const USAGE: &str =
    "fetch-weights [--variant vgg16_bn] [--repo ORG/NAME] [--file model.safetensors]
        download pretrained weights into the Hugging Face cache (HF_HOME, HF_HUB_CACHE,
        HF_ENDPOINT are honoured) and check that they fit the variant";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match FetchWeights::parse(&args).and_then(|task| task.run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Which weights to fetch.
#[derive(Debug, PartialEq)]
struct FetchWeights {
    variant: &'static Variant,
    repo: Option<String>,
    file: Option<String>,
}

impl FetchWeights {
    /// Parses the arguments after `fetch-weights`.
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut task = FetchWeights {
            variant: Variant::by_name("vgg16_bn")?,
            repo: None,
            file: None,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--variant" => task.variant = Variant::by_name(value()?)?,
                "--repo" => task.repo = Some(value()?.clone()),
                "--file" => task.file = Some(value()?.clone()),
                other => bail!(
                    "unknown argument `{other}` for fetch-weights\n\nusage: cargo xtask {USAGE}"
                ),
            }
        }
        Ok(task)
    }

    /// Downloads (or finds in the cache) the file, checks it against the variant, prints its path.
    fn run(&self) -> anyhow::Result<()> {
        let repo = self.repo.as_deref().unwrap_or(self.variant.hub_repo);
        let file = self.file.as_deref().unwrap_or(self.variant.file);
        let options = HubOptions {
            progress: true,
            ..HubOptions::from_env()
        };
        eprintln!(
            "fetching {file} of {repo} from {} into {}",
            options.endpoint,
            options.cache.dir().display()
        );
        let path = fetch(repo, file, &options)?;
        let config = self.variant.config();
        let weights =
            load_weights(&path, &config, &candle_core::Device::Cpu).with_context(|| {
                format!(
                    "{} was downloaded but does not fit {config}",
                    path.display()
                )
            })?;
        eprintln!(
            "ok: {} tensors of {config}; skipped {} classifier / counter tensors",
            weights.tensors().len(),
            weights.ignored().len()
        );
        for name in weights.unexpected() {
            eprintln!("warning: unexpected tensor {name} ignored");
        }
        println!("{}", path.display());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_variant_repo_and_file() {
        let task = FetchWeights::parse(&args(&[])).unwrap();
        assert_eq!(task.variant.hub_repo, "timm/vgg16_bn.tv_in1k");
        let task = FetchWeights::parse(&args(&[
            "--variant",
            "vgg11_bn",
            "--repo",
            "me/vgg",
            "--file",
            "w.safetensors",
        ]))
        .unwrap();
        assert_eq!(task.variant.name, "vgg11_bn");
        assert_eq!(task.repo.as_deref(), Some("me/vgg"));
        assert_eq!(task.file.as_deref(), Some("w.safetensors"));
        assert!(
            FetchWeights::parse(&args(&["--repo"]))
                .unwrap_err()
                .to_string()
                .contains("--repo needs a value")
        );
        assert!(FetchWeights::parse(&args(&["--variant", "vgg12"])).is_err());
        assert!(
            FetchWeights::parse(&args(&["--force"]))
                .unwrap_err()
                .to_string()
                .contains("--force")
        );
    }
}
