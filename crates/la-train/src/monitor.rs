//! How trainers report what they do: a [`Monitor`] receives [`Event`]s (a callback, as
//! ripgrep's `Sink`) and can ask the work to stop at the next step boundary. Library code
//! never prints; front ends draw progress bars, [`MetricsLog`] writes JSON lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Error, Result};

/// The two training stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Stage 1: the auto-encoder learns to reconstruct its input.
    AutoEncoder,
    /// Stage 2: the embedding learns by its objective (Local Aggregation or contrastive).
    Embedding,
}

/// A long piece of work other than a training epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Decoding and caching the images once.
    Decoding,
    /// Encoding every item (the memory bank, the final embeddings).
    Embedding,
    /// The k-means clusterings behind the close neighbours.
    Clustering,
    /// The final k-means, metrics and reports.
    Evaluation,
}

/// What a trainer reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A phase begins; `total` counts its units (images, clusterings), if known.
    PhaseStart {
        /// Which phase.
        phase: Phase,
        /// Units of work, if known.
        total: Option<u64>,
    },
    /// `done` units of the current phase are finished.
    PhaseProgress {
        /// Which phase.
        phase: Phase,
        /// Units finished so far.
        done: u64,
    },
    /// The phase is over.
    PhaseEnd {
        /// Which phase.
        phase: Phase,
        /// Its duration in seconds.
        seconds: f64,
    },
    /// An epoch begins.
    EpochStart {
        /// Which stage.
        stage: Stage,
        /// Epoch number, from 0.
        epoch: usize,
        /// Total epochs of the stage.
        epochs: usize,
        /// Optimiser steps in the epoch.
        steps: usize,
    },
    /// One optimiser step is done.
    Step {
        /// Which stage.
        stage: Stage,
        /// Epoch number, from 0.
        epoch: usize,
        /// Step within the epoch, from 0.
        step: usize,
        /// Steps since the stage began.
        global_step: usize,
        /// The batch's loss.
        loss: f64,
        /// The learning rate used.
        lr: f64,
        /// Images of this step per second of its wall time.
        images_per_s: f64,
    },
    /// An epoch is over.
    EpochEnd {
        /// Which stage.
        stage: Stage,
        /// Epoch number, from 0.
        epoch: usize,
        /// Mean loss over the epoch's steps.
        loss: f64,
        /// The learning rate of the epoch's last step.
        lr: f64,
        /// Images of the epoch per second.
        images_per_s: f64,
        /// Wall time of the epoch in seconds.
        seconds: f64,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// The safetensors file.
        path: PathBuf,
    },
    /// Something the user should know that does not stop the run (skipped images, capped
    /// hyper-parameters, ..).
    Note {
        /// The message, one line.
        message: String,
    },
}

/// Receives the events of a run.
pub trait Monitor {
    /// Called for every event, in order.
    fn event(&mut self, event: &Event);

    /// Polled after every step: `true` stops the work at that step boundary, after a
    /// resumable checkpoint. By default, never.
    fn should_stop(&self) -> bool {
        false
    }
}

/// A monitor that ignores everything.
impl Monitor for () {
    fn event(&mut self, _: &Event) {}
}

/// Both monitors, in order; stops when either asks.
impl<A: Monitor, B: Monitor> Monitor for (A, B) {
    fn event(&mut self, event: &Event) {
        self.0.event(event);
        self.1.event(event);
    }

    fn should_stop(&self) -> bool {
        self.0.should_stop() || self.1.should_stop()
    }
}

impl<M: Monitor + ?Sized> Monitor for &mut M {
    fn event(&mut self, event: &Event) {
        (**self).event(event);
    }

    fn should_stop(&self) -> bool {
        (**self).should_stop()
    }
}

/// Appends step and epoch events to a JSON-lines file (`metrics.jsonl` of a run), flushed
/// after each epoch. A failed write is kept and returned by [`MetricsLog::finish`], so that
/// training is not interrupted by a full disk in the middle of an epoch.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    error: Option<std::io::Error>,
}

impl MetricsLog {
    /// Opens `path` for appending (a resumed run continues its log).
    pub fn append(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(Error::io(path))?;
        Ok(MetricsLog {
            path: path.to_path_buf(),
            out: std::io::BufWriter::new(file),
            error: None,
        })
    }

    /// Flushes the file; fails with the first write error, if any.
    pub fn finish(mut self) -> Result<()> {
        let flushed = self.out.flush();
        self.error
            .take()
            .map_or(flushed, Err)
            .map_err(Error::io(self.path))
    }
}

impl Monitor for MetricsLog {
    fn event(&mut self, event: &Event) {
        if self.error.is_some() || !matches!(event, Event::Step { .. } | Event::EpochEnd { .. }) {
            return;
        }
        let line = serde_json::to_string(event).map_err(std::io::Error::other);
        let written = line.and_then(|l| writeln!(self.out, "{l}"));
        let flushed = match (written, event) {
            (Ok(()), Event::EpochEnd { .. }) => self.out.flush(),
            (r, _) => r,
        };
        self.error = flushed.err();
    }
}
