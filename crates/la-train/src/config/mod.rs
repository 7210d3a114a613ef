//! The configuration of a whole run: data, model, both training stages and the evaluation.
//! Serialisable (the CLI reads and writes it as TOML); [`RunConfig::check`] validates every
//! field once, at the boundary.
//!
//! `Default` is the recipe measured with the quality harness (docs/quality.md): VGG11-bn at an
//! eighth of the width, no auto-encoder stage, 60 epochs of contrastive learning of two views
//! with augmentations chosen by the image side, then k-means on a UMAP layout.
//! [`RunConfig::paper`] is the faithful pipeline (full-width VGG16-bn, auto-encoder then
//! Local Aggregation, k-means).

mod data;
mod eval;
mod model;
mod stages;

use serde::{Deserialize, Serialize};

pub use data::{DataConfig, DataSource, GridSpec};
pub use eval::{ClusterCount, ClusterMethod, EvalConfig};
pub use model::{BackboneSpec, MergerSpec, ModelSpec, Precision, Weights};
pub use stages::{
    AeConfig, BankInit, EmbeddingConfig, LaConfig, ObjectiveKind, PAPER_IMAGES_PER_CLUSTER,
    Recluster,
};

use crate::Result;

/// Everything a run needs. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of every random choice (initial weights, shuffles, augmentations, k-means).
    /// By default, 0.
    pub seed: u64,
    /// The images.
    pub data: DataConfig,
    /// The network.
    pub model: ModelSpec,
    /// Stage 1, the auto-encoder.
    pub ae: AeConfig,
    /// Stage 2, the embedding.
    pub embedding: EmbeddingConfig,
    /// The final clustering and its evaluation.
    pub eval: EvalConfig,
}

impl RunConfig {
    /// Reads a configuration from the TOML file at `path` (as written in a run's
    /// config.toml); it is not checked yet.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::Error::io(path))?;
        toml::from_str(&text).map_err(|e| {
            // toml's display spans several lines; one line names the line and the problem.
            let line = e
                .span()
                .map_or(1, |r| text[..r.start].matches('\n').count() + 1);
            crate::Error::RunFile {
                path: path.to_path_buf(),
                problem: format!(
                    "line {line}: not a valid run configuration: {}",
                    e.message().lines().next().unwrap_or_default()
                ),
            }
        })
    }

    /// The faithful pipeline of the reference: full-width VGG16-bn, auto-encoder stage then
    /// 40 epochs of Local Aggregation, the paper's hyper-parameters and augmentations,
    /// k-means. Much slower on a CPU than the default recipe, and not better on the bundled
    /// sample (see docs/quality.md).
    pub fn paper() -> Self {
        RunConfig {
            model: ModelSpec {
                backbone: BackboneSpec::Vgg {
                    depth: la_vgg::Depth::Vgg16,
                    width_divisor: 1,
                },
                ..ModelSpec::default()
            },
            ae: AeConfig {
                enabled: true,
                ..AeConfig::default()
            },
            embedding: EmbeddingConfig {
                epochs: 40,
                objective: ObjectiveKind::LocalAggregation,
                ..EmbeddingConfig::default()
            },
            data: DataConfig {
                augment: Some(la_data::Augmentations::default()),
                ..DataConfig::default()
            },
            eval: EvalConfig {
                method: ClusterMethod::KMeans,
                ..EvalConfig::default()
            },
            ..RunConfig::default()
        }
    }

    /// Checks every section; the error names the first field out of range.
    pub fn check(&self) -> Result<()> {
        self.data.check()?;
        self.model.check()?;
        self.ae.check()?;
        self.embedding.check()?;
        self.eval.check()
    }
}

#[cfg(test)]
mod tests {
    use la_data::Augmentations;
    use la_vgg::Depth;

    use super::*;
    use crate::LrSchedule;

    type Mutation = fn(&mut RunConfig);

    /// One bad value per branch of every section's check, and the field its error names.
    const BAD: &[(&str, Mutation)] = &[
        ("data.side", |c| c.data.side = Some(48)),
        ("data.side", |c| c.data.side = Some(0)),
        ("data.grid.n", |c| {
            c.data.grid = Some(GridSpec { n: 0, tile: 64 })
        }),
        ("data.grid.tile", |c| {
            c.data.grid = Some(GridSpec { n: 2, tile: 40 })
        }),
        ("data.augment", |c| {
            c.data.augment = Some(Augmentations {
                crop_scale: (0.0, 1.0),
                ..Default::default()
            })
        }),
        ("data.augment", |c| {
            c.data.augment = Some(Augmentations {
                grayscale: 1.5,
                ..Default::default()
            })
        }),
        ("data.augment", |c| {
            c.data.augment = Some(Augmentations {
                jitter: [0.4, 0.4, 0.4, 0.7],
                ..Default::default()
            })
        }),
        ("model.backbone.width_divisor", |c| {
            set_vgg(c, Depth::Vgg16, 0)
        }),
        ("model.backbone.width_divisor", |c| {
            set_vgg(c, Depth::Vgg11, 3)
        }),
        ("model.weights", |c| c.model.weights = Weights::Imagenet),
        ("ae.epochs", |c| (c.ae.enabled, c.ae.epochs) = (true, 0)),
        ("ae.batch_size", |c| c.ae.batch_size = 0),
        ("ae.sgd.lr", |c| c.ae.sgd.lr = f64::NAN),
        ("ae.schedule.step_size", |c| {
            c.ae.schedule = LrSchedule::Step {
                step_size: 0,
                gamma: 0.5,
            }
        }),
        ("embedding.epochs", |c| c.embedding.epochs = 0),
        ("embedding.local_aggregation.warmup_epochs", |c| {
            c.embedding.local_aggregation.warmup_epochs = c.embedding.epochs + 1
        }),
        ("embedding.batch_size", |c| c.embedding.batch_size = 0),
        ("embedding.sgd.momentum", |c| {
            c.embedding.sgd.momentum = -0.9
        }),
        ("embedding.schedule.gamma", |c| {
            c.embedding.schedule = LrSchedule::Step {
                step_size: 1,
                gamma: 0.0,
            }
        }),
        ("embedding.local_aggregation.temperature", |c| {
            c.embedding.local_aggregation.temperature = 0.0
        }),
        ("embedding.local_aggregation.temperature", |c| {
            c.embedding.local_aggregation.temperature = f64::INFINITY
        }),
        ("embedding.local_aggregation.mixing", |c| {
            c.embedding.local_aggregation.mixing = 0.0
        }),
        ("embedding.local_aggregation.mixing", |c| {
            c.embedding.local_aggregation.mixing = 1.5
        }),
        ("embedding.local_aggregation.background", |c| {
            c.embedding.local_aggregation.background = 0
        }),
        ("embedding.local_aggregation.clusterings", |c| {
            c.embedding.local_aggregation.clusterings = 0
        }),
        ("embedding.local_aggregation.clusters", |c| {
            c.embedding.local_aggregation.clusters = Some(1)
        }),
        ("embedding.local_aggregation.recluster", |c| {
            c.embedding.local_aggregation.recluster = Recluster::Steps(0)
        }),
        ("embedding.contrastive.temperature", |c| {
            c.embedding.contrastive.temperature = -1.0
        }),
        ("eval.clusters", |c| {
            c.eval.clusters = Some(ClusterCount::Fixed(1))
        }),
        ("eval.method.dim", |c| {
            c.eval.method = ClusterMethod::Umap {
                dim: 0,
                neighbours: 15,
            }
        }),
        ("eval.method.neighbours", |c| {
            c.eval.method = ClusterMethod::Umap {
                dim: 2,
                neighbours: 1,
            }
        }),
        ("eval.n_runs", |c| c.eval.n_runs = 0),
        ("eval.duplicate_similarity", |c| {
            c.eval.duplicate_similarity = 1.5
        }),
        ("eval.knn_k", |c| c.eval.knn_k = 0),
        ("eval.sheet_images", |c| c.eval.sheet_images = 0),
        ("eval.knn_temperature", |c| c.eval.knn_temperature = -1.0),
    ];

    fn set_vgg(c: &mut RunConfig, depth: Depth, width_divisor: usize) {
        c.model.backbone = BackboneSpec::Vgg {
            depth,
            width_divisor,
        };
    }

    #[test]
    fn every_check_names_its_field() {
        RunConfig::default().check().unwrap();
        RunConfig::paper().check().unwrap();
        for (field, mutate) in BAD {
            let mut c = RunConfig::default();
            // Local Aggregation's settings are checked when it is the objective.
            if field.contains("local_aggregation") {
                c.embedding.objective = ObjectiveKind::LocalAggregation;
            }
            mutate(&mut c);
            match c.check() {
                Err(crate::Error::Config { field: f, .. }) => assert_eq!(f, *field),
                other => panic!("{field}: expected a configuration error, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_disabled_stage_may_have_zero_epochs_and_pretrained_weights_need_full_width() {
        let mut c = RunConfig::default();
        (c.ae.enabled, c.ae.epochs) = (false, 0);
        (c.embedding.enabled, c.embedding.epochs) = (false, 0);
        c.embedding.local_aggregation.warmup_epochs = 3;
        c.check().unwrap();
        let mut full = RunConfig::paper();
        full.model.weights = Weights::Path("w.safetensors".into());
        full.check().unwrap();
        set_vgg(&mut full, Depth::Vgg16, 2);
        let msg = full.check().unwrap_err().to_string();
        assert!(
            msg.contains("w.safetensors") && !msg.contains("Path("),
            "{msg}"
        );
    }

    #[test]
    fn toml_round_trip_with_depth_as_a_number() {
        let mut c = RunConfig::paper();
        c.data.augment = Some(Augmentations::none());
        set_vgg(&mut c, Depth::Vgg11, 2);
        let text = toml::to_string(&c).unwrap();
        assert!(
            text.contains("depth = 11") && text.contains("kind = \"vgg\""),
            "{text}"
        );
        assert_eq!(toml::from_str::<RunConfig>(&text).unwrap(), c);
        let bad = text.replace("depth = 11", "depth = 12");
        let err = toml::from_str::<RunConfig>(&bad).unwrap_err().to_string();
        assert!(err.contains("11, 13, 16 or 19"), "{err}");
    }

    #[test]
    fn precision_is_written_as_f32_or_bf16() {
        let mut c = RunConfig::default();
        assert!(toml::to_string(&c).unwrap().contains("precision = \"f32\""));
        c.model.precision = Precision::Bf16;
        let text = toml::to_string(&c).unwrap();
        assert!(text.contains("precision = \"bf16\""), "{text}");
        assert_eq!(toml::from_str::<RunConfig>(&text).unwrap(), c);
        let bad = text.replace("\"bf16\"", "\"fp8\"");
        let err = toml::from_str::<RunConfig>(&bad).unwrap_err().to_string();
        assert!(err.contains("fp8") && err.contains("bf16"), "{err}");
    }
}
