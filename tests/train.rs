//! A real (tiny) CPU training run through the engine: the loss falls, every file of the run
//! is written, stopping and resuming continue from the last complete epoch.

use std::path::PathBuf;

use bloodshot::model::{AamParams, Objective};
use bloodshot::runs::{MetricRecord, RunState, TrainConfig};
use bloodshot::train::{self, Start, StopMode, StopSignal, TrainEvent};

fn config(objective: Objective, epochs: usize) -> TrainConfig {
    TrainConfig {
        base: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data/aml"),
        objective,
        epochs,
        batch_size: 8,
        lr: 1e-3,
        image_size: 32,
        aam: AamParams {
            margin: 0.2,
            scale: 16.0,
        },
        lambda: 1.0,
        seed: 3,
        limit_per_class: Some(8),
        min_class_size: 30,
        device: Default::default(),
        use_cache: false,
        bn_recalibration: 20,
        init: None,
    }
}

#[test]
fn softmax_run_learns_and_writes_every_file() {
    let runs = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let out = train::train(
        Start::New(runs.path().into()),
        Some(TrainConfig {
            batch_size: 16,
            limit_per_class: Some(16),
            ..config(Objective::Softmax, 3)
        }),
        &mut |e| events.push(e),
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(out.last_epoch, 3);
    assert!(!out.stopped_early);
    let run = &out.run_dir;
    for f in [
        "config.json",
        "status.json",
        "metrics.jsonl",
        "base_test.json",
    ] {
        assert!(run.path.join(f).is_file(), "{f} missing");
    }
    // The system history: samples from the first half second on, one as training ends.
    let system = bloodshot::train::system::read_history(&run.system_path());
    assert!(!system.is_empty(), "system.jsonl has samples");
    assert!(system.windows(2).all(|w| w[0].t < w[1].t), "in time order");
    assert!(
        system
            .iter()
            .all(|s| s.rss_mb > 10.0 && s.cpu_percent >= 0.0),
        "{system:?}"
    );
    assert!(
        system.iter().all(|s| s.gpu_percent.is_none()),
        "no GPU on the CPU"
    );
    assert_eq!(run.checkpoints(), vec![1, 2, 3]);
    for e in 1..=3 {
        let d = run.checkpoint_dir(e);
        assert!(d.join("model.bpk").is_file() && d.join("optim.bpk").is_file());
    }
    assert_eq!(run.status().state, RunState::Finished);
    let info = run.info().unwrap();
    assert_eq!(info.classes.len(), 10);
    // 10 classes × 16 images: val round(1.6) = 2, test round(3.2) = 3, train 11 → 110 / 20 / 30.
    assert_eq!(info.split_sizes, [110, 20, 30]);

    let (records, bad) = run.metrics();
    assert_eq!(bad, 0);
    let steps = records
        .iter()
        .filter(|r| matches!(r, MetricRecord::Step { .. }))
        .count();
    assert_eq!(
        steps,
        3 * 7,
        "50 images in batches of 8 → 7 steps per epoch (last has 2)"
    );
    let epochs: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            MetricRecord::Epoch(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(epochs.len(), 3);
    assert!(
        epochs[2].train_loss < epochs[0].train_loss,
        "training loss should fall: {:?}",
        epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>()
    );
    assert!(
        epochs
            .iter()
            .all(|e| e.val_loss.is_finite() && (0.0..=1.0).contains(&e.val_accuracy))
    );

    assert!(matches!(events.first(), Some(TrainEvent::Started { .. })));
    assert!(matches!(
        events.last(),
        Some(TrainEvent::Finished {
            last_epoch: 3,
            stopped_early: false,
            ..
        })
    ));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TrainEvent::WarmingUp { .. }))
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, TrainEvent::Checkpoint { .. }))
            .count(),
        3
    );
    let base: bloodshot::train::base_test::BaseTestReport =
        bloodshot::runs::read_json(&run.base_test_path()).unwrap();
    assert_eq!(base.metrics.confusion.total(), 30);
    // With batch-norm statistics recalibrated after each epoch, the evaluation-mode network
    // does not answer one class for every image (it did, before recalibration, on runs this
    // short: every predicted column but one was empty).
    let predicted_classes = (0..10)
        .filter(|&p| (0..10).any(|t| base.metrics.confusion.get(t, p) > 0))
        .count();
    assert!(
        predicted_classes >= 3,
        "predictions collapse onto {predicted_classes} class(es)"
    );
}

#[test]
fn stop_after_epoch_then_resume_continues_from_the_checkpoint() {
    let runs = tempfile::tempdir().unwrap();
    let stop = StopSignal::new();
    stop.request(StopMode::AfterEpoch);
    let out = train::train(
        Start::New(runs.path().into()),
        Some(config(Objective::AamConsistency, 2)),
        &mut |_| {},
        &stop,
    )
    .unwrap();
    assert!(out.stopped_early);
    assert_eq!(out.last_epoch, 1);
    assert_eq!(out.run_dir.status().state, RunState::Stopped);
    assert!(!out.run_dir.base_test_path().exists());

    let mut first = None;
    let mut consistency = Vec::new();
    let resumed = train::train(
        Start::Resume {
            run: out.run_dir.clone(),
            epochs: None,
            device: None,
        },
        None,
        &mut |e| match e {
            TrainEvent::Started { first_epoch, .. } => first = Some(first_epoch),
            TrainEvent::Step {
                consistency_loss, ..
            } => consistency.push(consistency_loss),
            _ => {}
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(first, Some(2));
    assert_eq!(resumed.last_epoch, 2);
    assert!(
        consistency.iter().all(|c| c.is_finite() && *c > 0.0),
        "{consistency:?}"
    );
    let (records, _) = out.run_dir.metrics();
    assert!(records.contains(&MetricRecord::Resumed {
        after_epoch: 1,
        at_step: None
    }));
    assert_eq!(out.run_dir.checkpoints(), vec![1, 2]);
    assert!(out.run_dir.base_test_path().is_file());
    // A finished run refuses to resume without more epochs.
    let again = train::train(
        Start::Resume {
            run: out.run_dir.clone(),
            epochs: None,
            device: None,
        },
        None,
        &mut |_| {},
        &StopSignal::new(),
    );
    assert!(again.unwrap_err().to_string().contains("already finished"));
}

#[test]
fn invalid_configs_are_refused_with_the_value_named() {
    let runs = tempfile::tempdir().unwrap();
    for (cfg, needle) in [
        (
            TrainConfig {
                lr: -1.0,
                ..config(Objective::Aam, 1)
            },
            "-1",
        ),
        (
            TrainConfig {
                lr: f64::NAN,
                ..config(Objective::Aam, 1)
            },
            "NaN",
        ),
        (
            TrainConfig {
                epochs: 0,
                ..config(Objective::Aam, 1)
            },
            "epochs",
        ),
        (
            TrainConfig {
                image_size: 8,
                ..config(Objective::Aam, 1)
            },
            "8 px",
        ),
        (
            TrainConfig {
                base: "/no/such/folder".into(),
                ..config(Objective::Aam, 1)
            },
            "/no/such/folder",
        ),
    ] {
        let mut events = Vec::new();
        let e = train::train(
            Start::New(runs.path().into()),
            Some(cfg),
            &mut |ev| events.push(ev),
            &StopSignal::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
        // Refused before the run started: still one `Failed` event, nothing else.
        assert_eq!(events, vec![TrainEvent::Failed { error: e }]);
    }
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_what_was_written() {
    let runs = tempfile::tempdir().unwrap();
    // A learning rate of 1e30 blows the weights up after one step; f32 overflows.
    let cfg = TrainConfig {
        lr: 1e30,
        ..config(Objective::Softmax, 2)
    };
    let mut events = Vec::new();
    let e = train::train(
        Start::New(runs.path().into()),
        Some(cfg),
        &mut |ev| events.push(ev),
        &StopSignal::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("loss became") && e.contains("epoch 1 step"),
        "{e}"
    );
    let failures = events
        .iter()
        .filter(|ev| matches!(ev, TrainEvent::Failed { .. }))
        .count();
    assert_eq!(failures, 1, "one Failed event");
    assert!(matches!(events.last(), Some(TrainEvent::Failed { .. })));
    let run = bloodshot::runs::list_runs(runs.path())
        .pop()
        .expect("the run folder is kept");
    assert_eq!(run.status().state, RunState::Failed);
    assert!(
        run.status()
            .message
            .unwrap_or_default()
            .contains("loss became")
    );
    assert!(run.info().is_ok(), "config.json kept");
    let (_, bad) = run.metrics();
    assert_eq!(bad, 0);
    assert!(run.checkpoints().is_empty());
}

/// The console's Train form starts from the engine's sample preset on the bundled sample:
/// quick settings that still pass the checks a typed value gets.
#[test]
fn the_sample_preset_is_quick_and_valid() {
    let seed = bloodshot::runs::TrainConfig::default();
    let quick = seed.clone().sample_preset();
    assert_eq!(
        (
            quick.image_size,
            quick.batch_size,
            quick.epochs,
            quick.limit_per_class
        ),
        (64, 16, 2, Some(16))
    );
    assert_eq!((quick.aam.margin, quick.aam.scale), (0.2, 16.0));
    assert_eq!(
        (quick.objective, quick.lr, quick.seed),
        (seed.objective, seed.lr, seed.seed)
    );
    quick.validate().expect("valid");
    assert_eq!(
        bloodshot::fewshot::evaluate::KShotOptions::interactive().draws,
        50,
        "the console's bank"
    );
}
