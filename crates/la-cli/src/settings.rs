//! From flags and files to validated library settings: flags override the config file, and
//! the result is checked once by `RunConfig::check`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use candle_core::Device;
use la_train::{
    BackboneSpec, DataConfig, DataSource, Depth, EmbeddingConfig, GridSpec, ObjectiveKind,
    Recluster, RunConfig, Weights,
};

use crate::args::{DataArgs, Method, Objective, PrecisionArg, Stages, TrainArgs};

/// The configuration of `la train`: the file (or the defaults), then every flag given.
pub fn train_config(args: &TrainArgs) -> anyhow::Result<RunConfig> {
    let mut c = match &args.config {
        Some(path) => RunConfig::read(path)?,
        None if args.paper => RunConfig::paper(),
        None => RunConfig::default(),
    };
    apply_data(&args.data, &mut c.data)?;
    set(&mut c.seed, args.seed);
    if let Some(w) = &args.weights {
        c.model.weights = parse_weights(w);
    }
    set_some(&mut c.eval.clusters, args.clusters);
    set(&mut c.eval.method, args.cluster_method.map(Method::setting));
    if let Some(stages) = args.stages {
        (c.ae.enabled, c.embedding.enabled) = (
            matches!(stages, Stages::Both | Stages::Ae),
            matches!(stages, Stages::Both | Stages::Embedding),
        );
    }
    let BackboneSpec::Vgg {
        depth,
        width_divisor,
    } = &mut c.model.backbone;
    if let Some(d) = args.depth {
        *depth = Depth::try_from(d)?;
    }
    set(width_divisor, args.width_divisor);
    set(&mut c.model.projection, args.projection);
    set(
        &mut c.model.precision,
        args.precision.map(PrecisionArg::setting),
    );
    set(&mut c.ae.epochs, args.ae_epochs);
    set(&mut c.ae.batch_size, args.ae_batch_size);
    set(&mut c.ae.sgd.lr, args.ae_lr);
    c.ae.freeze_encoder |= args.freeze_encoder;
    let e = &mut c.embedding;
    set(&mut e.epochs, args.epochs);
    set(&mut e.batch_size, args.batch_size);
    set(&mut e.sgd.lr, args.lr);
    set(&mut e.sgd.momentum, args.momentum);
    set(&mut e.sgd.weight_decay, args.weight_decay);
    if let Some(o) = args.objective {
        e.objective = match o {
            Objective::LocalAggregation => ObjectiveKind::LocalAggregation,
            Objective::Contrastive => ObjectiveKind::Contrastive,
        };
    }
    match e.objective {
        ObjectiveKind::LocalAggregation => {
            set(&mut e.local_aggregation.temperature, args.temperature)
        }
        ObjectiveKind::Contrastive => set(&mut e.contrastive.temperature, args.temperature),
    }
    apply_local_aggregation(args, e)?;
    // The augmentations are written out, chosen by rule unless the file gave them.
    let mut a = c.data.augmentations();
    a.enabled &= !args.no_augment;
    if let Some(min) = args.crop_scale_min {
        a.crop_scale.0 = min;
    }
    if let Some(s) = args.jitter {
        a.jitter = [s, s, s, (s / 4.0).min(0.5)];
    }
    c.data.augment = Some(a);
    c.data.cache &= !args.no_cache;
    c.check()?;
    Ok(c)
}

/// The flags of Local Aggregation's own settings; an error names the first one given when
/// another objective trains.
fn apply_local_aggregation(args: &TrainArgs, e: &mut EmbeddingConfig) -> anyhow::Result<()> {
    let given = [
        ("--mixing", args.mixing.is_some()),
        ("--background", args.background.is_some()),
        ("--clusterings", args.clusterings.is_some()),
        ("--la-clusters", args.la_clusters.is_some()),
        ("--recluster-steps", args.recluster_steps.is_some()),
        ("--warmup-epochs", args.warmup_epochs.is_some()),
    ];
    if e.objective != ObjectiveKind::LocalAggregation
        && let Some((flag, _)) = given.iter().find(|g| g.1)
    {
        bail!(
            "{flag} is a setting of Local Aggregation, but the objective is contrastive; \
             add --objective local-aggregation or leave {flag} out"
        );
    }
    let la = &mut e.local_aggregation;
    set(&mut la.mixing, args.mixing);
    set(&mut la.background, args.background);
    set(&mut la.clusterings, args.clusterings);
    set_some(&mut la.clusters, args.la_clusters);
    if let Some(n) = args.recluster_steps {
        la.recluster = Recluster::Steps(n);
    }
    set(&mut la.warmup_epochs, args.warmup_epochs);
    Ok(())
}

fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(v) = flag {
        *field = v;
    }
}

fn set_some<T>(field: &mut Option<T>, flag: Option<T>) {
    if flag.is_some() {
        *field = flag;
    }
}

/// `--weights`: `imagenet`, `none`, or a path.
pub fn parse_weights(s: &str) -> Weights {
    match s {
        "imagenet" => Weights::Imagenet,
        "none" => Weights::None,
        path => Weights::Path(PathBuf::from(path)),
    }
}

/// Applies the data flags: `--data` picks the kind of source by what the path is.
pub fn apply_data(args: &DataArgs, c: &mut DataConfig) -> anyhow::Result<()> {
    if let Some(path) = &args.data {
        c.source = source_of(path, args)?;
    }
    refuse_other_kinds_flags(args, &c.source)?;
    if args.image_size.is_some() {
        c.side = args.image_size;
    }
    if let Some(g) = &args.grid {
        c.grid = Some(parse_grid(g)?);
    }
    c.strict |= args.strict;
    Ok(())
}

/// A flag of another kind of data is an error naming it, rather than silently ignored.
fn refuse_other_kinds_flags(args: &DataArgs, source: &DataSource) -> anyhow::Result<()> {
    let (kind, applies): (&str, &[&str]) = match source {
        DataSource::Sample => ("the bundled sample", &[]),
        DataSource::Folder { .. } => ("a folder", &["--no-folder-labels"]),
        DataSource::Csv { .. } => ("a CSV file", &["--root", "--select", "--label-column"]),
        DataSource::Idx { .. } => ("IDX files", &["--idx-labels"]),
    };
    let given = [
        ("--root", args.root.is_some()),
        ("--select", !args.select.is_empty()),
        ("--label-column", args.label_column.is_some()),
        ("--idx-labels", args.idx_labels.is_some()),
        ("--no-folder-labels", args.no_folder_labels),
    ];
    match given
        .iter()
        .find(|(flag, set)| *set && !applies.contains(flag))
    {
        Some((flag, _)) => bail!(
            "{flag} does not apply to {kind}: it is for {}",
            match *flag {
                "--idx-labels" => "--data pointing at an IDX images file",
                "--no-folder-labels" => "--data pointing at a folder",
                _ => "--data pointing at a CSV file",
            }
        ),
        None => Ok(()),
    }
}

fn source_of(path: &Path, args: &DataArgs) -> anyhow::Result<DataSource> {
    if path.is_dir() {
        return Ok(DataSource::Folder {
            path: path.to_path_buf(),
            labels: !args.no_folder_labels,
        });
    }
    if !path.exists() {
        bail!("--data {}: no such file or folder", path.display());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.ends_with(".csv") {
        return Ok(DataSource::Csv {
            path: path.to_path_buf(),
            root: args.root.clone(),
            select: args.select.clone(),
            label_column: args.label_column.clone(),
        });
    }
    if name.ends_with(".gz") || name.contains("idx") || name.contains("ubyte") {
        return Ok(DataSource::Idx {
            images: path.to_path_buf(),
            labels: args.idx_labels.clone(),
        });
    }
    bail!(
        "--data {}: expected a folder of images, a .csv table of contents or an IDX file \
         (name ending in .gz or containing `idx` / `ubyte`)",
        path.display()
    )
}

/// `--grid NxTILE`, e.g. `6x64`.
pub fn parse_grid(s: &str) -> anyhow::Result<GridSpec> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(n, t)| Some((n.trim().parse().ok()?, t.trim().parse().ok()?)));
    match parsed {
        Some((n, tile)) => Ok(GridSpec { n, tile }),
        None => bail!("--grid {s}: expected N x TILE, e.g. 6x64"),
    }
}

/// `--device`.
pub fn parse_device(s: &str) -> anyhow::Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" if cfg!(feature = "cuda") => {
            Device::new_cuda(0).context("cannot open CUDA device 0")
        }
        "metal" if cfg!(feature = "metal") => {
            Device::new_metal(0).context("cannot open Metal device 0")
        }
        "cuda" | "metal" => bail!(
            "--device {s}: this build has no {s} support; rebuild with `cargo build --release -p la-cli --features {s}`"
        ),
        other => bail!("--device {other}: expected cpu, cuda or metal"),
    }
}

/// `runs/<YYYYMMDD-HHMMSS><suffix>` in UTC.
pub fn default_run_dir(suffix: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    PathBuf::from("runs").join(format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}{suffix}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    ))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        // 2026-11-29 is 20,786 days after the epoch.
        assert_eq!(civil_from_days(20_786), (2026, 11, 29));
    }

    #[test]
    fn grids_weights_and_devices_parse() {
        assert_eq!(parse_grid("6x64").unwrap(), GridSpec { n: 6, tile: 64 });
        assert!(parse_grid("6-64").unwrap_err().to_string().contains("6-64"));
        assert_eq!(parse_weights("imagenet"), Weights::Imagenet);
        assert_eq!(
            parse_weights("w.safetensors"),
            Weights::Path("w.safetensors".into())
        );
        assert!(parse_device("cpu").is_ok());
        assert!(parse_device("tpu").unwrap_err().to_string().contains("tpu"));
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.toml");
        let text = "seed = 5\n[embedding]\nepochs = 3\n[embedding.local_aggregation]\n\
                    temperature = 0.1\n";
        std::fs::write(&file, text).unwrap();
        let args = TrainArgs {
            config: Some(file),
            epochs: Some(7),
            stages: Some(Stages::Embedding),
            ..Default::default()
        };
        let c = train_config(&args).unwrap();
        let la = &c.embedding.local_aggregation;
        assert_eq!((c.seed, c.embedding.epochs, la.temperature), (5, 7, 0.1));
        assert!(!c.ae.enabled && c.embedding.enabled);
    }

    #[test]
    fn the_temperature_goes_to_the_objective_and_la_flags_need_la() {
        let args = TrainArgs {
            objective: Some(Objective::Contrastive),
            temperature: Some(0.3),
            ..Default::default()
        };
        let c = train_config(&args).unwrap();
        assert_eq!(c.embedding.objective, ObjectiveKind::Contrastive);
        assert_eq!(c.embedding.contrastive.temperature, 0.3);
        assert_eq!(c.embedding.local_aggregation.temperature, 0.07);
        let args = TrainArgs {
            objective: Some(Objective::Contrastive),
            mixing: Some(0.3),
            ..Default::default()
        };
        let err = train_config(&args).unwrap_err().to_string();
        assert!(
            err.contains("--mixing") && err.contains("local-aggregation"),
            "{err}"
        );
    }

    #[test]
    fn bad_settings_name_the_field() {
        let args = TrainArgs {
            temperature: Some(-1.0),
            ..Default::default()
        };
        assert!(
            train_config(&args)
                .unwrap_err()
                .to_string()
                .contains("embedding.contrastive.temperature")
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.toml");
        std::fs::write(&file, "[embedding]\nepoch = 3\n").unwrap();
        let args = TrainArgs {
            config: Some(file),
            ..Default::default()
        };
        let err = format!("{:#}", train_config(&args).unwrap_err());
        assert!(err.contains("run.toml") && err.contains("epoch"), "{err}");
    }

    #[test]
    fn flags_of_another_kind_of_data_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("photos.csv");
        std::fs::write(&csv, "path\na.jpg\n").unwrap();
        let folder = Some(dir.path().to_path_buf());
        let cases = [
            (
                folder.clone(),
                "--select",
                DataArgs {
                    select: vec!["a=b".into()],
                    ..Default::default()
                },
            ),
            (
                folder.clone(),
                "--idx-labels",
                DataArgs {
                    idx_labels: Some("l.gz".into()),
                    ..Default::default()
                },
            ),
            (
                Some(csv.clone()),
                "--no-folder-labels",
                DataArgs {
                    no_folder_labels: true,
                    ..Default::default()
                },
            ),
            (
                None,
                "--root",
                DataArgs {
                    root: Some("r".into()),
                    ..Default::default()
                },
            ),
        ];
        for (data, flag, mut args) in cases {
            args.data = data;
            let err = apply_data(&args, &mut DataConfig::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(flag) && err.contains("does not apply"),
                "{err}"
            );
        }
        let ok = DataArgs {
            data: Some(csv),
            label_column: Some("Genus".into()),
            ..Default::default()
        };
        apply_data(&ok, &mut DataConfig::default()).unwrap();
    }
}
