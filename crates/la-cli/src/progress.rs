//! The CLI's monitor: progress bars, nothing, or JSON lines; and Ctrl-C as a stop request.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use la_train::{Event, Monitor, Phase, Stage};

use crate::args::OutputMode;

/// Set by the first Ctrl-C; the trainers stop at the next step boundary.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Installs the Ctrl-C handler: the first press asks to stop, the second exits at once.
    pub fn install() -> anyhow::Result<Self> {
        let flag = StopFlag::default();
        let inner = flag.0.clone();
        ctrlc::set_handler(move || {
            if inner.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!("\nstopping at the next step boundary (Ctrl-C again to quit at once)");
        })?;
        Ok(flag)
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Shows a run's events in the chosen [`OutputMode`].
pub struct Progress {
    mode: OutputMode,
    stop: StopFlag,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A monitor in `mode` that stops when `stop` is set.
    pub fn new(mode: OutputMode, stop: StopFlag) -> Self {
        Progress {
            mode,
            stop,
            bar: None,
        }
    }

    fn start_bar(&mut self, len: Option<u64>, prefix: String, template: &str) {
        self.finish_bar();
        let bar = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(prefix);
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn bars(&mut self, event: &Event) {
        const EPOCH: &str = "{prefix} [{bar:30}] {pos}/{len} {msg} {per_sec} ETA {eta}";
        match event {
            Event::EpochStart {
                stage,
                epoch,
                epochs,
                steps,
            } => self.start_bar(
                Some(*steps as u64),
                format!("{} epoch {}/{epochs}", stage_name(*stage), epoch + 1),
                EPOCH,
            ),
            Event::Step {
                loss,
                lr,
                images_per_s,
                ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    bar.set_message(format!(
                        "loss {loss:.4} lr {lr:.2e} {images_per_s:.0} img/s"
                    ));
                }
            }
            Event::EpochEnd {
                stage,
                epoch,
                loss,
                images_per_s,
                seconds,
                ..
            } => {
                self.finish_bar();
                eprintln!(
                    "{} epoch {}: loss {loss:.4}, {images_per_s:.0} images/s, {seconds:.1} s",
                    stage_name(*stage),
                    epoch + 1
                );
            }
            Event::PhaseStart { phase, total } => self.start_bar(
                *total,
                phase_name(*phase).to_string(),
                if total.is_some() {
                    "{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}"
                } else {
                    "{prefix} {spinner} {elapsed}"
                },
            ),
            Event::PhaseProgress { done, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(*done);
                }
            }
            Event::PhaseEnd { .. } => self.finish_bar(),
            Event::Note { message } => self.line(&format!("note: {message}")),
            Event::Checkpoint { .. } => {}
        }
    }
}

impl Monitor for Progress {
    fn event(&mut self, event: &Event) {
        match self.mode {
            OutputMode::Quiet => {}
            OutputMode::Bars => self.bars(event),
            OutputMode::Json => {
                if let Ok(line) = serde_json::to_string(event) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }

    fn should_stop(&self) -> bool {
        self.stop.is_set()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish_bar();
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::AutoEncoder => "auto-encoder",
        Stage::Embedding => "embedding",
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Decoding => "decoding",
        Phase::Embedding => "embedding",
        Phase::Clustering => "clustering",
        Phase::Evaluation => "evaluation",
    }
}
