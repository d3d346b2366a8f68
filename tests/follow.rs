//! Following a run from its files: a follower polling while a real (tiny) training writes
//! the folder sees the same steps, epochs, checkpoints and end as the trainer's own events,
//! and a line caught half-written is read once, when complete.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bloodshot::model::{AamParams, Objective};
use bloodshot::runs::{RunDir, RunInfo, TrainConfig};
use bloodshot::train::{self, Follower, Start, StopSignal, TrainEvent};

fn config() -> TrainConfig {
    TrainConfig {
        base: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data/aml"),
        objective: Objective::Softmax,
        epochs: 2,
        batch_size: 8,
        lr: 1e-3,
        image_size: 32,
        aam: AamParams::default(),
        lambda: 1.0,
        seed: 1,
        limit_per_class: Some(8),
        min_class_size: 30,
        device: Default::default(),
        use_cache: false,
        bn_recalibration: 0,
        init: None,
    }
}

/// The events a dashboard draws, without timings (the follower reads what was written).
fn shape(events: &[TrainEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step {
                epoch,
                step,
                steps,
                loss,
                ..
            } => Some(format!("step {epoch}.{step}/{steps} {loss:.9}")),
            TrainEvent::Epoch(s) => Some(format!("epoch {} {:.9}", s.epoch, s.val_accuracy)),
            TrainEvent::Checkpoint { epoch, .. } => Some(format!("checkpoint {epoch}")),
            TrainEvent::BaseTest { accuracy, .. } => Some(format!("base test {accuracy:.9}")),
            TrainEvent::Finished {
                last_epoch,
                stopped_early,
                ..
            } => Some(format!("finished {last_epoch} {stopped_early}")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_follower_sees_what_the_trainer_emits() {
    let runs = tempfile::tempdir().unwrap();
    let runs_dir = runs.path().to_path_buf();
    let done = AtomicBool::new(false);
    let (own, followed) = std::thread::scope(|s| {
        let trainer = s.spawn(|| {
            let mut events = Vec::new();
            let out = train::train(
                Start::Named {
                    runs_dir: runs_dir.clone(),
                    id: "followed".into(),
                },
                Some(config()),
                &mut |e| events.push(e),
                &StopSignal::new(),
            );
            done.store(true, Ordering::SeqCst);
            out.unwrap();
            events
        });
        let mut follower = None;
        let mut seen = Vec::new();
        // Poll while it trains, then until the follower has seen the end.
        loop {
            if follower.is_none()
                && let Ok(run) = RunDir::open(&runs_dir.join("followed"))
            {
                follower = Some(Follower::new(run));
            }
            if let Some(f) = follower.as_mut() {
                seen.extend(f.poll());
                if f.ended() {
                    break;
                }
            }
            assert!(
                !(done.load(Ordering::SeqCst) && follower.is_none()),
                "the run folder never appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        (trainer.join().unwrap(), seen)
    });
    assert!(
        matches!(followed.first(), Some(TrainEvent::Started { run_id, epochs: 2, .. }) if run_id == "followed")
    );
    assert_eq!(shape(&followed), shape(&own));
    assert!(
        shape(&own).len() > 6,
        "steps, epochs, checkpoints and the end"
    );
}

#[test]
fn a_half_written_line_is_read_once_complete() {
    let runs = tempfile::tempdir().unwrap();
    let run = RunDir::create_named(runs.path(), "by-hand").unwrap();
    let info = RunInfo {
        id: "by-hand".into(),
        config: config(),
        classes: vec!["A".into(), "B".into()],
        split_sizes: [16, 2, 2],
        device: "cpu".into(),
        version: "test".into(),
        burn_version: "test".into(),
        git_commit: None,
        created_unix: 0,
        source: None,
    };
    run.write_info(&info).unwrap();
    run.write_status(&bloodshot::runs::RunStatus::running(0))
        .unwrap();
    let line = r#"{"kind":"step","epoch":1,"step":1,"loss":2.5,"metric_loss":2.5,"consistency_loss":0.0,"accuracy":0.25,"images_per_sec":10.0}"#;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.metrics_path())
        .unwrap();
    let (head, tail) = line.split_at(40);
    f.write_all(head.as_bytes()).unwrap();
    f.flush().unwrap();
    let mut follower = Follower::new(run.clone());
    let first = follower.poll();
    assert!(matches!(
        first.as_slice(),
        [TrainEvent::Started {
            steps_per_epoch: 2,
            ..
        }]
    ));
    writeln!(f, "{tail}").unwrap();
    f.flush().unwrap();
    let second = follower.poll();
    // An old-format line (no steps, no seconds): steps come from the split and batch size.
    assert!(
        matches!(second.as_slice(), [TrainEvent::Step { epoch: 1, step: 1, steps: 2, loss, .. }] if *loss == 2.5),
        "{second:?}"
    );
    assert!(follower.poll().is_empty(), "nothing new, nothing twice");
    assert!(!follower.ended());
}

#[test]
fn the_tail_of_a_metrics_log_drops_its_cut_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    let line = |step: usize| {
        format!(
            r#"{{"kind":"step","epoch":1,"step":{step},"loss":1.0,"metric_loss":1.0,"consistency_loss":0.0,"accuracy":0.5,"images_per_sec":9.0}}"#
        )
    };
    let text: String = (1..=3).map(|s| line(s) + "\n").collect();
    std::fs::write(&path, &text).unwrap();
    let steps = |bytes: u64| -> Vec<usize> {
        bloodshot::runs::read_metrics_tail(&path, bytes)
            .into_iter()
            .filter_map(|r| match r {
                bloodshot::runs::MetricRecord::Step { step, .. } => Some(step),
                _ => None,
            })
            .collect()
    };
    // One and a half lines from the end: the half line is dropped, not misparsed.
    let one = line(3).len() as u64 + 1;
    assert_eq!(steps(one + one / 2), vec![3]);
    assert_eq!(
        steps(10 * one),
        vec![1, 2, 3],
        "the whole file when it is short"
    );
    assert!(steps(0).is_empty());
}

/// The runs folder's fingerprint, which the console's Runs tab polls: it stays while nothing
/// changes and moves when a run appears, a file of one grows, a k-shot result or a checkpoint
/// is added, or a run is removed.
#[test]
fn the_runs_fingerprint_moves_when_a_run_changes() {
    use bloodshot::runs::fingerprint;
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    let empty = fingerprint(runs);
    assert_eq!(fingerprint(runs), empty);
    // A folder without config.json is not a run.
    std::fs::create_dir(runs.join("sweeps")).unwrap();
    assert_eq!(fingerprint(runs), empty);
    let run = runs.join("r1");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("config.json"), "{}").unwrap();
    let one = fingerprint(runs);
    assert_ne!(one, empty);
    assert_eq!(fingerprint(runs), one);
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.join("metrics.jsonl"))
        .unwrap();
    writeln!(metrics, "{{\"step\":1}}").unwrap();
    let written = fingerprint(runs);
    assert_ne!(written, one);
    writeln!(metrics, "{{\"step\":2}}").unwrap();
    let grown = fingerprint(runs);
    assert_ne!(grown, written);
    std::fs::create_dir(run.join("kshot")).unwrap();
    let kshot = fingerprint(runs);
    assert_ne!(kshot, grown);
    std::fs::write(run.join("kshot").join("e001-pool-k5-d10-s0.json"), "{}").unwrap();
    let result = fingerprint(runs);
    assert_ne!(result, kshot);
    std::fs::create_dir_all(run.join("checkpoints").join("epoch-001")).unwrap();
    let checkpoint = fingerprint(runs);
    assert_ne!(checkpoint, result);
    assert_eq!(fingerprint(runs), checkpoint);
    std::fs::remove_dir_all(&run).unwrap();
    assert_eq!(fingerprint(runs), empty);
}
