//! Crash and resume, for real, with a child process: SIGKILL mid-epoch, SIGTERM (state
//! checkpointed mid-epoch), and a simulated full disk while a checkpoint is written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bloodshot::runs::{MetricRecord, RunState, read_metrics, resolve};

const TRAIN: &[&str] = &[
    "train",
    "--objective",
    "softmax",
    "--image-size",
    "32",
    "--batch-size",
    "4",
    "--limit-per-class",
    "16",
    "--no-cache",
];

fn spawn(home: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bloodshot"))
        .args(TRAIN)
        .args(extra)
        .env("BLOODSHOT_HOME", home)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn bloodshot(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bloodshot"));
    c.args(args)
        .env("BLOODSHOT_HOME", home)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn run_dir(home: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(home.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

/// Waits until the run's metrics hold a step of `epoch` at `step` or later.
fn wait_for_step(home: &Path, epoch: usize, step: usize) {
    let start = Instant::now();
    loop {
        if let Ok(rd) = std::fs::read_dir(home.join("runs")) {
            for r in rd.flatten() {
                let (recs, _) = read_metrics(&r.path().join("metrics.jsonl"));
                if recs.iter().any(|m| matches!(m, MetricRecord::Step { epoch: e, step: s, .. } if *e == epoch && *s >= step)) {
                    return;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "training did not reach epoch {epoch} step {step}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

#[test]
fn sigkill_mid_epoch_then_resume_continues_from_the_last_complete_epoch() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let mut child = spawn(h, &["--epochs", "3"]);
    wait_for_step(h, 2, 3);
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    let dir = run_dir(h);
    let run = resolve(&h.join("runs"), dir.to_str().unwrap()).unwrap();
    assert_eq!(run.checkpoints(), vec![1], "only the complete epoch counts");
    assert!(run.status().interrupted(), "killed while running");
    // Simulate the kill landing in the middle of a line.
    let metrics = dir.join("metrics.jsonl");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&metrics)
        .unwrap()
        .write_all(b"{\"kind\":\"step\",\"epo")
        .unwrap();
    let (_, torn) = read_metrics(&metrics);
    assert_eq!(torn, 1);

    let o = bloodshot(h, &["train", "--resume", "latest"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (records, bad) = read_metrics(&metrics);
    assert_eq!(bad, 0, "torn line dropped, every line valid JSON");
    assert!(records.contains(&MetricRecord::Resumed {
        after_epoch: 1,
        at_step: None
    }));
    let epochs: Vec<usize> = records
        .iter()
        .filter_map(|m| {
            if let MetricRecord::Epoch(e) = m {
                Some(e.epoch)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(epochs, vec![1, 2, 3]);
    assert_eq!(run.checkpoints(), vec![1, 2, 3]);
    assert_eq!(run.status().state, RunState::Finished);
    // Same configuration as before the kill.
    assert_eq!(run.info().unwrap().config.batch_size, 4);
}

#[test]
fn sigterm_checkpoints_the_current_state_and_resume_continues_at_the_next_step() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let mut child = spawn(h, &["--epochs", "2"]);
    wait_for_step(h, 1, 4);
    signal(&child, libc::SIGTERM);
    let status = child.wait().unwrap();
    assert!(status.success(), "a requested stop is not an error");
    let dir = run_dir(h);
    let run = resolve(&h.join("runs"), dir.to_str().unwrap()).unwrap();
    let progress = run
        .interrupted_checkpoint()
        .expect("mid-epoch checkpoint written");
    assert_eq!(progress.epoch, 1);
    assert!(progress.steps_done >= 4 && !progress.complete);
    assert_eq!(run.status().state, RunState::Stopped);
    let (before, _) = run.metrics();
    let last_step = before
        .iter()
        .filter_map(|m| {
            if let MetricRecord::Step { step, .. } = m {
                Some(*step)
            } else {
                None
            }
        })
        .max()
        .unwrap();
    assert_eq!(
        last_step, progress.steps_done,
        "the checkpoint holds every applied step"
    );

    let o = bloodshot(h, &["train", "--resume", dir.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (records, bad) = run.metrics();
    assert_eq!(bad, 0);
    assert!(records.contains(&MetricRecord::Resumed {
        after_epoch: 0,
        at_step: Some(progress.steps_done)
    }));
    // Epoch 1 has each step exactly once: 1..=S before the stop, S+1.. after.
    let mut steps: Vec<usize> = records
        .iter()
        .filter_map(|m| match m {
            MetricRecord::Step { epoch: 1, step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    let n = steps.len();
    steps.dedup();
    assert_eq!(steps.len(), n, "no step of epoch 1 repeated");
    assert_eq!(steps, (1..=n).collect::<Vec<_>>());
    assert_eq!(run.checkpoints(), vec![1, 2]);
    assert!(
        run.interrupted_checkpoint().is_none() && !run.interrupted_dir().exists(),
        "superseded mid-epoch checkpoint removed"
    );
}

#[test]
fn a_full_disk_during_a_checkpoint_leaves_no_partial_checkpoint_and_keeps_the_metrics() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let mut args = TRAIN.to_vec();
    args.extend(["--epochs", "1"]);
    let o = bloodshot(h, &args, &[("BLOODSHOT_FAULT", "checkpoint-write")]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("No space left on device") && e.contains("optimizer state"),
        "{e}"
    );
    assert!(!e.contains("panicked"));
    let dir = run_dir(h);
    let cp = dir.join("checkpoints");
    let left: Vec<String> = std::fs::read_dir(&cp)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "no checkpoint or partial folder left: {left:?}"
    );
    let run = resolve(&h.join("runs"), dir.to_str().unwrap()).unwrap();
    assert_eq!(run.status().state, RunState::Failed);
    let (records, bad) = run.metrics();
    assert_eq!(bad, 0);
    assert!(
        records
            .iter()
            .any(|m| matches!(m, MetricRecord::Epoch(e) if e.epoch == 1)),
        "epoch line kept"
    );
    // With space again, the run resumes (from scratch: no complete checkpoint) and finishes.
    let o = bloodshot(h, &["train", "--resume", "latest"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(run.checkpoints(), vec![1]);
}
