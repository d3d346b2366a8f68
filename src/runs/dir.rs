//! A run folder: `config.json`, `status.json`, `metrics.jsonl`, `checkpoints/epoch-NNN/`,
//! `base_test.json`, `kshot/*.json`, `embeddings/`.

use std::path::{Path, PathBuf};

use super::RunsError;
use super::json::{read_json, write_json};
use super::jsonl::read_metrics;
use super::records::{EpochProgress, MetricRecord, RunInfo, RunState, RunStatus};
use super::time::{timestamp, unix_now};

/// Handle on a run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The folder.
    pub path: PathBuf,
}

/// A run on another machine that wrote nothing for this long counts as interrupted (a step
/// or a validation pass longer than this would be mistaken for a dead run).
pub const STALE_SECONDS: u64 = 30 * 60;

impl RunDir {
    /// Wraps an existing folder.
    pub fn open(path: &Path) -> Result<Self, RunsError> {
        if !path.join("config.json").is_file() {
            return Err(RunsError::NotARun(path.into()));
        }
        Ok(Self { path: path.into() })
    }

    /// Creates `runs_dir/<id>/` with a fresh id from time and objective.
    pub fn create(runs_dir: &Path, objective: &str) -> Result<Self, RunsError> {
        std::fs::create_dir_all(runs_dir)
            .map_err(crate::files::IoError::at("create runs folder", runs_dir))?;
        let now = unix_now();
        let base = format!("{}-{objective}", timestamp(now));
        for n in 0..1000 {
            let id = if n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let path = runs_dir.join(&id);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(crate::files::IoError::at("create run folder", path)(e).into());
                }
            }
        }
        Err(RunsError::TooMany {
            base,
            runs_dir: runs_dir.into(),
        })
    }

    /// Creates the run folder `id` (a sweep's job names its run); fails when it exists, so two
    /// processes that start the same job cannot both train it.
    pub fn create_named(runs_dir: &Path, id: &str) -> Result<Self, RunsError> {
        if id.is_empty()
            || id.starts_with('.')
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(RunsError::BadId(id.into()));
        }
        std::fs::create_dir_all(runs_dir)
            .map_err(crate::files::IoError::at("create runs folder", runs_dir))?;
        let path = runs_dir.join(id);
        match std::fs::create_dir(&path) {
            Ok(()) => Ok(Self { path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(RunsError::Exists {
                id: id.into(),
                runs_dir: runs_dir.into(),
            }),
            Err(e) => Err(crate::files::IoError::at("create run folder", path)(e).into()),
        }
    }

    /// Run id.
    pub fn id(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `config.json`.
    pub fn info(&self) -> Result<RunInfo, RunsError> {
        read_json(&self.path.join("config.json"))
    }

    /// Writes `config.json` atomically.
    pub fn write_info(&self, info: &RunInfo) -> Result<(), RunsError> {
        write_json(&self.path.join("config.json"), info)
    }

    /// `status.json`, or `Running` at epoch 0 when absent.
    pub fn status(&self) -> RunStatus {
        read_json(&self.path.join("status.json")).unwrap_or(RunStatus {
            state: RunState::Running,
            last_epoch: self.last_checkpoint().unwrap_or(0),
            message: None,
            pid: None,
            host: None,
        })
    }

    /// `Running` but nobody trains it: its process on this machine is gone, or, for a run
    /// on another machine sharing the folder, nothing was written for [`STALE_SECONDS`].
    pub fn interrupted(&self) -> bool {
        let status = self.status();
        if status.elsewhere() {
            return self
                .seconds_since_write()
                .is_some_and(|s| s > STALE_SECONDS);
        }
        status.interrupted()
    }

    /// Seconds since the run last wrote its metrics or status (its heartbeat).
    pub fn seconds_since_write(&self) -> Option<u64> {
        [self.metrics_path(), self.path.join("status.json")]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok()?.modified().ok())
            .max()
            .and_then(|t| t.elapsed().ok())
            .map(|d| d.as_secs())
    }

    /// Writes `status.json` atomically.
    pub fn write_status(&self, status: &RunStatus) -> Result<(), RunsError> {
        write_json(&self.path.join("status.json"), status)
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }

    /// `system.jsonl`: the training process's CPU, memory and GPU history.
    pub fn system_path(&self) -> PathBuf {
        self.path.join("system.jsonl")
    }

    /// Reads `metrics.jsonl`; a torn last line (killed mid-write) is dropped and counted.
    pub fn metrics(&self) -> (Vec<MetricRecord>, usize) {
        read_metrics(&self.metrics_path())
    }

    /// Folder of a complete checkpoint.
    pub fn checkpoint_dir(&self, epoch: usize) -> PathBuf {
        self.path
            .join("checkpoints")
            .join(format!("epoch-{epoch:03}"))
    }

    /// Complete checkpoints (epoch numbers), ascending. Partial ones (`.epoch-…`) are ignored.
    pub fn checkpoints(&self) -> Vec<usize> {
        let mut v: Vec<usize> = std::fs::read_dir(self.path.join("checkpoints"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        let epoch = n.strip_prefix("epoch-")?.parse::<usize>().ok()?;
                        e.path().join("model.bpk").is_file().then_some(epoch)
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Last complete checkpoint.
    pub fn last_checkpoint(&self) -> Option<usize> {
        self.checkpoints().last().copied()
    }

    /// `epoch` when that checkpoint is complete, the last complete one for `None`; otherwise
    /// one sentence saying what the run has.
    pub fn checkpoint_or_last(&self, epoch: Option<usize>) -> Result<usize, RunsError> {
        match epoch {
            Some(e) => {
                let have = self.checkpoints();
                if have.contains(&e) {
                    Ok(e)
                } else {
                    Err(RunsError::NoSuchCheckpoint {
                        run: self.id(),
                        epoch: e,
                        have,
                    })
                }
            }
            None => self
                .last_checkpoint()
                .ok_or_else(|| RunsError::NoCheckpoint(self.id())),
        }
    }

    /// Folder of the mid-epoch checkpoint written on SIGTERM / SIGHUP.
    pub fn interrupted_dir(&self) -> PathBuf {
        self.path.join("checkpoints").join("interrupted")
    }

    /// The mid-epoch checkpoint, when one exists and is newer than the last complete epoch.
    pub fn interrupted_checkpoint(&self) -> Option<EpochProgress> {
        let dir = self.interrupted_dir();
        if !dir.join("model.bpk").is_file() || !dir.join("optim.bpk").is_file() {
            return None;
        }
        let p: EpochProgress = read_json(&dir.join("progress.json")).ok()?;
        (p.epoch == self.last_checkpoint().unwrap_or(0) + 1).then_some(p)
    }

    /// Base-test report path.
    pub fn base_test_path(&self) -> PathBuf {
        self.path.join("base_test.json")
    }

    /// Folder of k-shot results.
    pub fn kshot_dir(&self) -> PathBuf {
        self.path.join("kshot")
    }

    /// Folder of cached target embeddings.
    pub fn embeddings_dir(&self) -> PathBuf {
        self.path.join("embeddings")
    }
}
