//! The epoch loop shared by both stages: learning rate from the schedule, one step per batch,
//! events, stopping at a step boundary, and a resumable checkpoint after every epoch and on
//! stop.

use std::path::Path;
use std::time::Instant;

use la_data::{Batch, Loader};

use crate::monitor::{Event, Monitor, Stage};
use crate::{Checkpoint, LrSchedule, Progress, Result, RunInfo};

/// Where a stage stands: the next step to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// The epoch of the next step, from 0.
    pub epoch: usize,
    /// The next step within that epoch, from 0.
    pub step_in_epoch: usize,
    /// Steps taken since the stage began.
    pub global_step: usize,
}

impl Position {
    /// The position a checkpoint was saved at.
    pub fn of(run: &RunInfo) -> Self {
        Position {
            epoch: run.epoch as usize,
            step_in_epoch: run.step_in_epoch as usize,
            global_step: run.global_step as usize,
        }
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every epoch ran.
    Finished,
    /// The monitor asked to stop; a checkpoint holds the position to resume from.
    Stopped,
}

/// One stage's work per batch, at the loop's request.
pub(crate) trait StageTask {
    /// Called before the first step of every epoch that runs (also a resumed one).
    fn epoch_start(&mut self, _at: Position, _monitor: &mut dyn Monitor) -> Result<()> {
        Ok(())
    }

    /// Forward, loss, backward and optimiser step at learning rate `lr`; returns the loss.
    fn step(
        &mut self,
        batch: &Batch,
        at: Position,
        lr: f64,
        monitor: &mut dyn Monitor,
    ) -> Result<f64>;

    /// Called after the last step of every epoch.
    fn epoch_end(&mut self, _epoch: usize) -> Result<()> {
        Ok(())
    }

    /// Everything needed to resume at `run`.
    fn checkpoint(&self, run: RunInfo) -> Result<Checkpoint>;
}

/// The fixed parts of a stage's loop.
pub(crate) struct EpochLoop<'a> {
    pub stage: Stage,
    pub epochs: usize,
    pub base_lr: f64,
    pub schedule: &'a LrSchedule,
    pub seed: u64,
    pub config: serde_json::Value,
    pub checkpoint_dir: &'a Path,
    pub checkpoint_name: &'a str,
}

impl EpochLoop<'_> {
    /// Runs the epochs from `start` to the end, or until the monitor asks to stop.
    pub fn run(
        &self,
        task: &mut dyn StageTask,
        loader: &Loader,
        start: Position,
        monitor: &mut dyn Monitor,
    ) -> Result<Outcome> {
        let steps = loader.num_batches();
        let mut at = start;
        while at.epoch < self.epochs {
            let epoch_clock = Instant::now();
            monitor.event(&Event::EpochStart {
                stage: self.stage,
                epoch: at.epoch,
                epochs: self.epochs,
                steps,
            });
            task.epoch_start(at, monitor)?;
            let (mut loss_sum, mut images, mut lr) = (0.0, 0usize, self.base_lr);
            let skip = at.step_in_epoch;
            for batch in loader.epoch(at.epoch as u64).skip(skip) {
                let batch = batch?;
                let clock = Instant::now();
                lr = self.schedule.lr(
                    self.base_lr,
                    Progress {
                        epoch: at.epoch,
                        step_in_epoch: at.step_in_epoch,
                        steps_per_epoch: steps,
                    },
                );
                let loss = task.step(&batch, at, lr, monitor)?;
                monitor.event(&Event::Step {
                    stage: self.stage,
                    epoch: at.epoch,
                    step: at.step_in_epoch,
                    global_step: at.global_step,
                    loss,
                    lr,
                    images_per_s: batch.len() as f64 / clock.elapsed().as_secs_f64(),
                });
                loss_sum += loss;
                images += batch.len();
                at.step_in_epoch += 1;
                at.global_step += 1;
                if monitor.should_stop() && at.step_in_epoch < steps {
                    self.save(task, at, monitor)?;
                    return Ok(Outcome::Stopped);
                }
            }
            task.epoch_end(at.epoch)?;
            let seconds = epoch_clock.elapsed().as_secs_f64();
            monitor.event(&Event::EpochEnd {
                stage: self.stage,
                epoch: at.epoch,
                loss: loss_sum / (at.step_in_epoch - skip).max(1) as f64,
                lr,
                images_per_s: images as f64 / seconds,
                seconds,
            });
            at = Position {
                epoch: at.epoch + 1,
                step_in_epoch: 0,
                ..at
            };
            self.save(task, at, monitor)?;
            if monitor.should_stop() && at.epoch < self.epochs {
                return Ok(Outcome::Stopped);
            }
        }
        Ok(Outcome::Finished)
    }

    fn save(&self, task: &dyn StageTask, at: Position, monitor: &mut dyn Monitor) -> Result<()> {
        let run = RunInfo {
            epoch: at.epoch as u64,
            step_in_epoch: at.step_in_epoch as u64,
            global_step: at.global_step as u64,
            seed: self.seed,
            config: self.config.clone(),
        };
        std::fs::create_dir_all(self.checkpoint_dir)
            .map_err(crate::Error::io(self.checkpoint_dir))?;
        task.checkpoint(run)?
            .save(self.checkpoint_dir, self.checkpoint_name)?;
        let (path, _) = Checkpoint::paths(self.checkpoint_dir, self.checkpoint_name);
        monitor.event(&Event::Checkpoint { path });
        Ok(())
    }
}
