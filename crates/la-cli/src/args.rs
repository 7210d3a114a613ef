//! The command line, as clap parses it (raw values); the commands turn it into validated
//! library configuration.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Deep image clustering: a VGG16-bn SegNet auto-encoder whose encoder is then trained with
/// Local Aggregation, then k-means. Every run writes a directory of results.
#[derive(Debug, Parser)]
#[command(name = "la", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// On error, print every cause, one per line.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// How progress is shown: bars on the terminal, nothing but the result, or one JSON
    /// object per event on stdout (for scripts).
    #[arg(long, global = true, value_enum, default_value_t = OutputMode::Bars)]
    pub progress: OutputMode,
    /// Same as `--progress quiet`.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Progress output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// Progress bars with rate and ETA on stderr.
    Bars,
    /// Only the final result.
    Quiet,
    /// JSON lines of every event on stdout.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train (auto-encoder, then Local Aggregation), cluster and report, in a new run
    /// directory; on the bundled Fashion-MNIST sample unless --data says otherwise.
    Train(Box<TrainArgs>),
    /// Embed a data set with a trained model and cluster it.
    Cluster(ClusterArgs),
    /// Scores (ACC, NMI, ARI, purity) of a run whose data has labels.
    Eval(EvalArgs),
    /// Reconstructions of images by a trained auto-encoder, as one PNG.
    Reconstruct(ReconstructArgs),
    /// Describe a run directory, a weights file, or the default model.
    Info(InfoArgs),
    /// Make the HTML report of a run (or cluster) directory again, RUN/report/index.html.
    Report(ReportArgs),
    /// Copy or link the original photos into one folder per cluster.
    Export(ExportArgs),
}

/// Where the images come from.
#[derive(Debug, Clone, Default, Args)]
pub struct DataArgs {
    /// Images: a folder (searched recursively; first-level sub-folders are labels), a CSV table
    /// of contents, or an IDX images file (.gz or raw). By default, the bundled sample of
    /// 2,000 labelled Fashion-MNIST images.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// CSV: the folder image paths are relative to (by default, the CSV's folder).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// CSV: keep rows whose COLUMN is one of the values, e.g. Family=Amanitaceae,Boletaceae
    /// (repeat for several columns).
    #[arg(long, value_name = "COLUMN=V1,V2")]
    pub select: Vec<String>,
    /// CSV: the column holding the labels, e.g. Genus.
    #[arg(long, value_name = "COLUMN")]
    pub label_column: Option<String>,
    /// IDX: the labels file.
    #[arg(long, value_name = "PATH")]
    pub idx_labels: Option<PathBuf>,
    /// Folder: do not take sub-folder names as labels.
    #[arg(long)]
    pub no_folder_labels: bool,
    /// Side of the square images given to the network, a multiple of 32 (by default 32 for
    /// IDX data and the sample, 224 for photos).
    #[arg(long, value_name = "PIXELS")]
    pub image_size: Option<u32>,
    /// Cut each image into N x N overlapping tiles of TILE pixels, each tile an item.
    #[arg(long, value_name = "NxTILE")]
    pub grid: Option<String>,
    /// Stop at the first unreadable image instead of skipping it.
    #[arg(long)]
    pub strict: bool,
}

/// `la train`.
#[derive(Debug, Default, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// A TOML file of settings (the format of a run's config.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Start from the faithful pipeline of the paper (full-width VGG16-bn, auto-encoder then
    /// Local Aggregation, k-means) instead of the default recipe; flags still apply.
    #[arg(long, conflicts_with = "config")]
    pub paper: bool,
    /// The run directory to create (by default runs/DATE-TIME).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the stopped run in DIR with its own config.toml.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "out"])]
    pub resume: Option<PathBuf>,
    /// cpu, cuda or metal (the GPU ones need a build with that feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Encoder start: imagenet (Hugging Face cache, see `cargo xtask fetch-weights`), none,
    /// or the path of a VGG-bn safetensors file.
    #[arg(long, value_name = "imagenet|none|PATH")]
    pub weights: Option<String>,
    /// Seed of every random choice.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Clusters of the final clustering, or `auto` to choose K by silhouette (by default,
    /// the number of classes for labelled data, else auto).
    #[arg(long, value_name = "K|auto")]
    pub clusters: Option<la_train::ClusterCount>,
    /// How the final clusters are found: k-means on the embeddings, or on their UMAP layout
    /// (the default).
    #[arg(long, value_enum, value_name = "METHOD")]
    pub cluster_method: Option<Method>,
    /// Which stages run.
    #[arg(long, value_enum)]
    pub stages: Option<Stages>,
    /// VGG depth with batch norm: 11 (the default), 13, 16 or 19.
    #[arg(long)]
    pub depth: Option<u32>,
    /// Divide every layer's width (1 = the paper's network; by default 8).
    #[arg(long, value_name = "N")]
    pub width_divisor: Option<usize>,
    /// How the convolutions multiply: f32 (the default), or bf16 products summed in f32 where
    /// the CPU has AVX512-BF16 (faster; f32 on other CPUs).
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
    /// Size of the embedding's linear projection, 0 for none.
    #[arg(long, value_name = "D")]
    pub projection: Option<usize>,
    /// Auto-encoder epochs.
    #[arg(long, value_name = "N")]
    pub ae_epochs: Option<usize>,
    /// Auto-encoder images per step.
    #[arg(long, value_name = "N")]
    pub ae_batch_size: Option<usize>,
    /// Auto-encoder learning rate.
    #[arg(long, value_name = "LR")]
    pub ae_lr: Option<f64>,
    /// Train only the decoder in stage 1.
    #[arg(long)]
    pub freeze_encoder: bool,
    /// Embedding-stage epochs (by default 60).
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Embedding-stage images per step.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Embedding-stage learning rate.
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    /// SGD momentum of stage 2.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Weight decay of stage 2 (convolution and linear weights only).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// What trains the embedding in stage 2 (by default, contrastive).
    #[arg(long, value_enum)]
    pub objective: Option<Objective>,
    /// Temperature tau of the objective's loss.
    #[arg(long, value_name = "TAU")]
    pub temperature: Option<f64>,
    /// Weight m of a new embedding in its memory-bank row.
    #[arg(long, value_name = "M")]
    pub mixing: Option<f64>,
    /// Background neighbours k (capped at N - 1).
    #[arg(long, value_name = "K")]
    pub background: Option<usize>,
    /// k-means clusterings H behind the close neighbours.
    #[arg(long, value_name = "H")]
    pub clusterings: Option<usize>,
    /// Clusters of each of those clusterings (by default about 128 images per cluster).
    #[arg(long, value_name = "K")]
    pub la_clusters: Option<usize>,
    /// Re-cluster every N steps instead of every epoch (1 = the reference code).
    #[arg(long, value_name = "N")]
    pub recluster_steps: Option<usize>,
    /// Instance-recognition warm-up epochs before the Local Aggregation loss.
    #[arg(long, value_name = "N")]
    pub warmup_epochs: Option<usize>,
    /// Train stage 2 without augmentations.
    #[arg(long)]
    pub no_augment: bool,
    /// Smallest area fraction of the random resized crop (0 to 1]; by default
    /// max(0.2, (20 / side)^2), 0.39 at 32 pixels.
    #[arg(long, value_name = "FRACTION")]
    pub crop_scale_min: Option<f32>,
    /// Strength S of the colour jitter: brightness, contrast and saturation S, hue S / 4
    /// (SimCLR's proportions; by default 0.8).
    #[arg(long, value_name = "S")]
    pub jitter: Option<f32>,
    /// Do not keep decoded images in memory.
    #[arg(long)]
    pub no_cache: bool,
}

/// How the final clusters are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// k-means on the embeddings.
    Kmeans,
    /// k-means on a 10-dimensional UMAP layout of the embeddings (15 neighbours).
    Umap,
}

impl Method {
    /// The library's setting.
    pub fn setting(self) -> la_train::ClusterMethod {
        match self {
            Method::Kmeans => la_train::ClusterMethod::KMeans,
            Method::Umap => la_train::ClusterMethod::UMAP,
        }
    }
}

/// What trains the embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Objective {
    /// Local Aggregation (the paper's): memory bank and k-means close neighbours.
    LocalAggregation,
    /// Contrastive learning of two augmented views of each image.
    Contrastive,
}

/// How the convolutions multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// f32 products.
    F32,
    /// bf16 products summed in f32, where the CPU has AVX512-BF16.
    Bf16,
}

impl PrecisionArg {
    /// The library's setting.
    pub fn setting(self) -> la_train::Precision {
        match self {
            PrecisionArg::F32 => la_train::Precision::F32,
            PrecisionArg::Bf16 => la_train::Precision::Bf16,
        }
    }
}

/// Which stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stages {
    /// Auto-encoder, then the embedding stage.
    Both,
    /// The auto-encoder only.
    Ae,
    /// The embedding stage only (from the initial or pretrained encoder).
    #[value(alias = "la")]
    Embedding,
    /// No training: embed with the initial (random, or pretrained with --weights) encoder and
    /// cluster, to measure what training adds or to cluster with ImageNet features.
    None,
}

/// `la cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// A run directory, or its embedder.safetensors / autoencoder.safetensors.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Clusters of the k-means (by default, the model run's setting).
    #[arg(long, value_name = "K")]
    pub clusters: Option<la_train::ClusterCount>,
    /// How the clusters are found (by default, the model run's setting).
    #[arg(long, value_enum, value_name = "METHOD")]
    pub cluster_method: Option<Method>,
    /// A new (or empty) directory for clusters.csv, contact sheets and eval.json (by default
    /// runs/DATE-TIME-cluster).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// cpu, cuda or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// `la eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A run (or cluster) directory with a clusters.csv whose items have labels.
    pub dir: PathBuf,
}

/// `la reconstruct`.
#[derive(Debug, Args)]
pub struct ReconstructArgs {
    /// A run directory, or its autoencoder.safetensors.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// Images to reconstruct (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// The PNG to write, a new file: originals above their reconstructions.
    #[arg(long, default_value = "reconstructions.png")]
    pub out: PathBuf,
    /// cpu, cuda or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// `la info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A run directory or a safetensors file; without it, the default model.
    pub path: Option<PathBuf>,
}

/// `la report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A finished run (or cluster) directory; its data are read again from where its
    /// config.toml says.
    pub dir: PathBuf,
}

/// `la export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A finished run (or cluster) directory.
    pub dir: PathBuf,
    /// The folder to fill, new or empty: DIR/cluster_NNN/ for each cluster.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Symbolic links to the original photos (the default; copies where the system has no
    /// links).
    #[arg(long, conflicts_with = "copy")]
    pub link: bool,
    /// Copies of the original photos instead of links.
    #[arg(long)]
    pub copy: bool,
    /// Also DIR/outliers/: the items farthest from their cluster's centre (the report's
    /// outliers page), most unusual first.
    #[arg(long)]
    pub outliers: bool,
}
