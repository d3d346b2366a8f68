//! Where each job of a sweep stands, read from the runs folder only (the run folders, their
//! k-shot results and the sweep's failure records), so any process on any machine sharing
//! the folder sees the same thing, whoever runs the jobs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fewshot::evaluate::KShotResult;
use crate::runs::{
    MetricRecord, RunDir, RunInfo, RunState, read_json, read_metrics_tail, unix_now, write_json,
};

use super::plan::{Job, Sweep};

/// State of one job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Not started.
    Queued,
    /// A live process trains its run.
    Training,
    /// Trained partly, nobody is training it now (paused, killed, stopped): resumes.
    Resumable,
    /// Trained; some k-shot results are missing.
    Evaluating,
    /// Trained and every k-shot result is there.
    Done,
    /// The last attempt failed (the sentence from its log); a resume retries it.
    Failed(String),
}

impl JobState {
    /// One word for tables.
    pub fn word(&self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Training => "training",
            JobState::Resumable => "resumable",
            JobState::Evaluating => "evaluating",
            JobState::Done => "done",
            JobState::Failed(_) => "failed",
        }
    }
}

/// One job as seen on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    /// Job index.
    pub index: usize,
    /// Run id.
    pub run_id: String,
    /// State.
    pub state: JobState,
    /// Device the run trains (or trained) on, as the run recorded it.
    pub device: Option<String>,
    /// Training progress in [0, 1] (epochs and steps done over all steps).
    pub progress: f64,
    /// Last complete epoch and the configured epochs.
    pub epochs: (usize, usize),
}

/// Why the last attempt of a job failed (`sweeps/<id>/jobs/<index>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The last meaningful line the job printed.
    pub message: String,
    /// Device it ran on.
    pub device: String,
    /// When.
    pub at_unix: u64,
}

fn failure_path(runs_dir: &Path, sweep: &Sweep, job: usize) -> PathBuf {
    sweep
        .dir(runs_dir)
        .join("jobs")
        .join(format!("{job:04}.json"))
}

/// Records that job `job` failed.
pub fn record_failure(
    runs_dir: &Path,
    sweep: &Sweep,
    job: usize,
    device: &str,
    message: &str,
) -> Result<(), crate::runs::RunsError> {
    write_json(
        &failure_path(runs_dir, sweep, job),
        &Failure {
            message: message.to_string(),
            device: device.to_string(),
            at_unix: unix_now(),
        },
    )
}

/// Forgets a failure (the job is being retried or succeeded).
pub fn clear_failure(runs_dir: &Path, sweep: &Sweep, job: usize) {
    let _ = std::fs::remove_file(failure_path(runs_dir, sweep, job));
}

/// True when `run` holds a complete result for every k, normalisation, classifier and TTA of the
/// sweep, on its last epoch and the sweep's target.
pub fn evaluated(sweep: &Sweep, run: &RunDir, epoch: usize) -> bool {
    let results = KShotResult::load_all(run);
    let spec = &sweep.spec.kshot;
    spec.ks.iter().all(|&k| {
        spec.normalizations.iter().all(|&mode| {
            spec.methods.iter().all(|&method| {
                spec.ttas.iter().all(|&tta| {
                    let want = sweep.kshot_options(k, mode, method, tta);
                    results.iter().any(|r| {
                        r.summary.is_some()
                            && r.epoch == epoch
                            && r.target == spec.target
                            && r.options == want
                    })
                })
            })
        })
    })
}

/// The status of one job.
pub fn job_status(runs_dir: &Path, sweep: &Sweep, job: &Job) -> JobStatus {
    let path = runs_dir.join(&job.run_id);
    let mut status = JobStatus {
        index: job.index,
        run_id: job.run_id.clone(),
        state: JobState::Queued,
        device: None,
        progress: 0.0,
        epochs: (0, job.config.epochs),
    };
    let failure: Option<Failure> = read_json(&failure_path(runs_dir, sweep, job.index)).ok();
    let Ok(run) = RunDir::open(&path) else {
        if let Some(f) = failure {
            status.state = JobState::Failed(f.message);
            status.device = Some(f.device);
        }
        return status;
    };
    let info = run.info().ok();
    let st = run.status();
    let epochs = info.as_ref().map_or(job.config.epochs, |i| i.config.epochs);
    status.device = info.as_ref().map(|i| i.device.clone());
    status.epochs = (st.last_epoch, epochs);
    // The last step is near the end of the log: a sweep's table is re-read every 2 s, so
    // whole logs of every job are not.
    let records = read_metrics_tail(&run.metrics_path(), 16 * 1024);
    let steps_per_epoch = info.as_ref().map_or(1, RunInfo::steps_per_epoch);
    let at = records.iter().rev().find_map(|r| match r {
        MetricRecord::Step { epoch, step, .. } => Some((*epoch, *step)),
        _ => None,
    });
    let done_steps = match at {
        Some((e, s)) => {
            (e.saturating_sub(1) * steps_per_epoch + s).max(st.last_epoch * steps_per_epoch)
        }
        None => st.last_epoch * steps_per_epoch,
    };
    status.progress = (done_steps as f64 / (epochs * steps_per_epoch).max(1) as f64).min(1.0);
    let live = st.state == RunState::Running && !run.interrupted();
    status.state = if live {
        JobState::Training
    } else if st.state == RunState::Finished {
        if evaluated(sweep, &run, st.last_epoch) {
            JobState::Done
        } else if let Some(f) = failure {
            JobState::Failed(f.message)
        } else {
            JobState::Evaluating
        }
    } else if let Some(f) = failure {
        JobState::Failed(f.message)
    } else {
        JobState::Resumable
    };
    status
}

/// Every job's status, in job order.
pub fn statuses(runs_dir: &Path, sweep: &Sweep) -> Vec<JobStatus> {
    sweep
        .jobs
        .iter()
        .map(|j| job_status(runs_dir, sweep, j))
        .collect()
}
