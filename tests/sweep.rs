//! Sweeps end to end with the real binary on the sample data: a 2 objectives × 2 seeds sweep
//! killed mid-way and resumed (nothing trained twice, Table 1 with error bars), the same
//! sweep's printed commands run by `xargs -P 2`, and two trainings writing one runs folder and
//! one image cache at the same time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bloodshot::runs::{MetricRecord, RunDir, RunState, read_metrics};
use bloodshot::sweep::status::statuses;
use bloodshot::sweep::{JobState, Sweep};

const BIN: &str = env!("CARGO_BIN_EXE_bloodshot");

fn bloodshot(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("BLOODSHOT_HOME", home)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    bloodshot(home).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Tiny settings: each job trains in a few seconds on a CPU.
const GRID: &[&str] = &[
    "--objectives",
    "softmax,aam",
    "--seeds",
    "0,1",
    "--epochs",
    "2",
    "--image-size",
    "32",
    "--batch-size",
    "8",
    "--limit-per-class",
    "8",
    "--bn-recalibration",
    "0",
    "--k",
    "2",
    "--draws",
    "6",
];

/// One small softmax training (each test adds its epochs and images per class).
const TINY_TRAIN: &[&str] = &[
    "train",
    "--objective",
    "softmax",
    "--image-size",
    "32",
    "--batch-size",
    "8",
    "--bn-recalibration",
    "0",
];

fn runs_dir(home: &Path) -> PathBuf {
    home.join("runs")
}

fn only_sweep(runs: &Path) -> Sweep {
    let all = Sweep::list(runs);
    assert_eq!(all.len(), 1, "one sweep");
    all.into_iter().next().unwrap()
}

fn epochs_recorded(run: &RunDir) -> Vec<usize> {
    read_metrics(&run.metrics_path())
        .0
        .iter()
        .filter_map(|r| match r {
            MetricRecord::Epoch(e) => Some(e.epoch),
            _ => None,
        })
        .collect()
}

#[test]
fn a_sweep_killed_mid_way_resumes_without_training_anything_twice() {
    let home = tempfile::tempdir().unwrap();
    let runs = runs_dir(home.path());
    let runs_arg = runs.display().to_string();
    let mut args = vec!["--runs-dir", &runs_arg, "sweep"];
    args.extend_from_slice(GRID);
    let mut child = bloodshot(home.path())
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill the sweep (SIGKILL: no chance to clean up) once job 2 has begun training.
    let start = Instant::now();
    let sweep = loop {
        if let Some(s) = Sweep::list(&runs).pop() {
            let st = statuses(&runs, &s);
            // Job 2's own status (with its pid) is written: until then the wait below could
            // not tell a starting training from a dead one.
            let job2 = RunDir::open(&runs.join(&s.jobs[1].run_id));
            if st[0].state == JobState::Done && job2.is_ok_and(|r| r.status().pid.is_some()) {
                break s;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "job 2 never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // The orphaned training got SIGTERM from the kernel (PR_SET_PDEATHSIG): wait for it.
    let job1 = RunDir::open(&runs.join(&sweep.jobs[1].run_id)).unwrap();
    let start = Instant::now();
    while job1.status().state == RunState::Running && !job1.interrupted() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "job 2 never stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = statuses(&runs, &sweep);
    assert_eq!(before[0].state, JobState::Done);
    assert!(
        before[1..].iter().all(|s| s.state != JobState::Done),
        "killed mid-way: {before:?}"
    );
    let first_metrics =
        std::fs::read(runs.join(&sweep.jobs[0].run_id).join("metrics.jsonl")).unwrap();

    let o = run(
        home.path(),
        &["--runs-dir", &runs_arg, "sweep", "--resume", &sweep.id],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("4 of 4 jobs done, 0 failed"), "{out}");
    assert!(
        !out.contains("job 1/4 (softmax seed 0) started"),
        "job 1 was done: {out}"
    );
    for s in statuses(&runs, &sweep) {
        assert_eq!(s.state, JobState::Done, "{s:?}");
    }
    // Job 1 was not touched; every run has each epoch once (a resumed run redoes at most the
    // interrupted epoch, which then replaces the partial one).
    assert_eq!(
        std::fs::read(runs.join(&sweep.jobs[0].run_id).join("metrics.jsonl")).unwrap(),
        first_metrics
    );
    for job in &sweep.jobs {
        let run = RunDir::open(&runs.join(&job.run_id)).unwrap();
        assert_eq!(run.status().state, RunState::Finished);
        let mut epochs = epochs_recorded(&run);
        epochs.dedup();
        assert_eq!(epochs, vec![1, 2], "{}", job.run_id);
        assert_eq!(run.checkpoints(), vec![1, 2]);
    }
    // A second resume has nothing to do.
    let o = run(
        home.path(),
        &["--runs-dir", &runs_arg, "sweep", "--resume", &sweep.id],
    );
    assert!(!text(&o).contains("started"), "{}", text(&o));
    // Flags given with --resume that differ from the sweep's are refused (they were ignored);
    // the sweep's own flags are accepted.
    for (flags, needle) in [
        (
            &["--lr", "0.5"][..],
            "--lr 0.5 with --resume: sweep {id} keeps the settings it was created with (0.001 there)",
        ),
        (
            &["--k", "3"][..],
            "--k 3 with --resume: sweep {id} keeps the settings it was created with (2 there)",
        ),
        (&["--seeds", "0,1,2"][..], "--seed 0,1,2 with --resume"),
        (&["--draws", "7"][..], "--draws 7 with --resume"),
    ] {
        let mut args = vec!["--runs-dir", &runs_arg, "sweep", "--resume", &sweep.id];
        args.extend_from_slice(flags);
        let o = run(home.path(), &args);
        let needle = needle.replace("{id}", &sweep.id);
        assert!(!o.status.success(), "{flags:?} should fail");
        assert!(text(&o).contains(&needle), "{flags:?}: {}", text(&o));
    }
    let mut args = vec!["--runs-dir", &runs_arg, "sweep", "--resume", &sweep.id];
    args.extend_from_slice(GRID);
    let o = run(home.path(), &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("started"), "{}", text(&o));

    let table = std::fs::read_to_string(sweep.dir(&runs).join("table1.md")).unwrap();
    assert!(table.contains("| softmax | 2 | "), "{table}");
    assert!(table.contains("| AAMSoftmax | 2 | "), "{table}");
    assert!(table.contains(" ± "), "{table}");
    assert!(table.contains("Δ accuracy vs softmax [95 % CI]"), "{table}");
    // The run report's export carries the same table.
    let report = run(
        home.path(),
        &[
            "--runs-dir",
            &runs_arg,
            "export",
            "--run",
            &sweep.jobs[3].run_id,
        ],
    );
    assert!(report.status.success(), "{}", text(&report));
    let md = std::fs::read_to_string(runs.join(&sweep.jobs[3].run_id).join("report.md")).unwrap();
    assert!(
        md.contains("## Table 1: objectives over training seeds"),
        "{md}"
    );
}

#[test]
fn printed_commands_under_xargs_make_the_runs_the_sweep_would() {
    let home = tempfile::tempdir().unwrap();
    let runs = runs_dir(home.path());
    let runs_arg = runs.display().to_string();
    let mut args = vec!["--runs-dir", &runs_arg, "sweep", "--print-commands"];
    args.extend_from_slice(GRID);
    // Two classifiers on every run's bank: one k-shot command scores both (a repeat is the
    // same cell, scored once).
    args.extend_from_slice(&[
        "--method",
        "prototype,logistic,prototype",
        "--logistic-c",
        "0.5",
    ]);
    let o = run(home.path(), &args);
    assert!(o.status.success(), "{}", text(&o));
    let commands = String::from_utf8(o.stdout).unwrap();
    assert_eq!(commands.lines().count(), 4, "one line per job: {commands}");
    let sweep = only_sweep(&runs);
    for (line, job) in commands.lines().zip(&sweep.jobs) {
        assert!(
            line.contains(&format!("train --run-id {}", job.run_id)),
            "{line}"
        );
        assert!(line.contains(" && "), "train, then k-shot: {line}");
        assert!(
            line.contains("--method prototype,logistic --") && line.contains("--logistic-c 0.5"),
            "{line}"
        );
    }
    // Two at a time, from another folder: the commands are self-contained.
    let mut xargs = Command::new("xargs")
        .args(["-d", "\n", "-P", "2", "-I", "CMD", "sh", "-c", "CMD"])
        .env("BLOODSHOT_HOME", home.path())
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    xargs
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    let out = xargs.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The sweep sees every job done and has nothing left to run.
    for s in statuses(&runs, &sweep) {
        assert_eq!(s.state, JobState::Done, "{s:?}");
    }
    let o = run(
        home.path(),
        &["--runs-dir", &runs_arg, "sweep", "--resume", &sweep.id],
    );
    let out = text(&o);
    assert!(o.status.success() && !out.contains("started"), "{out}");
    assert!(out.contains("4 of 4 jobs done"), "{out}");
    // Table 1 compares the objectives per classifier.
    let table = std::fs::read_to_string(sweep.dir(&runs).join("table1.md")).unwrap();
    assert_eq!(
        table.matches("classifier logistic (C = 0.5)").count(),
        1,
        "one logistic group:\n{table}"
    );
    assert_eq!(table.matches("Δ accuracy vs softmax").count(), 2, "{table}");
    // The runs are the sweep's jobs, with their configurations.
    for job in &sweep.jobs {
        let info = RunDir::open(&runs.join(&job.run_id))
            .unwrap()
            .info()
            .unwrap();
        let mut want = job.config.clone();
        want.device = info.config.device;
        assert_eq!(info.config, want);
    }
    // Running a job's line again trains nothing.
    let again = Command::new("sh")
        .args(["-c", commands.lines().next().unwrap()])
        .env("BLOODSHOT_HOME", home.path())
        .output()
        .unwrap();
    assert!(text(&again).contains("already trained"), "{}", text(&again));
}

#[test]
fn two_trainings_write_one_runs_folder_and_one_cache_at_once() {
    let home = tempfile::tempdir().unwrap();
    let runs = runs_dir(home.path());
    let runs_arg = runs.display().to_string();
    let mut args = vec!["--runs-dir", &runs_arg];
    args.extend_from_slice(TINY_TRAIN);
    args.extend_from_slice(&["--epochs", "2", "--limit-per-class", "8"]);
    // Same objective, same second, same cache keys: the worst case for names and files.
    let children: Vec<_> = (0..2)
        .map(|_| {
            bloodshot(home.path())
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let all = bloodshot::runs::list_runs(&runs);
    assert_eq!(all.len(), 2, "two runs with distinct ids");
    assert_ne!(all[0].id(), all[1].id());
    for run in &all {
        let info = run.info().unwrap();
        assert_eq!(info.id, run.id());
        assert_eq!(run.status().state, RunState::Finished);
        let (records, bad) = read_metrics(&run.metrics_path());
        assert_eq!(bad, 0, "every metrics line parses");
        assert!(records.iter().any(|r| matches!(r, MetricRecord::Epoch(_))));
        assert_eq!(run.checkpoints(), vec![1, 2]);
        let device = bloodshot::device::open(bloodshot::device::DeviceSpec::Cpu).unwrap();
        bloodshot::runs::load_model(run, 2, &device).unwrap();
    }
    // The cache holds whole entries only: every file has the size of a 32×32 RGB image and
    // no temporary file is left.
    let cache = home.path().join("cache");
    let mut entries = 0;
    for e in walk(&cache) {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp"),
            "temporary file left: {}",
            e.display()
        );
        if e.extension().is_some_and(|x| x == "rgb") {
            assert_eq!(
                std::fs::metadata(&e).unwrap().len(),
                32 * 32 * 3,
                "{}",
                e.display()
            );
            entries += 1;
        }
    }
    assert!(entries > 0, "the cache was used: {}", cache.display());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// While a training process lives, its run (once `RunDir::open` accepts it) never reads as
/// interrupted: a sweep runner or console that saw it so would take it as abandoned and
/// train it a second time. The folder is watched without pausing from before the training
/// starts until it ends; written in the other order (config first, then the status with the
/// pid) the run read as interrupted for the moment between the two writes.
#[test]
fn a_starting_training_never_reads_as_interrupted() {
    let home = tempfile::tempdir().unwrap();
    let runs = runs_dir(home.path());
    let runs_arg = runs.display().to_string();
    let mut args = vec!["--runs-dir", &runs_arg];
    args.extend_from_slice(TINY_TRAIN);
    args.extend_from_slice(&["--epochs", "1", "--limit-per-class", "4"]);
    let mut child = bloodshot(home.path())
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut looks = 0usize;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        for entry in std::fs::read_dir(&runs).into_iter().flatten().flatten() {
            if let Ok(run) = RunDir::open(&entry.path()) {
                looks += 1;
                // Still alive after the look: the status it read was written by a live process.
                let interrupted = run.interrupted();
                if interrupted && child.try_wait().unwrap().is_none() {
                    panic!(
                        "{} read as interrupted while its training runs: {:?}",
                        run.id(),
                        run.status()
                    );
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "training never ended"
        );
    };
    assert!(status.success(), "training failed");
    assert!(looks > 0, "the run folder was never seen");
}
