//! Random streams derived from (seed, purpose, epoch, step), so that a run needs no saved RNG
//! state to resume exactly.
//!
//! rand 0.9's `StdRng` (ChaCha12) cannot export its position, only be built from a seed. So
//! instead of carrying one generator through the run (whose state a checkpoint would have to
//! hold), every consumer asks for the generator of its purpose at its position: the shuffle
//! of epoch 3 is `derive_rng(seed, RngStream::Shuffle, 3, 0)`, the augmentations of step 17
//! of epoch 3 are `derive_rng(seed, RngStream::Augment, 3, 17)`. Resuming at (epoch, step)
//! then reproduces exactly the draws the uninterrupted run made, and a checkpoint stores only
//! the seed and the counters. Streams are reproducible for a given rand version (rand does
//! not promise `StdRng`'s algorithm across versions).

use rand::SeedableRng;
use rand::rngs::StdRng;

/// What random numbers are for; each purpose has its own independent stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RngStream {
    /// The order of the items in an epoch.
    Shuffle,
    /// Data augmentation of a batch.
    Augment,
    /// Model initialisation.
    ModelInit,
    /// Memory-bank initialisation.
    BankInit,
    /// The k-means clusterings that define close neighbours.
    KMeans,
    /// Anything else, told apart by the number.
    Other(u32),
}

impl RngStream {
    /// A distinct number per stream.
    fn id(self) -> u64 {
        match self {
            RngStream::Shuffle => 1,
            RngStream::Augment => 2,
            RngStream::ModelInit => 3,
            RngStream::BankInit => 4,
            RngStream::KMeans => 5,
            RngStream::Other(n) => (1 << 32) | u64::from(n),
        }
    }
}

/// A 64-bit seed for (seed, stream, epoch, step), for APIs that take a `u64` seed (such as
/// la-cluster's k-means); distinct arguments give unrelated seeds.
///
/// ```
/// use la_train::{RngStream, derive_seed};
/// assert_eq!(derive_seed(7, RngStream::KMeans, 2, 0), derive_seed(7, RngStream::KMeans, 2, 0));
/// assert_ne!(derive_seed(7, RngStream::KMeans, 2, 0), derive_seed(7, RngStream::KMeans, 3, 0));
/// ```
pub fn derive_seed(seed: u64, stream: RngStream, epoch: u64, step: u64) -> u64 {
    [stream.id(), epoch, step]
        .into_iter()
        .fold(splitmix64(seed), |h, x| splitmix64(h ^ splitmix64(x)))
}

/// The generator of `stream` at (epoch, step) of the run seeded with `seed`: equal arguments
/// give equal streams, any difference an unrelated one.
///
/// ```
/// use rand::Rng;
/// use la_train::{RngStream, derive_rng};
/// let a: u64 = derive_rng(1, RngStream::Shuffle, 4, 0).random();
/// let b: u64 = derive_rng(1, RngStream::Shuffle, 4, 0).random();
/// assert_eq!(a, b);
/// ```
pub fn derive_rng(seed: u64, stream: RngStream, epoch: u64, step: u64) -> StdRng {
    let mut state = derive_seed(seed, stream, epoch, step);
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        state = splitmix64(state);
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    StdRng::from_seed(key)
}

/// SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mix.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn splitmix64_matches_the_published_sequence() {
        // The first outputs of SplitMix64 seeded with 0 (Vigna's reference splitmix64.c).
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn streams_depend_on_every_argument() {
        let first = |seed, stream, epoch, step| -> [u64; 4] {
            let mut rng = derive_rng(seed, stream, epoch, step);
            [rng.random(), rng.random(), rng.random(), rng.random()]
        };
        let base = first(1, RngStream::Shuffle, 2, 3);
        assert_eq!(base, first(1, RngStream::Shuffle, 2, 3));
        let others = [
            first(2, RngStream::Shuffle, 2, 3),
            first(1, RngStream::Augment, 2, 3),
            first(1, RngStream::Other(0), 2, 3),
            first(1, RngStream::Shuffle, 3, 3),
            first(1, RngStream::Shuffle, 2, 4),
            // Swapped epoch and step must not collide either.
            first(1, RngStream::Shuffle, 3, 2),
        ];
        for o in others {
            assert_ne!(o, base);
        }
    }
}
