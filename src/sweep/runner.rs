//! Runs a sweep's jobs on the devices it is given, one job per device at a time, each job as
//! child processes of the `bloodshot` binary running the commands of [`super::command`]: the
//! same commands `--print-commands` prints, so a sweep run here and one run by GNU parallel
//! or Slurm produce the same runs.
//!
//! Children run in their own process group (a Ctrl-C or a dropped terminal reaches only the
//! runner, which decides), and on Linux they get SIGTERM if the runner dies (SIGTERM makes a
//! training save its state at the next step). Nothing is trained twice: a job whose run is
//! finished and evaluated is skipped, a half-trained one resumes from its checkpoint.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::device::DeviceSpec;
use crate::model::Objective;
use crate::runs::{RunDir, host_name, unix_now, write_json};

use super::SweepError;
use super::command::job_args;
use super::plan::Sweep;
use super::status::{JobState, clear_failure, job_status, record_failure, statuses};

/// Pause and cancel, shared with whoever drives the runner (a signal handler, the console).
#[derive(Debug, Default)]
pub struct Control {
    paused: AtomicBool,
    cancelled: AtomicBool,
    children: Mutex<Vec<u32>>,
}

impl Control {
    /// A fresh control.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start no new job; running ones finish.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// True once paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Stop: running trainings save their state (SIGTERM) and exit; the sweep resumes later.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Ok(children) = self.children.lock() {
            for &pid in children.iter() {
                terminate(pid);
            }
        }
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

#[cfg(unix)]
fn terminate(pid: u32) {
    // SAFETY: kill(2) with a pid this process spawned and still waits for.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

#[cfg(not(unix))]
fn terminate(_pid: u32) {}

/// What the runner reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum SweepEvent {
    /// A job started on a device.
    Started {
        /// Job index.
        job: usize,
        /// Device.
        device: DeviceSpec,
    },
    /// A job's run is trained and evaluated.
    Finished {
        /// Job index.
        job: usize,
    },
    /// A job failed (the sentence is also in `sweeps/<id>/jobs/`).
    Failed {
        /// Job index.
        job: usize,
        /// Why.
        message: String,
    },
    /// A job was stopped by a cancel; it resumes from its checkpoint.
    Stopped {
        /// Job index.
        job: usize,
    },
}

/// How a run of the sweep ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Jobs done (now, over all attempts).
    pub done: usize,
    /// Jobs whose last attempt failed.
    pub failed: usize,
    /// Jobs not done.
    pub left: usize,
    /// Cancelled or paused before the queue was empty.
    pub interrupted: bool,
    /// Table 1 of the sweep's runs, when written.
    pub table1: Option<PathBuf>,
}

/// `sweeps/<id>/runner.json`: who runs the sweep now (or last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerRecord {
    /// Process.
    pub pid: u32,
    /// Machine.
    pub host: String,
    /// Devices.
    pub devices: Vec<String>,
    /// Start time.
    pub started_unix: u64,
    /// `running`, `paused`, `cancelled` or `finished`.
    pub state: String,
}

fn write_record(runs_dir: &Path, sweep: &Sweep, devices: &[DeviceSpec], started: u64, state: &str) {
    let _ = write_json(
        &sweep.dir(runs_dir).join("runner.json"),
        &RunnerRecord {
            pid: std::process::id(),
            host: host_name(),
            devices: devices.iter().map(|d| d.to_string()).collect(),
            started_unix: started,
            state: state.into(),
        },
    );
}

enum JobEnd {
    Done,
    Stopped,
    Failed(String),
}

/// Runs every job that is not done (nor being trained by another process) on `devices`,
/// with `exe` as the `bloodshot` binary. Returns when the queue is empty, or when `control`
/// pauses (after the running jobs) or cancels (after they saved their state).
pub fn run(
    runs_dir: &Path,
    sweep: &Sweep,
    devices: &[DeviceSpec],
    exe: &Path,
    control: &Control,
    emit: &(dyn Fn(SweepEvent) + Sync),
) -> Result<Outcome, SweepError> {
    if devices.is_empty() {
        return Err(SweepError::Invalid(
            "--devices needs at least one device".into(),
        ));
    }
    if !exe.is_file() {
        return Err(SweepError::Invalid(format!(
            "cannot run jobs: {} is not the bloodshot binary",
            exe.display()
        )));
    }
    let logs = sweep.dir(runs_dir).join("logs");
    std::fs::create_dir_all(&logs).map_err(crate::files::IoError::at("create", &logs))?;
    let started = unix_now();
    write_record(runs_dir, sweep, devices, started, "running");
    let queue: Mutex<VecDeque<usize>> = Mutex::new(
        statuses(runs_dir, sweep)
            .into_iter()
            .filter(|s| !matches!(s.state, JobState::Done | JobState::Training))
            .map(|s| s.index)
            .collect(),
    );
    let jobs = Jobs {
        runs_dir,
        sweep,
        exe,
        logs: &logs,
        control,
        emit,
        queue: &queue,
    };
    std::thread::scope(|scope| {
        for &device in devices {
            let jobs = &jobs;
            scope.spawn(move || jobs.work_on(device));
        }
    });
    write_record(runs_dir, sweep, devices, started, state_word(control));
    let after = statuses(runs_dir, sweep);
    let done = after.iter().filter(|s| s.state == JobState::Done).count();
    let failed = after
        .iter()
        .filter(|s| matches!(s.state, JobState::Failed(_)))
        .count();
    Ok(Outcome {
        done,
        failed,
        left: sweep.jobs.len() - done,
        interrupted: control.is_cancelled() || control.is_paused(),
        table1: write_table1(runs_dir, sweep).ok(),
    })
}

/// What each device's worker shares: the sweep, where its logs go, the queue of jobs.
struct Jobs<'a> {
    runs_dir: &'a Path,
    sweep: &'a Sweep,
    exe: &'a Path,
    logs: &'a Path,
    control: &'a Control,
    emit: &'a (dyn Fn(SweepEvent) + Sync),
    queue: &'a Mutex<VecDeque<usize>>,
}

impl Jobs<'_> {
    /// Runs queued jobs on `device`, one at a time, until the queue is empty or the sweep
    /// is paused or cancelled.
    fn work_on(&self, device: DeviceSpec) {
        let Jobs {
            runs_dir,
            sweep,
            exe,
            logs,
            control,
            emit,
            queue,
        } = *self;
        loop {
            if control.is_paused() || control.is_cancelled() {
                break;
            }
            let Some(j) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                break;
            };
            let job = &sweep.jobs[j];
            // Another runner (or a Slurm task) may have taken or finished it since.
            let now = job_status(runs_dir, sweep, job);
            if matches!(now.state, JobState::Done | JobState::Training) {
                continue;
            }
            clear_failure(runs_dir, sweep, j);
            emit(SweepEvent::Started { job: j, device });
            let log = logs.join(format!("{j:04}.log"));
            match run_job(runs_dir, sweep, j, device, exe, &log, control) {
                JobEnd::Done => emit(SweepEvent::Finished { job: j }),
                JobEnd::Stopped => emit(SweepEvent::Stopped { job: j }),
                JobEnd::Failed(message) => {
                    let _ = record_failure(runs_dir, sweep, j, &device.to_string(), &message);
                    emit(SweepEvent::Failed { job: j, message });
                }
            }
        }
    }
}

/// The sweep's state word once its runner returns.
fn state_word(control: &Control) -> &'static str {
    if control.is_cancelled() {
        "cancelled"
    } else if control.is_paused() {
        "paused"
    } else {
        "finished"
    }
}

fn run_job(
    runs_dir: &Path,
    sweep: &Sweep,
    j: usize,
    device: DeviceSpec,
    exe: &Path,
    log: &Path,
    control: &Control,
) -> JobEnd {
    for args in job_args(runs_dir, sweep, &sweep.jobs[j], device) {
        let mut file = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            Ok(f) => f,
            Err(e) => return JobEnd::Failed(format!("cannot write {}: {e}", log.display())),
        };
        let _ = writeln!(file, "$ bloodshot {}", args.join(" "));
        let (out, err) = match (file.try_clone(), file.try_clone()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return JobEnd::Failed(format!("cannot write {}", log.display())),
        };
        let mut cmd = Command::new(exe);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        detach(&mut cmd);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return JobEnd::Failed(format!("cannot start {}: {e}", exe.display())),
        };
        let pid = child.id();
        if let Ok(mut c) = control.children.lock() {
            c.push(pid);
        }
        if control.is_cancelled() {
            terminate(pid);
        }
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Ok(s),
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => break Err(e),
            }
        };
        if let Ok(mut c) = control.children.lock() {
            c.retain(|&p| p != pid);
        }
        if control.is_cancelled() {
            return JobEnd::Stopped;
        }
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                return JobEnd::Failed(
                    last_words(log).unwrap_or_else(|| format!("exited with {s}")),
                );
            }
            Err(e) => return JobEnd::Failed(format!("lost the job's process: {e}")),
        }
    }
    JobEnd::Done
}

/// Own process group (terminal signals reach only the runner) and, on Linux, SIGTERM when
/// the runner dies.
#[cfg(unix)]
fn detach(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn detach(_cmd: &mut Command) {}

/// The last line a failed job printed that says why (`bloodshot: …`), else its last line.
fn last_words(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("bloodshot:"))
        .or(lines.last())
        .map(|l| l.trim_start_matches("bloodshot:").trim().to_string())
}

/// Writes `sweeps/<id>/table1.md`: Table 1 over the sweep's runs (softmax as the baseline
/// when the sweep has it, else its first objective).
pub fn write_table1(runs_dir: &Path, sweep: &Sweep) -> Result<PathBuf, SweepError> {
    let reports: Vec<_> = sweep
        .jobs
        .iter()
        .filter_map(|j| RunDir::open(&runs_dir.join(&j.run_id)).ok())
        .filter_map(|r| crate::report::collect(&r).ok())
        .collect();
    let objectives = &sweep.spec.grid.objectives;
    let baseline = if objectives.is_empty() || objectives.contains(&Objective::Softmax) {
        Objective::Softmax
    } else {
        objectives[0]
    };
    let table = crate::report::table1::build(&reports, baseline);
    let mut md = format!("# Sweep `{}`: {} jobs\n\n", sweep.id, sweep.jobs.len());
    crate::report::table1::render(&mut md, &table);
    let path = sweep.dir(runs_dir).join("table1.md");
    crate::files::write_atomic(&path, md.as_bytes())
        .map_err(crate::files::IoError::at("write", &path))?;
    Ok(path)
}
