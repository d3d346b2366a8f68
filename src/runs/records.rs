//! The records a run folder holds: `config.json` ([`RunInfo`]), `status.json`
//! ([`RunStatus`]), the lines of `metrics.jsonl` ([`MetricRecord`]) and a checkpoint's
//! `progress.json` ([`EpochProgress`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TrainConfig;

/// What `config.json` holds: the configuration and what the run found at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run id (folder name).
    pub id: String,
    /// Training configuration.
    pub config: TrainConfig,
    /// Base classes kept, in label order.
    pub classes: Vec<String>,
    /// Images in the train / validation / test parts.
    pub split_sizes: [usize; 3],
    /// Device description at start.
    pub device: String,
    /// `bloodshot` version.
    pub version: String,
    /// burn version.
    pub burn_version: String,
    /// Git commit of the source tree, when known at build time.
    pub git_commit: Option<String>,
    /// Seconds since the Unix epoch at creation.
    pub created_unix: u64,
    /// Where the weights came from when the run was imported rather than trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl RunInfo {
    /// Optimisation steps per epoch: the training images in batches, the last one partial.
    pub fn steps_per_epoch(&self) -> usize {
        self.split_sizes[0]
            .div_ceil(self.config.batch_size.max(1))
            .max(1)
    }
}

/// Run state as last written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Training (or killed while training).
    Running,
    /// All epochs done.
    Finished,
    /// Stopped by the user; resumable.
    Stopped,
    /// Stopped by an error (NaN loss…); resumable from the last checkpoint.
    Failed,
}

/// `status.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStatus {
    /// State.
    pub state: RunState,
    /// Last complete epoch (checkpoint written), 0 if none.
    pub last_epoch: usize,
    /// Why it stopped, when it did.
    pub message: Option<String>,
    /// Process that wrote a `Running` state (to tell a live run from a killed one).
    #[serde(default)]
    pub pid: Option<u32>,
    /// Machine of that process: a pid means nothing on another node sharing the runs folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl RunStatus {
    /// `Running`, written by this process on this machine.
    pub fn running(last_epoch: usize) -> Self {
        RunStatus {
            state: RunState::Running,
            last_epoch,
            message: None,
            pid: Some(std::process::id()),
            host: Some(host_name()),
        }
    }

    /// A state other than `Running` (no process owns the run).
    pub fn ended(state: RunState, last_epoch: usize, message: Option<String>) -> Self {
        RunStatus {
            state,
            last_epoch,
            message,
            pid: None,
            host: None,
        }
    }

    /// `Running` on another machine: its process cannot be checked from here (see
    /// [`RunDir::interrupted`](super::RunDir::interrupted) for the heartbeat used instead).
    pub fn elsewhere(&self) -> bool {
        self.state == RunState::Running && self.host.as_ref().is_some_and(|h| *h != host_name())
    }

    /// `Running` but its process on this machine is gone: killed or crashed; resumable.
    /// A run on another machine is never judged interrupted here.
    pub fn interrupted(&self) -> bool {
        self.state == RunState::Running
            && !self.elsewhere()
            && match self.pid {
                Some(pid) if pid == std::process::id() => false,
                Some(pid) => {
                    !Path::new(&format!("/proc/{pid}")).exists() && cfg!(target_os = "linux")
                }
                None => true,
            }
    }
}

/// This machine's name (the kernel's hostname on Linux, else `$HOSTNAME`, else `localhost`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricRecord {
    /// One optimisation step.
    Step {
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
        /// Total loss.
        loss: f64,
        /// Classification (softmax / AAM) part.
        metric_loss: f64,
        /// Consistency part (0 when not used).
        consistency_loss: f64,
        /// Batch accuracy from plain scores (no margin).
        accuracy: f64,
        /// Throughput of this step.
        images_per_sec: f64,
        /// Steps in the epoch (0 in logs written before it was recorded).
        #[serde(default)]
        steps: usize,
        /// Seconds the step took (0 in older logs).
        #[serde(default)]
        seconds: f64,
    },
    /// End of an epoch.
    Epoch(EpochSummary),
    /// Training resumed after the given complete epoch.
    Resumed {
        /// Last complete epoch before resuming.
        after_epoch: usize,
        /// Step of the next epoch resumed from (mid-epoch checkpoint), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_step: Option<usize>,
    },
}

/// Per-epoch summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Mean consistency loss (0 when not used).
    pub train_consistency: f64,
    /// Training accuracy (plain scores).
    pub train_accuracy: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// Mean training throughput.
    pub images_per_sec: f64,
}

/// Where a checkpoint stands inside training: saved with every checkpoint
/// (`progress.json`), so a mid-epoch checkpoint can resume at the next step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochProgress {
    /// Epoch the state belongs to.
    pub epoch: usize,
    /// Steps of that epoch already applied (all of them for an end-of-epoch checkpoint).
    pub steps_done: usize,
    /// Sum of per-image training loss so far in the epoch.
    pub loss_sum: f64,
    /// Sum of per-image consistency loss so far.
    pub consistency_sum: f64,
    /// Correct training predictions so far.
    pub correct: usize,
    /// Training images seen so far.
    pub seen: usize,
    /// True for an end-of-epoch checkpoint.
    pub complete: bool,
    /// Bytes of `model.bpk` as written (absent in checkpoints written before it was kept): a
    /// shorter file was cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_bytes: Option<u64>,
}
