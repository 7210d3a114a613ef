//! The epoch loop shared by both stages: learning rate from the schedule, one step per batch,
//! events, stopping at a step boundary, and a resumable checkpoint after every epoch and on
//! stop. A loss that is not finite, or a checkpoint that would hold a value that is not, ends
//! the stage with [`Error::Diverged`] before anything more is saved.

use std::path::Path;
use std::time::Instant;

use la_data::{Batch, Loader};

use crate::monitor::{Event, Monitor, Stage};
use crate::{Checkpoint, Error, LrSchedule, Progress, Result, RunInfo};

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

/// The last step taken: where, its loss and its learning rate.
#[derive(Debug, Clone, Copy)]
struct LastStep {
    at: Position,
    loss: f64,
    lr: f64,
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
        let mut last = None;
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
                let step = LastStep { at, loss, lr };
                if !loss.is_finite() {
                    return Err(self.diverged(step, "the loss is no longer finite".into()));
                }
                last = Some(step);
                loss_sum += loss;
                images += batch.len();
                at.step_in_epoch += 1;
                at.global_step += 1;
                if monitor.should_stop() && at.step_in_epoch < steps {
                    self.save(task, at, last, monitor)?;
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
            self.save(task, at, last, monitor)?;
            if monitor.should_stop() && at.epoch < self.epochs {
                return Ok(Outcome::Stopped);
            }
        }
        Ok(Outcome::Finished)
    }

    /// Saves the checkpoint at `at`, unless a value in it is not finite (after `last`).
    fn save(
        &self,
        task: &dyn StageTask,
        at: Position,
        last: Option<LastStep>,
        monitor: &mut dyn Monitor,
    ) -> Result<()> {
        let run = RunInfo {
            epoch: at.epoch as u64,
            step_in_epoch: at.step_in_epoch as u64,
            global_step: at.global_step as u64,
            seed: self.seed,
            config: self.config.clone(),
        };
        let checkpoint = task.checkpoint(run)?;
        let bad = checkpoint.non_finite()?;
        if !bad.is_empty() {
            // A stage starts from finite values (a loaded checkpoint is checked), so a step
            // was taken; `at` stands in for it otherwise.
            let step = last.unwrap_or(LastStep {
                at,
                loss: f64::NAN,
                lr: self.base_lr,
            });
            let mut what = format!(
                "the checkpoint would hold non-finite values in {}",
                bad[..bad.len().min(3)].join(", ")
            );
            if bad.len() > 3 {
                what += &format!(" and {} more tensors", bad.len() - 3);
            }
            return Err(self.diverged(step, what));
        }
        std::fs::create_dir_all(self.checkpoint_dir).map_err(Error::io(self.checkpoint_dir))?;
        checkpoint.save(self.checkpoint_dir, self.checkpoint_name)?;
        let (path, _) = Checkpoint::paths(self.checkpoint_dir, self.checkpoint_name);
        monitor.event(&Event::Checkpoint { path });
        Ok(())
    }

    fn diverged(&self, last: LastStep, what: String) -> Error {
        Error::Diverged {
            stage: self.stage,
            epoch: last.at.epoch,
            step: last.at.step_in_epoch,
            loss: last.loss,
            lr: last.lr,
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    /// A task whose checkpoint holds the tensor as model variables `w0`, `w1`... (as many as
    /// asked), beside a finite optimiser state.
    struct Fixed(Tensor, usize);

    impl StageTask for Fixed {
        fn step(&mut self, _: &Batch, _: Position, _: f64, _: &mut dyn Monitor) -> Result<f64> {
            unreachable!("only saves are tested")
        }

        fn checkpoint(&self, run: RunInfo) -> Result<Checkpoint> {
            let mut c = Checkpoint::new(run);
            for i in 0..self.1 {
                c.model.insert(format!("w{i}"), self.0.clone());
                c.optimizer.insert(format!("w{i}"), self.0.ones_like()?);
            }
            Ok(c)
        }
    }

    #[test]
    fn a_checkpoint_with_non_finite_values_is_not_saved() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("checkpoints");
        let schedule = LrSchedule::Constant;
        let epochs = EpochLoop {
            stage: Stage::Embedding,
            epochs: 3,
            base_lr: 0.5,
            schedule: &schedule,
            seed: 0,
            config: serde_json::Value::Null,
            checkpoint_dir: &dir,
            checkpoint_name: "c",
        };
        let at = Position {
            epoch: 2,
            step_in_epoch: 0,
            global_step: 8,
        };
        let last = LastStep {
            at: Position {
                epoch: 1,
                step_in_epoch: 3,
                global_step: 7,
            },
            loss: 1.25,
            lr: 0.125,
        };
        let w = |v: &[f32]| Tensor::new(v, &Device::Cpu).unwrap();
        let bad = w(&[1., f32::INFINITY, f32::NAN, 0.]);
        match epochs.save(&Fixed(bad.clone(), 1), at, Some(last), &mut ()) {
            Err(Error::Diverged {
                stage: Stage::Embedding,
                epoch: 1,
                step: 3,
                loss,
                lr,
                what,
            }) => {
                assert_eq!((loss, lr), (1.25, 0.125));
                assert_eq!(
                    what,
                    "the checkpoint would hold non-finite values in model.w0 (1 NaN, 1 infinite)"
                );
            }
            other => panic!("expected a divergence, got {other:?}"),
        }
        assert!(!dir.exists(), "nothing saved");
        // Many tensors: the first three are named.
        let err = epochs.save(&Fixed(bad, 5), at, Some(last), &mut ());
        let msg = err.unwrap_err().to_string();
        assert!(
            msg.contains(
                "in model.w0 (1 NaN, 1 infinite), model.w1 (1 NaN, 1 infinite), \
                 model.w2 (1 NaN, 1 infinite) and 2 more tensors;"
            ),
            "{msg}"
        );
        assert!(!dir.exists(), "nothing saved");

        let good = Fixed(w(&[1., 2., -3., 0.]), 1);
        epochs.save(&good, at, Some(last), &mut ()).unwrap();
        let back = Checkpoint::load(&dir, "c", &Device::Cpu).unwrap();
        assert_eq!(back.run.global_step, 8);
        assert_eq!(
            back.model["w0"].to_vec1::<f32>().unwrap(),
            [1., 2., -3., 0.]
        );
    }
}
