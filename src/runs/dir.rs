//! A run folder: `config.json`, `status.json`, `metrics.jsonl`, `checkpoints/epoch-NNN/`,
//! `base_test.json`, `kshot/*.json`, `embeddings/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TrainConfig;
use crate::data::cache::write_atomic;

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
}

impl RunStatus {
    /// `Running` but its process is gone: killed or crashed; resumable.
    pub fn interrupted(&self) -> bool {
        self.state == RunState::Running
            && match self.pid {
                Some(pid) if pid == std::process::id() => false,
                Some(pid) => {
                    !Path::new(&format!("/proc/{pid}")).exists() && cfg!(target_os = "linux")
                }
                None => true,
            }
    }
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
}

/// Handle on a run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The folder.
    pub path: PathBuf,
}

impl RunDir {
    /// Wraps an existing folder.
    pub fn open(path: &Path) -> Result<Self, String> {
        if !path.join("config.json").is_file() {
            return Err(format!(
                "{} is not a run folder (no config.json)",
                path.display()
            ));
        }
        Ok(Self { path: path.into() })
    }

    /// Creates `runs_dir/<id>/` with a fresh id from time and objective.
    pub fn create(runs_dir: &Path, objective: &str) -> Result<Self, String> {
        std::fs::create_dir_all(runs_dir)
            .map_err(|e| format!("cannot create runs folder {}: {e}", runs_dir.display()))?;
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
                Err(e) => return Err(format!("cannot create run folder {}: {e}", path.display())),
            }
        }
        Err(format!(
            "too many runs named {base} in {}",
            runs_dir.display()
        ))
    }

    /// Run id.
    pub fn id(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `config.json`.
    pub fn info(&self) -> Result<RunInfo, String> {
        read_json(&self.path.join("config.json"))
    }

    /// Writes `config.json` atomically.
    pub fn write_info(&self, info: &RunInfo) -> Result<(), String> {
        write_json(&self.path.join("config.json"), info)
    }

    /// `status.json`, or `Running` at epoch 0 when absent.
    pub fn status(&self) -> RunStatus {
        read_json(&self.path.join("status.json")).unwrap_or(RunStatus {
            state: RunState::Running,
            last_epoch: self.last_checkpoint().unwrap_or(0),
            message: None,
            pid: None,
        })
    }

    /// Writes `status.json` atomically.
    pub fn write_status(&self, status: &RunStatus) -> Result<(), String> {
        write_json(&self.path.join("status.json"), status)
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
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
    pub fn checkpoint_or_last(&self, epoch: Option<usize>) -> Result<usize, String> {
        match epoch {
            Some(e) => {
                let have = self.checkpoints();
                if have.contains(&e) {
                    Ok(e)
                } else {
                    Err(format!(
                        "run {} has no complete checkpoint for epoch {e} (have: {have:?})",
                        self.id()
                    ))
                }
            }
            None => self.last_checkpoint().ok_or_else(|| {
                format!(
                    "run {} has no checkpoint yet: let it finish an epoch first",
                    self.id()
                )
            }),
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

/// Appends metric lines, flushing each so a kill loses at most the line being written.
pub struct MetricsWriter {
    file: std::fs::File,
}

impl MetricsWriter {
    /// Opens for append, first repairing a torn last line left by a kill.
    pub fn open(path: &Path) -> Result<Self, String> {
        repair_jsonl(path).map_err(|e| format!("cannot repair {}: {e}", path.display()))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(Self { file })
    }

    /// Writes one record as one line and flushes it.
    pub fn write(&mut self, record: &MetricRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }
}

/// Keeps only the complete, parseable lines of a JSON-lines file (rewritten atomically,
/// only when something must go).
pub fn repair_jsonl(path: &Path) -> std::io::Result<usize> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(0);
    };
    let (records, dropped) = parse_metrics(&text);
    if dropped == 0 && (text.is_empty() || text.ends_with('\n')) {
        return Ok(0);
    }
    let mut out = String::new();
    for r in records {
        out.push_str(&serde_json::to_string(&r).map_err(std::io::Error::other)?);
        out.push('\n');
    }
    write_atomic(path, out.as_bytes())?;
    Ok(dropped.max(1))
}

fn parse_metrics(text: &str) -> (Vec<MetricRecord>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<MetricRecord>(line) {
            Ok(r) => out.push(r),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

/// Parses a metrics file; the count is of lines that were not valid records.
pub fn read_metrics(path: &Path) -> (Vec<MetricRecord>, usize) {
    std::fs::read_to_string(path)
        .map(|t| parse_metrics(&t))
        .unwrap_or_default()
}

/// Reads a JSON file with a one-sentence error naming it.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))
}

/// Writes pretty JSON atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    write_atomic(path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYYMMDD-HHMMSS` (UTC) from Unix seconds, without a date crate.
pub fn timestamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Resolves `RUN`: a run folder path, a run id in `runs_dir`, or `latest`.
pub fn resolve(runs_dir: &Path, run: &str) -> Result<RunDir, String> {
    let as_path = Path::new(run);
    if as_path.join("config.json").is_file() {
        return RunDir::open(as_path);
    }
    if run == "latest" {
        let runs = list_runs(runs_dir);
        return runs.into_iter().last().ok_or_else(|| {
            format!(
                "no runs in {} yet: train one with `bloodshot train`",
                runs_dir.display()
            )
        });
    }
    let p = runs_dir.join(run);
    if p.join("config.json").is_file() {
        return RunDir::open(&p);
    }
    Err(format!(
        "run `{run}` not found: not a run folder, and no run with that id in {}",
        runs_dir.display()
    ))
}

/// All runs in `runs_dir`, oldest first (by creation time, then id).
pub fn list_runs(runs_dir: &Path) -> Vec<RunDir> {
    let mut runs: Vec<(u64, RunDir)> = std::fs::read_dir(runs_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| RunDir::open(&e.path()).ok())
                .map(|r| (r.info().map(|i| i.created_unix).unwrap_or(0), r))
                .collect()
        })
        .unwrap_or_default();
    runs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(&b.1.path)));
    runs.into_iter().map(|(_, r)| r).collect()
}
