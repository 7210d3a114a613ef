//! `cargo xtask fetch-data fashion-mnist [--dir PATH]`: locates (or installs) the full
//! Fashion-MNIST data set and checks it.
//!
//! The data come from Debian's `dataset-fashion-mnist` package, which puts the four gzipped IDX
//! files in `/usr/share/datasets/fashion-mnist`. Without `--dir`, that folder is used (the
//! package is installed with `apt-get` if it is missing); with `--dir PATH`, the files already
//! in PATH (gzipped or not) are checked and missing ones are copied there from the Debian
//! folder. Every file is verified by the sha256 of its decompressed bytes: Debian recompressed
//! the `.gz` files, so hashes of the compressed files (such as upstream's md5 sums) do not
//! match, while the decompressed bytes are what matters.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use xshell::{Shell, cmd};

/// Where Debian's package puts the files.
const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
const DEBIAN_PACKAGE: &str = "dataset-fashion-mnist";

/// The files of the data set: name (without `.gz`), sha256 of the decompressed bytes, size.
///
/// Computed once with `zcat /usr/share/datasets/fashion-mnist/NAME.gz | sha256sum` (and
/// `| wc -c`) from Debian's `dataset-fashion-mnist` 0.0~git20200523.55506a9-1, which packages
/// upstream commit 55506a9 of zalandoresearch/fashion-mnist.
const FILES: [(&str, &str, u64); 4] = [
    (
        "train-images-idx3-ubyte",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        47_040_016,
    ),
    (
        "train-labels-idx1-ubyte",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        60_008,
    ),
    (
        "t10k-images-idx3-ubyte",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        7_840_016,
    ),
    (
        "t10k-labels-idx1-ubyte",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        10_008,
    ),
];

const USAGE: &str = "usage: cargo xtask fetch-data fashion-mnist [--dir PATH]";

/// Parses the arguments after `fetch-data` and runs the task.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let (dataset, dir) = match args {
        [d] => (d.as_str(), None),
        [d, flag, path] if flag == "--dir" => (d.as_str(), Some(PathBuf::from(path))),
        _ => bail!("{USAGE}"),
    };
    if dataset != "fashion-mnist" {
        bail!("unknown data set `{dataset}`: only fashion-mnist is known\n{USAGE}");
    }
    let dir = fetch(dir.as_deref())?;
    println!(
        "Fashion-MNIST (60000 training + 10000 test images) verified in {}",
        dir.display()
    );
    println!(
        "use it with la_data::IdxSource::new(\"{}/train-images-idx3-ubyte.gz\")",
        dir.display()
    );
    Ok(())
}

/// Makes the four files present in `dir` (or the Debian folder) and verifies them.
pub fn fetch(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let debian = Path::new(DEBIAN_DIR);
    let target = dir.unwrap_or(debian);
    let missing: Vec<&str> = FILES
        .iter()
        .map(|f| f.0)
        .filter(|n| find(target, n).is_none())
        .collect();
    if !missing.is_empty() {
        if FILES.iter().any(|f| find(debian, f.0).is_none()) {
            install()?;
        }
        if target != debian {
            std::fs::create_dir_all(target)
                .with_context(|| format!("creating {}", target.display()))?;
            for name in &missing {
                let from = debian.join(format!("{name}.gz"));
                let to = target.join(format!("{name}.gz"));
                println!("copying {} -> {}", from.display(), to.display());
                std::fs::copy(&from, &to)
                    .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
            }
        }
    }
    for (name, sha, size) in FILES {
        let path = find(target, name)
            .with_context(|| format!("{name} is missing from {}", target.display()))?;
        verify(&path, sha, size)?;
        println!("ok  {}", path.display());
    }
    Ok(target.to_path_buf())
}

/// The file `name` in `dir`, gzipped (`name.gz`) or raw.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.gz"), name.to_string()]
        .into_iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// Installs the Debian package, as root or through sudo.
fn install() -> anyhow::Result<()> {
    let sh = Shell::new()?;
    if cmd!(sh, "which apt-get")
        .quiet()
        .ignore_stdout()
        .run()
        .is_err()
    {
        bail!(
            "{DEBIAN_DIR} is incomplete and apt-get is not available; download the four \
             files from https://github.com/zalandoresearch/fashion-mnist into a folder and pass \
             it with --dir"
        );
    }
    println!("installing Debian's {DEBIAN_PACKAGE} (about 30 MB)");
    let root = cmd!(sh, "id -u")
        .quiet()
        .read()
        .map(|u| u.trim() == "0")
        .unwrap_or(false);
    let result = if root {
        cmd!(sh, "apt-get install -y {DEBIAN_PACKAGE}").run()
    } else {
        cmd!(sh, "sudo apt-get install -y {DEBIAN_PACKAGE}").run()
    };
    result.with_context(|| {
        format!("installing {DEBIAN_PACKAGE}; try `sudo apt-get install {DEBIAN_PACKAGE}`")
    })
}

/// Checks the sha256 and size of the decompressed contents of `path`.
fn verify(path: &Path, sha: &str, size: u64) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let raw = decompress(&bytes).with_context(|| format!("decompressing {}", path.display()))?;
    let found = hex_sha256(&raw);
    if raw.len() as u64 != size || found != sha {
        bail!(
            "{}: decompressed contents have {} bytes and sha256 {found}, expected {size} bytes \
             and sha256 {sha}; delete the file and run the task again",
            path.display(),
            raw.len()
        );
    }
    Ok(())
}

/// The bytes, gunzipped if they start with the gzip signature.
fn decompress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn sha256_matches_the_standard_test_vector() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            hex_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn gzipped_and_raw_files_verify_alike_and_a_changed_byte_fails() {
        let dir = tempfile::tempdir().unwrap();
        let raw = b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x09".to_vec();
        let sha = hex_sha256(&raw);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&raw).unwrap();
        std::fs::write(dir.path().join("x.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join("x"), &raw).unwrap();
        verify(&dir.path().join("x.gz"), &sha, 10).unwrap();
        verify(&dir.path().join("x"), &sha, 10).unwrap();
        assert_eq!(
            find(dir.path(), "x"),
            Some(dir.path().join("x.gz")),
            ".gz first"
        );
        let mut bad = raw.clone();
        bad[9] ^= 1;
        std::fs::write(dir.path().join("x"), &bad).unwrap();
        let err = verify(&dir.path().join("x"), &sha, 10)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected 10 bytes") && err.contains(&sha),
            "{err}"
        );
    }

    #[test]
    fn arguments_are_checked() {
        assert!(run(&[]).is_err());
        assert!(run(&["mnist".into()]).is_err());
        assert!(run(&["fashion-mnist".into(), "--into".into(), "x".into()]).is_err());
    }
}
