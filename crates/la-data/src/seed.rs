//! Seeds derived from one run seed by named streams, so that every random draw can be
//! reproduced from (seed, stream, epoch, step) and a resumed run needs no saved RNG state.
//!
//! rand 0.9's `StdRng` (ChaCha12) cannot export its position, only be built from a seed. So
//! instead of carrying one generator through a run (whose state a checkpoint would have to
//! hold), every consumer builds the generator of its purpose at its position: the clusterings
//! at step 17 of epoch 3 are seeded with `derive_seed(seed, RngStream::KMeans, 3, 17)`, and a
//! loader derives its shuffles and augmentations from its own seed in the same way
//! ([`LoaderStream`]). The numbers behind the names are fixed: changing one changes every
//! result of a seed.

/// What random numbers are for in a training run; each purpose has its own independent stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RngStream {
    /// A training loader: its shuffles and augmentations (the loader derives them further).
    Shuffle,
    /// Model initialisation.
    ModelInit,
    /// Memory-bank initialisation.
    BankInit,
    /// The k-means clusterings that define close neighbours.
    KMeans,
    /// The final k-means clustering of the evaluation.
    Evaluation,
}

impl RngStream {
    /// A distinct number per stream.
    fn id(self) -> u64 {
        match self {
            RngStream::Shuffle => 1,
            RngStream::ModelInit => 3,
            RngStream::BankInit => 4,
            RngStream::KMeans => 5,
            // The number this stream had as the first "other" stream, kept for equal results.
            RngStream::Evaluation => (1 << 32) | 1,
        }
    }
}

/// A 64-bit seed for (seed, stream, epoch, step), for APIs that take a `u64` seed (such as
/// la-cluster's k-means or a loader's seed); equal arguments give equal seeds, any difference
/// an unrelated one.
///
/// ```
/// use la_data::{RngStream, derive_seed};
/// assert_eq!(derive_seed(7, RngStream::KMeans, 2, 0), derive_seed(7, RngStream::KMeans, 2, 0));
/// assert_ne!(derive_seed(7, RngStream::KMeans, 2, 0), derive_seed(7, RngStream::KMeans, 3, 0));
/// ```
pub fn derive_seed(seed: u64, stream: RngStream, epoch: u64, step: u64) -> u64 {
    [stream.id(), epoch, step]
        .into_iter()
        .fold(splitmix64(seed), |h, x| splitmix64(h ^ splitmix64(x)))
}

/// A loader's streams below its own seed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoaderStream {
    /// The order of the items in an epoch.
    Order,
    /// The augmentations of one view of one item (by index) in an epoch.
    Item(usize, usize),
}

/// Told apart from the item streams by this salt (the bytes of "SHUFFLE!").
const ORDER_SALT: u64 = u64::from_be_bytes(*b"SHUFFLE!");

impl LoaderStream {
    /// The seed of this stream in `epoch` of a loader seeded with `seed`.
    pub(crate) fn seed(self, seed: u64, epoch: u64) -> u64 {
        match self {
            LoaderStream::Order => splitmix64(splitmix64(seed ^ ORDER_SALT) ^ epoch),
            LoaderStream::Item(item, view) => {
                let first = splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ item as u64);
                // The first view keeps the seed of a loader without views.
                match view {
                    0 => first,
                    v => splitmix64(first ^ v as u64),
                }
            }
        }
    }
}

/// SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mix, so distinct
/// inputs give distinct outputs.
fn splitmix64(x: u64) -> u64 {
    let z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_published_sequence() {
        // The first outputs of SplitMix64 seeded with 0 (Vigna's reference splitmix64.c).
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn the_numbers_behind_the_names_are_kept() {
        // Values of earlier releases: a change here changes every result of a seed.
        assert_eq!(ORDER_SALT, 0x5348_5546_464c_4521);
        assert_eq!(RngStream::Evaluation.id(), 0x1_0000_0001);
        let ids = [
            RngStream::Shuffle,
            RngStream::ModelInit,
            RngStream::BankInit,
            RngStream::KMeans,
        ]
        .map(RngStream::id);
        assert_eq!(ids, [1, 3, 4, 5]);
    }

    #[test]
    fn seeds_depend_on_every_argument() {
        let base = derive_seed(1, RngStream::Shuffle, 2, 3);
        assert_eq!(base, derive_seed(1, RngStream::Shuffle, 2, 3));
        let others = [
            derive_seed(2, RngStream::Shuffle, 2, 3),
            derive_seed(1, RngStream::KMeans, 2, 3),
            derive_seed(1, RngStream::Evaluation, 2, 3),
            derive_seed(1, RngStream::Shuffle, 3, 3),
            derive_seed(1, RngStream::Shuffle, 2, 4),
            // Swapped epoch and step must not collide either.
            derive_seed(1, RngStream::Shuffle, 3, 2),
        ];
        assert!(others.iter().all(|&o| o != base));
        let loader = [
            LoaderStream::Order.seed(1, 2),
            LoaderStream::Order.seed(1, 3),
            LoaderStream::Item(0, 0).seed(1, 2),
            LoaderStream::Item(1, 0).seed(1, 2),
            LoaderStream::Item(0, 0).seed(1, 3),
            LoaderStream::Item(0, 1).seed(1, 2),
            LoaderStream::Item(1, 1).seed(1, 2),
        ];
        for (i, a) in loader.iter().enumerate() {
            assert!(loader[i + 1..].iter().all(|b| a != b), "{loader:?}");
        }
    }
}
