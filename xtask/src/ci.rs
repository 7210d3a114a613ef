//! `cargo xtask ci`: exactly what CI runs, by running `.ci/run` itself so the two cannot drift.

use xshell::{Shell, cmd};

/// Format check, clippy with warnings denied, unused dependencies (cargo-machete), the
/// workspace's tests, the offline hub tests and the CUDA checks (skipped with
/// `LA_SKIP_CUDA=1`), as `.ci/run` lists them.
pub struct Ci;

impl Ci {
    /// Runs `.ci/run`; its first failure stops the run.
    pub fn run(&self) -> anyhow::Result<()> {
        let sh = Shell::new()?;
        sh.change_dir(crate::project_root());
        cmd!(sh, "bash .ci/run").run()?;
        Ok(())
    }
}
