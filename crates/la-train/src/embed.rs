//! One pass over every item: embeddings (or any per-image vector) in item order.

use std::time::Instant;

use candle_core::{DType, Tensor};

use crate::data::RunData;
use crate::monitor::{Event, Monitor, Phase};
use crate::{MemoryBank, Result};

/// Vectors of the readable items of a data set, in item order.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The item of each row (all items, unless some could not be read).
    pub items: Vec<usize>,
    /// One row per entry of `items`.
    pub vectors: Tensor,
    /// Items in the data set.
    pub n_items: usize,
    /// The images that could not be read, whose items have no row.
    pub skipped: Vec<la_data::Skipped>,
}

impl Embedded {
    /// One row per item of the data set: the embedded rows where there are, `fallback`'s rows
    /// for items that could not be read.
    pub fn rows_for_all(&self, fallback: &MemoryBank) -> Result<Tensor> {
        if self.items.len() == self.n_items {
            return Ok(self.vectors.clone());
        }
        let dim = self.vectors.dim(1)?;
        let mut rows: Vec<f32> = fallback
            .tensor()
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1()?;
        let ours: Vec<f32> = self
            .vectors
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1()?;
        for (r, &item) in self.items.iter().enumerate() {
            rows[item * dim..(item + 1) * dim].copy_from_slice(&ours[r * dim..(r + 1) * dim]);
        }
        Ok(Tensor::from_vec(
            rows,
            (self.n_items, dim),
            self.vectors.device(),
        )?)
    }
}

/// Applies `f` (images -> one row per image) to every item once, in order, without
/// augmentation, in batches of `batch_size`, reporting an [`Phase::Embedding`] phase.
pub fn embed_all<E: Into<crate::Error>>(
    f: impl Fn(&Tensor) -> std::result::Result<Tensor, E>,
    data: &RunData,
    batch_size: usize,
    monitor: &mut dyn Monitor,
) -> Result<Embedded> {
    let clock = Instant::now();
    monitor.event(&Event::PhaseStart {
        phase: Phase::Embedding,
        total: Some(data.len() as u64),
    });
    let mut items = Vec::with_capacity(data.len());
    // Every batch is written in place into one tensor of a row per item: collecting the
    // batches and concatenating them held the vectors twice (2.4 GB for 2,000 raw 224-pixel
    // images).
    let mut all: Option<Tensor> = None;
    let loader = data.eval_loader(batch_size)?;
    for batch in loader.epoch(0) {
        let batch = batch?;
        let part = f(&batch.images).map_err(Into::into)?.detach();
        let all = match &mut all {
            Some(all) => all,
            None => {
                let row = part.dims().get(1..).unwrap_or_default().to_vec();
                let shape: Vec<usize> = std::iter::once(data.len()).chain(row).collect();
                all.insert(Tensor::zeros(shape, part.dtype(), part.device())?)
            }
        };
        all.slice_set(&part, 0, items.len())?;
        items.extend_from_slice(&batch.indices);
        monitor.event(&Event::PhaseProgress {
            phase: Phase::Embedding,
            done: items.len() as u64,
        });
    }
    monitor.event(&Event::PhaseEnd {
        phase: Phase::Embedding,
        seconds: clock.elapsed().as_secs_f64(),
    });
    let Some(all) = all.filter(|_| !items.is_empty()) else {
        return Err(crate::Error::config(
            "data",
            "no readable item",
            "at least one image",
        ));
    };
    Ok(Embedded {
        vectors: all.narrow(0, 0, items.len())?,
        items,
        n_items: data.len(),
        skipped: loader.skipped(),
    })
}
