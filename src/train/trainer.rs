//! A run's life cycle: where it starts (new or resumed), setting it up, its epochs, the
//! base-test report, and the status it ends with.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

use super::TrainError;
use super::base_test::BaseTestReport;
use super::epoch::{EpochEnd, Training, finish_epoch, train_epoch};
use super::events::{StopMode, StopSignal, TrainEvent};
use super::inputs::{items, load_base};
use super::validate::evaluate;
use crate::data::Dataset;
use crate::data::split::Split;
use crate::model::Classifier;
use crate::runs::{
    EpochProgress, MetricRecord, MetricsWriter, RunDir, RunInfo, RunState, RunStatus, TrainConfig,
    load_training_state, remove_partial_checkpoints, unix_now, write_json,
};

/// How a call to [`train`] ended (errors are `Err`).
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Run folder.
    pub run_dir: RunDir,
    /// Last complete epoch.
    pub last_epoch: usize,
    /// Stopped by request before the last epoch.
    pub stopped_early: bool,
}

/// Where a run starts.
pub enum Start {
    /// A new run in this runs folder.
    New(PathBuf),
    /// A new run with this id (a sweep's job) in this runs folder.
    Named {
        /// Runs folder.
        runs_dir: PathBuf,
        /// Run id.
        id: String,
    },
    /// Continue this run from its last complete epoch with its saved configuration; the
    /// epoch count and the device may be changed.
    Resume {
        /// The run.
        run: RunDir,
        /// New last epoch, if extending.
        epochs: Option<usize>,
        /// Another device (a checkpoint loads on any backend).
        device: Option<crate::device::DeviceSpec>,
    },
}

/// Trains (or resumes) a run, reporting through `emit`; every error, including one before
/// the run starts (its configuration, its device), is also emitted once as
/// [`TrainEvent::Failed`]. Whatever was written before an error (metrics, checkpoints)
/// stays valid.
pub fn train(
    start: Start,
    config: Option<TrainConfig>,
    emit: &mut dyn FnMut(TrainEvent),
    stop: &StopSignal,
) -> Result<TrainOutcome, TrainError> {
    let mut failure_sent = false;
    let result = start_and_train(
        start,
        config,
        &mut |ev| {
            failure_sent |= matches!(ev, TrainEvent::Failed { .. });
            emit(ev)
        },
        stop,
    );
    if let Err(error) = &result
        && !failure_sent
    {
        emit(TrainEvent::Failed {
            error: error.clone(),
        });
    }
    result
}

fn start_and_train(
    start: Start,
    config: Option<TrainConfig>,
    emit: &mut dyn FnMut(TrainEvent),
    stop: &StopSignal,
) -> Result<TrainOutcome, TrainError> {
    // `Err((runs folder, id))`: the run folder is created once the device has opened.
    let (run, config, resume_from) = match start {
        Start::New(runs_dir) => (Err((runs_dir, None)), new_config(config)?, 0),
        Start::Named { runs_dir, id } => (Err((runs_dir, Some(id))), new_config(config)?, 0),
        Start::Resume {
            run,
            epochs,
            device,
        } => {
            let (config, last) = resume_config(&run, epochs, device)?;
            (Ok(run), config, last)
        }
    };
    // The device first: one that cannot start leaves no run folder behind.
    let device_name = crate::device::describe(config.device);
    let base_device = crate::device::open(config.device)?;
    let _memory = crate::memory::Hold::for_device(&base_device);
    let run = match run {
        Ok(run) => run,
        Err((runs_dir, Some(id))) => RunDir::create_named(&runs_dir, &id)?,
        Err((runs_dir, None)) => RunDir::create(&runs_dir, config.objective.as_str())?,
    };
    let result = train_run(
        &run,
        &config,
        resume_from,
        &base_device,
        &device_name,
        emit,
        stop,
    );
    record_end(&run, &result, emit);
    result
}

/// A new run's configuration, checked (its base folder must exist).
fn new_config(config: Option<TrainConfig>) -> Result<TrainConfig, TrainError> {
    let mut config = config.ok_or("a new run needs a configuration")?;
    config.validate()?;
    if !config.base.is_dir() {
        return Err(format!(
            "base dataset folder {} does not exist or is not a folder",
            config.base.display()
        )
        .into());
    }
    // Recorded absolute: a run resumed, compared or reported from another folder (or by a
    // console started elsewhere) must find the same data.
    if let Ok(absolute) = std::fs::canonicalize(&config.base) {
        config.base = absolute;
    }
    Ok(config)
}

/// A resumed run's configuration (with a new epoch count or device) and its last complete
/// epoch; refused while another process trains it, or when it has nothing left to do.
fn resume_config(
    run: &RunDir,
    epochs: Option<usize>,
    device: Option<crate::device::DeviceSpec>,
) -> Result<(TrainConfig, usize), TrainError> {
    let info = run.info()?;
    let last = run.last_checkpoint().unwrap_or(0);
    let mut config = info.config;
    if let Some(e) = epochs {
        config.epochs = e;
    }
    if let Some(d) = device {
        config.device = d;
    }
    config.validate()?;
    let status = run.status();
    if status.state == RunState::Running && !run.interrupted() {
        return Err(TrainError::Run(format!(
            "run {} is being trained by another process (pid {} on {}); stop it first",
            run.id(),
            status.pid.map_or("unknown".into(), |p| p.to_string()),
            status.host.as_deref().unwrap_or("this machine")
        )));
    }
    if last >= config.epochs && run.base_test_path().is_file() {
        return Err(TrainError::Run(format!(
            "run {} already finished its {}; pass a larger --epochs to continue it",
            run.id(),
            match config.epochs {
                1 => "1 epoch".to_string(),
                n => format!("{n} epochs"),
            }
        )));
    }
    if last > 0 && last != config.epochs {
        let mut info = run.info()?;
        info.config.epochs = config.epochs;
        run.write_info(&info)?;
    }
    Ok((config, last))
}

/// Records how the run ended in `status.json` and says so; a run that failed before it
/// wrote anything leaves no folder.
fn record_end(
    run: &RunDir,
    result: &Result<TrainOutcome, TrainError>,
    emit: &mut dyn FnMut(TrainEvent),
) {
    match result {
        Ok(o) => {
            let state = if o.stopped_early {
                RunState::Stopped
            } else {
                RunState::Finished
            };
            let _ = run.write_status(&RunStatus::ended(
                state,
                o.last_epoch,
                o.stopped_early.then(|| "stopped by request".into()),
            ));
            emit(TrainEvent::Finished {
                run_dir: run.path.clone(),
                last_epoch: o.last_epoch,
                stopped_early: o.stopped_early,
            });
        }
        Err(_) if !run.path.join("config.json").exists() => {
            // Failed before anything was trained (e.g. an unusable dataset): no empty run.
            let _ = std::fs::remove_dir_all(&run.path);
        }
        Err(e) => {
            let _ = run.write_status(&RunStatus::ended(
                RunState::Failed,
                run.last_checkpoint().unwrap_or(0),
                Some(e.to_string()),
            ));
        }
    }
}

/// Sets the run up (records, status, data, the model of the checkpoint it resumes from),
/// trains its remaining epochs and writes the base-test report.
fn train_run(
    run: &RunDir,
    config: &TrainConfig,
    resume_from: usize,
    base_device: &Device,
    device_name: &str,
    emit: &mut dyn FnMut(TrainEvent),
    stop: &StopSignal,
) -> Result<TrainOutcome, TrainError> {
    let base_device = base_device.clone();
    let device = base_device.clone().autodiff();
    base_device.seed(config.seed);
    let (ds, sp) = load_base(config)?;
    // Reported right after `Started`, so a front end sees the run before its remarks.
    let remarks = dataset_remarks(&ds);
    // A mid-epoch checkpoint (SIGTERM / SIGHUP) newer than the last complete epoch wins.
    let mid_epoch = run.interrupted_checkpoint();
    let n_classes = ds.classes.len();
    // A new run's starting weights (`--init` or random) before anything is recorded: an
    // `--init` that cannot be read fails here and leaves no run folder behind. A resumed
    // run's model is loaded from its checkpoint by `restore`.
    let model = if resume_from > 0 || mid_epoch.is_some() {
        Classifier::new(config.objective, n_classes, &device)
    } else {
        let init = config.init.as_deref();
        super::init::initial_model(config.objective, n_classes, init, &device)?
    };
    // The status (with this process's pid) before `config.json`: a folder with a config is
    // one `RunDir::open` accepts, and a status-less run reads as interrupted, so the other
    // order lets a second runner take this run as abandoned while it starts.
    run.write_status(&RunStatus::running(resume_from))?;
    record_start(run, config, &ds, &sp, resume_from)?;
    let mut metrics = MetricsWriter::open(&run.metrics_path())?;
    let (model, optim) = restore(run, model, mid_epoch.as_ref(), resume_from, &mut metrics)?;

    let train_items = items(&ds, &sp.train);
    let steps_per_epoch = train_items.len().div_ceil(config.batch_size);
    // The process's (and the GPU's) history while this function trains.
    let gpu = match config.device {
        crate::device::DeviceSpec::Cuda(i) => u32::try_from(i).ok(),
        _ => None,
    };
    let _system = super::system::Sampler::start(run.system_path(), gpu);
    emit(TrainEvent::Started {
        run_id: run.id(),
        run_dir: run.path.clone(),
        device: device_name.to_string(),
        classes: ds.classes.clone(),
        split_sizes: [sp.train.len(), sp.val.len(), sp.test.len()],
        steps_per_epoch,
        first_epoch: resume_from + 1,
        epochs: config.epochs,
    });
    for r in remarks {
        emit(TrainEvent::Warning(r));
    }
    let mut t = Training {
        run,
        config,
        device,
        base_device,
        classes: &ds.classes,
        train_items,
        val_items: items(&ds, &sp.val),
        steps_per_epoch,
        optim,
        metrics,
        last_epoch: resume_from,
        first_step: true,
    };
    let (model, stopped_early) = train_epochs(&mut t, model, mid_epoch, emit, stop)?;
    if !stopped_early {
        let _phase = crate::memory::Phase::start("base test");
        write_base_test(&t, &model, &ds, &sp.test, emit)?;
    }
    Ok(TrainOutcome {
        run_dir: run.clone(),
        last_epoch: t.last_epoch,
        stopped_early,
    })
}

/// Trains the epochs after `t.last_epoch` up to the configured number; the model as the
/// last epoch left it, and whether a stop request ended them early.
fn train_epochs(
    t: &mut Training,
    mut model: Classifier,
    mid_epoch: Option<EpochProgress>,
    emit: &mut dyn FnMut(TrainEvent),
    stop: &StopSignal,
) -> Result<(Classifier, bool), TrainError> {
    let epochs = t.config.epochs;
    for epoch in (t.last_epoch + 1)..=epochs {
        let started = Instant::now();
        let end;
        let phase = crate::memory::Phase::start("training steps");
        (model, end) = train_epoch(t, model, epoch, mid_epoch.as_ref(), emit, stop)?;
        drop(phase);
        let EpochEnd::Trained(sums) = end else {
            return Ok((model, true));
        };
        finish_epoch(t, &model, sums, started, emit)?;
        if matches!(stop.mode(), StopMode::AfterEpoch | StopMode::Checkpoint) && epoch < epochs {
            return Ok((model, true));
        }
    }
    Ok((model, false))
}

/// What the scan of the base set left out: skipped files and classes not used.
fn dataset_remarks(ds: &Dataset) -> Vec<String> {
    let mut remarks: Vec<String> = ds
        .skipped
        .iter()
        .map(|s| format!("skipped {}: {}", s.path.display(), s.reason))
        .collect();
    remarks.extend(
        ds.class_table
            .iter()
            .filter(|c| !c.kept)
            .map(|c| format!("class {} not used: {}", c.name, c.note)),
    );
    remarks
}

/// Writes `config.json` for a new run; for a resumed one, checks that the base set still has
/// the classes the run was trained on.
fn record_start(
    run: &RunDir,
    config: &TrainConfig,
    ds: &Dataset,
    sp: &Split,
    resume_from: usize,
) -> Result<(), TrainError> {
    if resume_from == 0 {
        let info = RunInfo {
            id: run.id(),
            config: config.clone(),
            classes: ds.classes.clone(),
            split_sizes: [sp.train.len(), sp.val.len(), sp.test.len()],
            device: config.device.to_string(),
            version: env!("CARGO_PKG_VERSION").into(),
            burn_version: "0.22.1".into(),
            git_commit: option_env!("BLOODSHOT_GIT_COMMIT").map(String::from),
            created_unix: unix_now(),
            source: None,
        };
        Ok(run.write_info(&info)?)
    } else {
        let info = run.info()?;
        if info.classes != ds.classes {
            return Err(format!(
                "cannot resume {}: the base dataset now has classes [{}], the run was trained on [{}]",
                run.id(),
                ds.classes.join(", "),
                info.classes.join(", ")
            ).into());
        }
        Ok(())
    }
}

/// `model` and a new optimizer for a new run; for a resumed one, both loaded from the
/// checkpoint it resumes from (`mid_epoch`'s when the run stopped mid-epoch).
fn restore(
    run: &RunDir,
    mut model: Classifier,
    mid_epoch: Option<&EpochProgress>,
    resume_from: usize,
    metrics: &mut MetricsWriter,
) -> Result<(Classifier, ModuleOptimizer), TrainError> {
    let mut optim = super::optimizer::optimizer();
    let resuming = resume_from > 0 || mid_epoch.is_some();
    if resuming {
        let dir = if mid_epoch.is_some() {
            run.interrupted_dir()
        } else {
            run.checkpoint_dir(resume_from)
        };
        (model, optim) = load_training_state(&dir, model, optim)?;
        remove_partial_checkpoints(run);
        metrics
            .write(&MetricRecord::Resumed {
                after_epoch: resume_from,
                at_step: mid_epoch.map(|p| p.steps_done),
            })
            .map_err(|e| format!("cannot write {}: {e}", run.metrics_path().display()))?;
    }
    Ok((model, optim))
}

/// Base-test report on the 20 % split, with the last epoch (BloodShot keeps the last).
fn write_base_test(
    t: &Training,
    model: &Classifier,
    ds: &Dataset,
    test: &[usize],
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<(), TrainError> {
    let valid = model.valid();
    let (truth, pred, _) = evaluate(
        &valid,
        t.config,
        items(ds, test),
        ds.classes.len(),
        &t.base_device,
        &mut |w| emit(TrainEvent::Warning(w)),
    );
    if let Some(w) = super::diagnose::one_class_collapse("base-test", &truth, &pred, &ds.classes) {
        emit(TrainEvent::Warning(w));
    }
    let report = BaseTestReport::from_predictions(ds.classes.clone(), t.last_epoch, &truth, &pred);
    write_json(&t.run.base_test_path(), &report)?;
    emit(TrainEvent::BaseTest {
        accuracy: report.metrics.accuracy,
        macro_f1: report.metrics.macro_f1,
    });
    Ok(())
}
