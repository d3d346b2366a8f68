//! Typed events of a training run, and the stop signal the front ends send back.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::runs::EpochSummary;

/// What happened, in order. The CLI prints these; the console draws them.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    /// The run folder exists and the data is split.
    Started {
        /// Run id.
        run_id: String,
        /// Run folder.
        run_dir: PathBuf,
        /// Device in use.
        device: String,
        /// Base classes kept.
        classes: Vec<String>,
        /// Train / validation / test images.
        split_sizes: [usize; 3],
        /// Steps per epoch.
        steps_per_epoch: usize,
        /// First epoch to run (> 1 when resuming).
        first_epoch: usize,
        /// Last epoch.
        epochs: usize,
    },
    /// A slow phase that is not a hang (first step: cache build, kernel compilation).
    WarmingUp {
        /// What is happening.
        what: String,
    },
    /// One optimisation step done.
    Step {
        /// Epoch (1-based).
        epoch: usize,
        /// Step in the epoch (1-based).
        step: usize,
        /// Steps in the epoch.
        steps: usize,
        /// Total loss.
        loss: f64,
        /// Classification part.
        metric_loss: f64,
        /// Consistency part.
        consistency_loss: f64,
        /// Batch accuracy (plain scores).
        accuracy: f64,
        /// Images per second of this step.
        images_per_sec: f64,
        /// Seconds this step took.
        seconds: f64,
    },
    /// Validation running after an epoch.
    Validating {
        /// Epoch.
        epoch: usize,
    },
    /// Epoch summary (after validation).
    Epoch(EpochSummary),
    /// A checkpoint was written completely.
    Checkpoint {
        /// Epoch.
        epoch: usize,
        /// Its folder.
        path: PathBuf,
    },
    /// Something the user should see; the run goes on.
    Warning(String),
    /// The base-test report was written.
    BaseTest {
        /// Accuracy on the 20 % test split.
        accuracy: f64,
        /// Macro F1 on it.
        macro_f1: f64,
    },
    /// The run ended normally or by request.
    Finished {
        /// Run folder.
        run_dir: PathBuf,
        /// Last complete epoch.
        last_epoch: usize,
        /// True when stopped before the last epoch.
        stopped_early: bool,
    },
    /// The run failed (or never started); everything written so far is kept.
    Failed {
        /// Why; its message is one sentence.
        error: super::TrainError,
    },
}

/// How to stop a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Keep going.
    None,
    /// Finish the current epoch (validation + checkpoint), then stop.
    AfterEpoch,
    /// At the next step, write a checkpoint of the current state (mid-epoch, resumable
    /// from that step), then stop: what SIGTERM and SIGHUP ask for.
    Checkpoint,
    /// Stop at the next step; the last complete checkpoint is kept.
    Now,
}

/// Shared flag the front end sets and the training loop polls between steps.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicU8>);

impl StopSignal {
    /// A fresh signal (not stopping).
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests a stop; a stronger request wins over a weaker one.
    pub fn request(&self, mode: StopMode) {
        let v = match mode {
            StopMode::None => 0,
            StopMode::AfterEpoch => 1,
            StopMode::Checkpoint => 2,
            StopMode::Now => 3,
        };
        self.0.fetch_max(v, Ordering::SeqCst);
    }

    /// Withdraws any request.
    pub fn cancel(&self) {
        self.0.store(0, Ordering::SeqCst);
    }

    /// Current request.
    pub fn mode(&self) -> StopMode {
        match self.0.load(Ordering::SeqCst) {
            0 => StopMode::None,
            1 => StopMode::AfterEpoch,
            2 => StopMode::Checkpoint,
            _ => StopMode::Now,
        }
    }
}
