//! A run's items as the user sees them: the data a run clustered, reopened from its
//! config.toml and checked against its clusters.csv, and each item's picture (the whole
//! photo, or its tile).

use std::path::Path;

use candle_core::Device;
use la_data::Pipeline;
use la_data::image::RgbImage;

use crate::data::RunData;
use crate::report::ClusterRow;
use crate::run_dir::RunDir;
use crate::{Error, Result};

/// The data of a run, for looking at its items.
#[derive(Debug, Clone)]
pub(crate) struct RunItems {
    data: RunData,
    pipeline: Pipeline,
}

impl RunItems {
    /// The items of `data`, the data set being clustered.
    pub(crate) fn of(data: &RunData) -> Result<Self> {
        Ok(RunItems {
            data: data.clone(),
            pipeline: data.eval_pipeline()?,
        })
    }

    /// Reopens the data of the run in `dir` (its config.toml says where they are) and checks
    /// that every row of `rows` (its clusters.csv) still names the same item.
    pub(crate) fn reopen(dir: &RunDir, rows: &[ClusterRow]) -> Result<Self> {
        let config = dir.config()?;
        let data = RunData::open(&config.data, &Device::Cpu).map_err(|e| Error::RunFile {
            path: dir.config_toml(),
            problem: format!("the run's data cannot be opened again: {e}"),
        })?;
        let dataset = data.dataset();
        for (r, row) in rows.iter().enumerate() {
            let now = dataset.name(row.item);
            if now.as_deref() != Some(row.path.as_str()) {
                return Err(Error::RunFile {
                    path: dir.clusters_csv(),
                    problem: format!(
                        "row {}: item {} was `{}` when clustered but is {} in the data now: the \
                         data changed since the run; restore it or cluster it again",
                        r + 2,
                        row.item,
                        row.path,
                        now.map_or("missing".into(), |n| format!("`{n}`"))
                    ),
                });
            }
        }
        Self::of(&data)
    }

    /// The picture of `item`: the decoded image at its own size (EXIF orientation applied),
    /// or, when the data set is cut into tiles, the item's tile as the network saw it.
    pub(crate) fn image(&self, item: usize) -> Result<RgbImage> {
        let dataset = self.data.dataset();
        Ok(match dataset.grid() {
            Some(_) => self.pipeline.load(dataset, item, 0)?,
            None => dataset.decode(item, self.pipeline.decoder())?,
        })
    }

    /// The file that is `item` itself: `None` for IDX records and for tiles (a part of a
    /// file).
    pub(crate) fn file(&self, item: usize) -> Option<&Path> {
        let dataset = self.data.dataset();
        match dataset.grid() {
            Some(_) => None,
            None => dataset.path(item),
        }
    }
}
