//! What the CLI tests share: running `la`, and small labelled image folders.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::{Command, Output};

use la_data::image::{Rgb, RgbImage};

/// Settings that make a training run take a second or two: small images, 1/16 width, one
/// epoch.
pub const FAST: &[&str] = &[
    "--image-size",
    "32",
    "--width-divisor",
    "16",
    "--projection",
    "8",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "-q",
];

/// Runs `la ARGS` in `cwd`.
pub fn la_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_la"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// Runs `la ARGS` in the current directory.
pub fn la(args: &[&str]) -> Output {
    la_in(Path::new("."), args)
}

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `per_class` images of 32 x 32 in each of two labelled folders of `dir`: left-bright and
/// top-bright patterns.
pub fn write_images(dir: &Path, per_class: u32) {
    for (class, name) in ["left", "top"].iter().enumerate() {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..per_class {
            pattern(class, i)
                .save(folder.join(format!("{i}.png")))
                .unwrap();
        }
    }
}

/// Image `i` of class 0 (left half bright) or 1 (top half bright).
pub fn pattern(class: usize, i: u32) -> RgbImage {
    RgbImage::from_fn(32, 32, |x, y| {
        let on = if class == 0 { x < 16 } else { y < 16 };
        let v = if on { 210 } else { 30 } + ((x + 3 * y + 7 * i) % 19) as u8;
        Rgb([v, v, v])
    })
}
