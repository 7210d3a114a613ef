//! In-memory cache of prepared (decoded, square-resized) 8-bit images, one slot per image.

use std::sync::OnceLock;

use image::RgbImage;

use crate::error::Result;

/// One write-once slot per image; readers never block each other. Two threads preparing the
/// same image at the same time both compute it and the first one stored wins (the results
/// are identical: preparation is deterministic).
#[derive(Debug)]
pub(crate) struct ImageCache {
    slots: Vec<OnceLock<RgbImage>>,
}

impl ImageCache {
    /// A cache for `n` images.
    pub fn new(n: usize) -> Self {
        ImageCache {
            slots: (0..n).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The cached image `i`, or `prepare()`'s result, stored for next time. Errors are not
    /// cached. An index past the end bypasses the cache.
    pub fn get_or_prepare(
        &self,
        i: usize,
        prepare: impl FnOnce() -> Result<RgbImage>,
    ) -> Result<RgbImage> {
        let Some(slot) = self.slots.get(i) else {
            return prepare();
        };
        if let Some(image) = slot.get() {
            return Ok(image.clone());
        }
        let image = prepare()?;
        Ok(slot.get_or_init(|| image).clone())
    }

    /// Number of images stored.
    #[cfg(test)]
    pub fn filled(&self) -> usize {
        self.slots.iter().filter(|s| s.get().is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn prepares_once_and_does_not_cache_errors() {
        let cache = ImageCache::new(2);
        let mut calls = 0;
        for _ in 0..3 {
            let image = cache
                .get_or_prepare(0, || {
                    calls += 1;
                    Ok(RgbImage::new(2, 2))
                })
                .unwrap();
            assert_eq!(image.dimensions(), (2, 2));
        }
        assert_eq!(calls, 1);
        let failing = || Err(Error::LoaderStopped);
        assert!(cache.get_or_prepare(1, failing).is_err());
        assert_eq!(cache.filled(), 1);
        assert!(cache.get_or_prepare(1, || Ok(RgbImage::new(1, 1))).is_ok());
        assert_eq!(cache.filled(), 2);
    }
}
