//! The kinds of measurement the benchmarks print, one JSON object per line; fields the tables do
//! not use (thread counts, sizes) are ignored.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A kind of measurement a benchmark prints.
pub trait Measurement: DeserializeOwned + Clone {
    /// What names one measurement; lines of several rounds with equal keys are merged.
    type Key: PartialEq;

    /// The key of this measurement.
    fn key(&self) -> Self::Key;

    /// The figures, each replaced by its median over the rounds when merging.
    fn figures(&mut self) -> Vec<&mut Option<f64>>;
}

/// An op (or a training step) at one shape by one implementation, in milliseconds: the ops and
/// auto-encoder benchmarks, e.g. `{"op": "conv_fwd", "shape": "64->64@64", "impl": "la-ops",
/// "ms": 1.2}`.
#[derive(Debug, Clone, Deserialize)]
pub struct OpTiming {
    /// The op.
    pub op: String,
    /// The case, e.g. `64->64@64`.
    pub shape: String,
    /// The implementation: `la-ops`, `candle`, `la`, `pytorch`.
    #[serde(rename = "impl")]
    pub imp: String,
    /// The median time.
    pub ms: Option<f64>,
    /// The arithmetic of one run in GFLOP (convolutions, matrix products, the FMA peak loop).
    #[serde(default)]
    pub gflop: Option<f64>,
}

impl OpTiming {
    /// GFLOP/s, where the work is known.
    pub fn rate(&self) -> Option<f64> {
        match (self.gflop, self.ms) {
            (Some(g), Some(ms)) if ms > 0.0 => Some(g / ms * 1e3),
            _ => None,
        }
    }
}

impl Measurement for OpTiming {
    type Key = (String, String, String);

    fn key(&self) -> Self::Key {
        (self.op.clone(), self.shape.clone(), self.imp.clone())
    }

    fn figures(&mut self) -> Vec<&mut Option<f64>> {
        vec![&mut self.ms]
    }
}

/// The parts of one Local Aggregation step at `k` background neighbours, in milliseconds.
#[derive(Debug, Clone, Deserialize)]
pub struct LaStep {
    /// The implementation: `la-train` or `pytorch`.
    #[serde(rename = "impl")]
    pub imp: String,
    /// Background neighbours.
    pub k: u64,
    /// The neighbour search (product and selection).
    pub search_ms: Option<f64>,
    /// The product with the bank alone.
    pub product_alone_ms: Option<f64>,
    /// The close-neighbour mask.
    pub mask_ms: Option<f64>,
    /// The loss.
    pub loss_ms: Option<f64>,
    /// The backward pass.
    pub backward_ms: Option<f64>,
    /// The bank update.
    pub update_ms: Option<f64>,
    /// The whole step.
    pub step_ms: Option<f64>,
    /// The whole step's CPU time.
    pub step_cpu_ms: Option<f64>,
}

impl LaStep {
    /// The column titles of [`parts`](Self::parts).
    pub const PARTS: [&'static str; 8] = [
        "search ms",
        "product alone ms",
        "mask ms",
        "loss ms",
        "backward ms",
        "update ms",
        "step ms",
        "step cpu ms",
    ];

    /// Each part, in the order of the step (titles in [`PARTS`](Self::PARTS)).
    pub fn parts(&self) -> [Option<f64>; 8] {
        [
            self.search_ms,
            self.product_alone_ms,
            self.mask_ms,
            self.loss_ms,
            self.backward_ms,
            self.update_ms,
            self.step_ms,
            self.step_cpu_ms,
        ]
    }
}

impl Measurement for LaStep {
    type Key = (String, u64);

    fn key(&self) -> Self::Key {
        (self.imp.clone(), self.k)
    }

    fn figures(&mut self) -> Vec<&mut Option<f64>> {
        vec![
            &mut self.search_ms,
            &mut self.product_alone_ms,
            &mut self.mask_ms,
            &mut self.loss_ms,
            &mut self.backward_ms,
            &mut self.update_ms,
            &mut self.step_ms,
            &mut self.step_cpu_ms,
        ]
    }
}

/// Decoding throughput of one implementation on one set of files (the job's `files` tag).
#[derive(Debug, Clone, Deserialize)]
pub struct Decoding {
    /// The implementation: `la-data prepare`, `la-data loader`, `pillow`, `torchvision`.
    #[serde(rename = "impl")]
    pub imp: String,
    /// The files, e.g. `4:2:0`.
    pub files: String,
    /// Images per second of wall time.
    pub per_s: Option<f64>,
    /// Images per CPU-second.
    pub per_cpu_s: Option<f64>,
}

impl Measurement for Decoding {
    type Key = (String, String);

    fn key(&self) -> Self::Key {
        (self.files.clone(), self.imp.clone())
    }

    fn figures(&mut self) -> Vec<&mut Option<f64>> {
        vec![&mut self.per_s, &mut self.per_cpu_s]
    }
}

/// Which of la-cluster's benchmarks a [`ClusterRun`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bench {
    /// k-means on Fashion-MNIST.
    FashionKmeans,
    /// Building the kNN bank.
    KnnBank,
    /// The kNN search.
    KnnSearch,
    /// A kNN classifier's accuracy.
    Knn,
    /// Local Aggregation's clusterings.
    LaClusterings,
    /// Top-k.
    Topk,
}

/// One measurement of la-cluster's benchmark; which fields are set depends on `bench`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterRun {
    /// The benchmark.
    pub bench: Bench,
    /// The implementation: `la`, `la-ops`, `sklearn`, `torch`.
    #[serde(rename = "impl")]
    pub imp: String,
    /// k-means: the seed.
    pub seed: Option<u64>,
    /// LA clusterings: the setting, in words.
    pub setting: Option<String>,
    /// kNN: the classifier, in words.
    pub classifier: Option<String>,
    /// Top-k: rows, columns and k.
    pub rows: Option<u64>,
    /// Top-k: columns.
    pub cols: Option<u64>,
    /// Top-k, kNN search: k.
    pub k: Option<u64>,
    /// Wall seconds.
    pub s: Option<f64>,
    /// CPU seconds.
    pub cpu_s: Option<f64>,
    /// k-means: inertia.
    pub inertia: Option<f64>,
    /// k-means: clustering accuracy.
    pub acc: Option<f64>,
    /// k-means: NMI.
    pub nmi: Option<f64>,
    /// k-means: ARI.
    pub ari: Option<f64>,
    /// kNN: accuracy.
    pub accuracy: Option<f64>,
    /// Top-k: milliseconds.
    pub ms: Option<f64>,
    /// The iterations of each run: a list (LA clusterings) or one number (k-means, whose
    /// line names the best of its restarts).
    #[serde(default, deserialize_with = "one_or_many")]
    pub iterations: Option<Vec<u64>>,
}

/// A list of counts, or one count as a list of one.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<u64>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Counts {
        One(u64),
        Many(Vec<u64>),
    }
    Ok(Option::<Counts>::deserialize(d)?.map(|c| match c {
        Counts::One(n) => vec![n],
        Counts::Many(v) => v,
    }))
}

impl Measurement for ClusterRun {
    #[allow(clippy::type_complexity)]
    type Key = (
        Bench,
        String,
        Option<u64>,
        Option<String>,
        Option<String>,
        [Option<u64>; 3],
    );

    fn key(&self) -> Self::Key {
        (
            self.bench,
            self.imp.clone(),
            self.seed,
            self.setting.clone(),
            self.classifier.clone(),
            [self.rows, self.cols, self.k],
        )
    }

    fn figures(&mut self) -> Vec<&mut Option<f64>> {
        vec![
            &mut self.s,
            &mut self.cpu_s,
            &mut self.inertia,
            &mut self.acc,
            &mut self.nmi,
            &mut self.ari,
            &mut self.accuracy,
            &mut self.ms,
        ]
    }
}
