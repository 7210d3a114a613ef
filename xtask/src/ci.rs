//! `cargo xtask ci`: the checks CI runs, in the order that fails fastest.

use xshell::{Shell, cmd};

/// Format check, clippy with warnings denied, and the workspace's tests.
pub struct Ci;

impl Ci {
    /// Runs every check; the first failure stops the run.
    pub fn run(&self) -> anyhow::Result<()> {
        let sh = Shell::new()?;
        sh.change_dir(crate::project_root());
        cmd!(sh, "cargo fmt --all -- --check").run()?;
        cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run()?;
        cmd!(sh, "cargo test --workspace").run()?;
        Ok(())
    }
}
