//! `cargo xtask fetch-weights`: runs la-vgg's `la-fetch-weights` binary, built with the `hub`
//! feature, so that the download code stays out of every other build.

use xshell::{Shell, cmd};

/// Builds and runs the downloader with the arguments after `fetch-weights`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(crate::project_root());
    cmd!(
        sh,
        "cargo run --quiet --release -p la-vgg --features hub --bin la-fetch-weights -- {args...}"
    )
    .run()?;
    Ok(())
}
