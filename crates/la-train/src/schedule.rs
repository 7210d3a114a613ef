//! Learning-rate schedules as pure functions of the training position.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where training is: the epoch (from 0), the step within it (from 0) and the steps per
/// epoch (at least 1; 0 is read as 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The epoch, counted from 0.
    pub epoch: usize,
    /// The optimiser step within the epoch, counted from 0.
    pub step_in_epoch: usize,
    /// How many steps an epoch has.
    pub steps_per_epoch: usize,
}

impl Progress {
    /// The start of `epoch` (for schedules that change once per epoch).
    pub fn epoch(epoch: usize) -> Self {
        Self {
            epoch,
            step_in_epoch: 0,
            steps_per_epoch: 1,
        }
    }

    /// The number of steps taken before this one: `epoch * steps_per_epoch + step_in_epoch`.
    pub fn global_step(&self) -> usize {
        self.epoch * self.steps_per_epoch.max(1) + self.step_in_epoch
    }
}

/// How the learning rate changes during training; `lr(base_lr, progress)` gives its value.
///
/// In configuration files the variant is the `kind` field:
/// `{"kind": "multi_step", "milestones": [160, 190], "gamma": 0.1}`.
///
/// ```
/// use la_train::{LrSchedule, Progress};
/// let s = LrSchedule::Step { step_size: 10, gamma: 0.5 };
/// assert_eq!(s.lr(0.4, Progress::epoch(9)), 0.4);
/// assert_eq!(s.lr(0.4, Progress::epoch(10)), 0.2);
/// assert_eq!(s.lr(0.4, Progress::epoch(25)), 0.1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The base learning rate throughout. The default.
    #[default]
    Constant,
    /// `torch.optim.lr_scheduler.StepLR`, the seed implementation's schedule:
    /// `base * gamma^floor(epoch / step_size)`.
    Step {
        /// Epochs between decays (>= 1).
        step_size: usize,
        /// The factor of each decay (> 0).
        gamma: f64,
    },
    /// `torch.optim.lr_scheduler.MultiStepLR`, the paper's schedule:
    /// `base * gamma^(number of milestones <= epoch)`. The Local Aggregation reference code
    /// (`adjust_learning_rate` in `src/utils/utils.py` of LocalAggregation-Pytorch) counts
    /// milestones `< epoch` instead, i.e. decays one epoch later: to reproduce its
    /// `[160, 190]`, use `[161, 191]`.
    MultiStep {
        /// Epochs at which the rate is multiplied by `gamma`, strictly increasing.
        milestones: Vec<usize>,
        /// The factor of each decay (> 0).
        gamma: f64,
    },
    /// Linear warm-up, then a half cosine down to `min_lr`, evaluated per step. With `W` and
    /// `T` the warm-up and total lengths in steps and `s` the global step:
    /// `base * (s + 1) / W` while `s < W`, then
    /// `min_lr + (base - min_lr) * (1 + cos(pi * min(1, (s - W) / (T - W)))) / 2`.
    WarmupCosine {
        /// Epochs of linear warm-up (may be 0).
        warmup_epochs: usize,
        /// Total epochs (> `warmup_epochs`); after them the rate stays at `min_lr`.
        total_epochs: usize,
        /// The final learning rate (>= 0).
        min_lr: f64,
    },
}

impl LrSchedule {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        let positive = |field, g: f64| {
            if g.is_finite() && g > 0.0 {
                Ok(())
            } else {
                Err(Error::config(field, g, "a finite number > 0"))
            }
        };
        match self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { step_size, gamma } => {
                if *step_size == 0 {
                    return Err(Error::config("schedule.step_size", 0, "at least 1"));
                }
                positive("schedule.gamma", *gamma)
            }
            LrSchedule::MultiStep { milestones, gamma } => {
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(Error::config(
                        "schedule.milestones",
                        format!("{milestones:?}"),
                        "strictly increasing epochs",
                    ));
                }
                positive("schedule.gamma", *gamma)
            }
            LrSchedule::WarmupCosine {
                warmup_epochs,
                total_epochs,
                min_lr,
            } => {
                if total_epochs <= warmup_epochs {
                    return Err(Error::config(
                        "schedule.total_epochs",
                        total_epochs,
                        &format!("more than warmup_epochs ({warmup_epochs})"),
                    ));
                }
                if !(min_lr.is_finite() && *min_lr >= 0.0) {
                    return Err(Error::config(
                        "schedule.min_lr",
                        min_lr,
                        "a finite number >= 0",
                    ));
                }
                Ok(())
            }
        }
    }

    /// The learning rate at `at` for the base rate `base_lr`.
    pub fn lr(&self, base_lr: f64, at: Progress) -> f64 {
        match self {
            LrSchedule::Constant => base_lr,
            LrSchedule::Step { step_size, gamma } => {
                base_lr * gamma.powi(exponent(at.epoch / (*step_size).max(1)))
            }
            LrSchedule::MultiStep { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| m <= at.epoch).count();
                base_lr * gamma.powi(exponent(passed))
            }
            LrSchedule::WarmupCosine {
                warmup_epochs,
                total_epochs,
                min_lr,
            } => {
                let per_epoch = at.steps_per_epoch.max(1) as f64;
                let s = at.global_step() as f64;
                let warmup = *warmup_epochs as f64 * per_epoch;
                let total = *total_epochs as f64 * per_epoch;
                if s < warmup {
                    return base_lr * (s + 1.0) / warmup;
                }
                let p = ((s - warmup) / (total - warmup).max(1.0)).min(1.0);
                min_lr + (base_lr - min_lr) * (1.0 + (std::f64::consts::PI * p).cos()) / 2.0
            }
        }
    }
}

/// A decay count as a `powi` exponent (saturating; a count that large gives 0 anyway).
fn exponent(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
