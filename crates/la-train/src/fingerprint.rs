//! What a run was trained on, so that `--resume` can refuse data that changed: the memory
//! bank and the checkpoints index items by position, and a deleted or added image would shift
//! every row after it.

use la_data::Dataset;
use serde::{Deserialize, Serialize};

/// The item count and a hash of every item's name and file size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    /// Items in the data set.
    pub items: usize,
    /// FNV-1a (64 bits, hex) of the names and sizes, in item order.
    pub hash: String,
}

impl DataFingerprint {
    /// The fingerprint of `dataset` (file sizes are read; a file gone counts as size 0).
    pub fn of(dataset: &Dataset) -> Self {
        let mut hash = Fnv::default();
        hash.write(dataset.source().as_bytes());
        for i in 0..dataset.len() {
            hash.write(dataset.name(i).unwrap_or_default().as_bytes());
            let size = dataset
                .path(i)
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
            hash.write(&size.to_le_bytes());
        }
        DataFingerprint {
            items: dataset.len(),
            hash: format!("{:016x}", hash.0),
        }
    }
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms, unlike std's hasher.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vector() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (Fowler, Noll, Vo test suite); `write` then
        // folds in its separator byte 0xff the same way.
        let mut h = Fnv::default();
        h.write(b"a");
        let expected = (0xaf63_dc4c_8601_ec8c_u64 ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
        assert_eq!(h.0, expected);
    }

    #[test]
    fn a_deleted_or_resized_image_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3 {
            la_data::image::RgbImage::new(16, 16)
                .save(dir.path().join(format!("{i}.png")))
                .unwrap();
        }
        let open = || la_data::FolderSource::new(dir.path()).build().unwrap();
        let before = DataFingerprint::of(&open());
        assert_eq!(before, DataFingerprint::of(&open()));
        la_data::image::RgbImage::new(17, 17)
            .save(dir.path().join("1.png"))
            .unwrap();
        let resized = DataFingerprint::of(&open());
        assert_eq!(resized.items, 3);
        assert_ne!(resized.hash, before.hash);
        std::fs::remove_file(dir.path().join("2.png")).unwrap();
        assert_eq!(DataFingerprint::of(&open()).items, 2);
    }
}
