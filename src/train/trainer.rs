//! The training loop.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::base_test::BaseTestReport;
use super::events::{StopMode, StopSignal, TrainEvent};
use crate::data::cache::ImageCache;
use crate::data::loader::{Batch, BatchLoader};
use crate::data::{Dataset, ScanOptions, scan, split};
use crate::model::heads::{aam_logits, cross_entropy, one_hot};
use crate::model::rotate::rotate;
use crate::model::{Classifier, Head, Objective};
use crate::runs::{
    EpochProgress, EpochSummary, MetricRecord, MetricsWriter, RunDir, RunInfo, RunState, RunStatus,
    TrainConfig, load_training_state, remove_partial_checkpoints, save_checkpoint, unix_now,
    write_json,
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

fn batch_tensor(batch: &Batch, size: u32, device: &Device) -> Tensor<4> {
    let s = size as usize;
    Tensor::from_data(
        TensorData::new(batch.pixels.clone(), [batch.len(), 3, s, s]),
        device,
    )
}

fn argmax_rows(scores: Tensor<2>) -> Vec<usize> {
    scores
        .argmax(1)
        .into_data()
        .iter::<i64>()
        .map(|v| v as usize)
        .collect()
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

/// Losses of one batch: (total, metric, consistency, plain scores for accuracy). Public for
/// the training benchmark, which times exactly what a training step runs.
pub fn losses(
    model: &Classifier,
    config: &TrainConfig,
    images: Tensor<4>,
    labels: &[usize],
    n_classes: usize,
    rng: &mut ChaCha8Rng,
    with_consistency: bool,
) -> (Tensor<1>, Tensor<1>, Option<Tensor<1>>, Tensor<2>) {
    let device = images.device();
    let target = one_hot(labels, n_classes, &device);
    let b = labels.len();
    let (emb, emb_rot) = if with_consistency && config.objective == Objective::AamConsistency {
        let angles: Vec<f32> = (0..b)
            .map(|_| rng.random::<f32>() * std::f32::consts::TAU)
            .collect();
        let rotated = rotate(images.clone(), &angles);
        // One forward pass over originals and rotated copies together.
        let both = model
            .embedder
            .forward(Tensor::cat(vec![images, rotated], 0));
        let mut parts = both.split(b, 0);
        let rot = parts.pop();
        (parts.remove(0), rot)
    } else {
        (model.embedder.forward(images), None)
    };
    let (metric, scores) = match &model.head {
        Head::Softmax(h) => {
            let logits = h.logits(emb.clone());
            (cross_entropy(logits.clone(), target), logits)
        }
        Head::Aam(h) => {
            let cos = h.cosines(emb.clone());
            let logits = aam_logits(cos.clone(), target.clone(), config.aam);
            (cross_entropy(logits, target), cos)
        }
    };
    let consistency = emb_rot.map(|r| (emb - r).powi_scalar(2).mean());
    let total = match &consistency {
        Some(c) => metric.clone() + c.clone().mul_scalar(config.lambda),
        None => metric.clone(),
    };
    (total, metric, consistency, scores)
}

fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
}

/// Re-estimates batch-norm running statistics with `config.bn_recalibration` training-mode
/// forward passes (no backward, no weight change) over training batches.
fn recalibrate_batch_norm(
    model: &Classifier,
    config: &TrainConfig,
    train_items: &[(PathBuf, usize)],
    epoch: usize,
    device: &Device,
) {
    let mut left = config.bn_recalibration;
    let s = config.image_size as usize;
    let mut round = 0u64;
    while left > 0 && train_items.len() >= 2 {
        let seed = config.seed ^ 0xB1A5 ^ ((epoch as u64) << 8) ^ round;
        let loader = BatchLoader::start(
            train_items.to_vec(),
            config.batch_size,
            image_cache(config),
            Some(seed),
            2,
        );
        let mut any = false;
        for batch in loader {
            if left == 0 {
                break;
            }
            if batch.len() < 2 {
                continue;
            }
            let x = Tensor::<4>::from_data(
                TensorData::new(batch.pixels, [batch.labels.len(), 3, s, s]),
                device,
            );
            // Reading the output forces the lazy forward; the graph is dropped unused.
            let _ = model.embedder.forward(x).into_data();
            left -= 1;
            any = true;
        }
        if !any {
            break;
        }
        round += 1;
    }
}

/// Loads the data the run trains on and splits it (deterministic from the config).
pub fn load_base(config: &TrainConfig) -> Result<(Dataset, crate::data::split::Split), String> {
    let opts = ScanOptions {
        min_class_size: config.min_class_size,
        limit_per_class: config.limit_per_class,
    };
    let ds = scan(&config.base, &opts, &mut |_, _| {}).map_err(|e| e.to_string())?;
    if ds.classes.len() < 2 {
        return Err(format!(
            "{}: only one class ({}) has enough images; training needs at least two",
            config.base.display(),
            ds.classes.join(", ")
        ));
    }
    let sp = split::split(&ds.labels(), ds.classes.len(), config.seed);
    if sp.train.len() < 2 {
        return Err(format!(
            "{}: only {} training images after the split",
            config.base.display(),
            sp.train.len()
        ));
    }
    Ok((ds, sp))
}

fn items(ds: &Dataset, idx: &[usize]) -> Vec<(PathBuf, usize)> {
    idx.iter()
        .map(|&i| (ds.samples[i].path.clone(), ds.samples[i].class))
        .collect()
}

fn image_cache(config: &TrainConfig) -> ImageCache {
    let root = crate::paths::cache_dir();
    ImageCache::new(
        config.use_cache.then_some(root.as_path()),
        config.image_size,
    )
}

/// Evaluates plain-score predictions (and the objective's loss) on a list of images.
fn evaluate(
    model: &Classifier,
    config: &TrainConfig,
    list: Vec<(PathBuf, usize)>,
    n_classes: usize,
    device: &Device,
    warn: &mut dyn FnMut(String),
) -> (Vec<usize>, Vec<usize>, f64) {
    let loader = BatchLoader::start(list, config.batch_size, image_cache(config), None, 2);
    let mut truth = Vec::new();
    let mut pred = Vec::new();
    let mut loss_sum = 0.0;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0xE7A1);
    for batch in loader {
        for (p, why) in &batch.failed {
            warn(format!("skipped {}: {why}", p.display()));
        }
        if batch.is_empty() {
            continue;
        }
        let x = batch_tensor(&batch, config.image_size, device);
        let (_, metric, _, scores) =
            losses(model, config, x, &batch.labels, n_classes, &mut rng, false);
        loss_sum += scalar(metric) * batch.len() as f64;
        pred.extend(argmax_rows(scores));
        truth.extend_from_slice(&batch.labels);
    }
    let loss = if truth.is_empty() {
        f64::NAN
    } else {
        loss_sum / truth.len() as f64
    };
    (truth, pred, loss)
}

/// Trains (or resumes) a run, reporting through `emit`. Errors are one sentence; whatever
/// was written before an error (metrics, checkpoints) stays valid.
pub fn train(
    start: Start,
    config: Option<TrainConfig>,
    emit: &mut dyn FnMut(TrainEvent),
    stop: &StopSignal,
) -> Result<TrainOutcome, String> {
    let (run, config, resume_from) = match start {
        Start::New(runs_dir) => {
            let config = config.ok_or("a new run needs a configuration")?;
            config.validate()?;
            if !config.base.is_dir() {
                return Err(format!(
                    "base dataset folder {} does not exist or is not a folder",
                    config.base.display()
                ));
            }
            (Err(runs_dir), config, 0)
        }
        Start::Resume {
            run,
            epochs,
            device,
        } => {
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
            if status.state == RunState::Running && !status.interrupted() {
                return Err(format!(
                    "run {} is being trained by another process (pid {}); stop it first",
                    run.id(),
                    status.pid.map_or("unknown".into(), |p| p.to_string())
                ));
            }
            if last >= config.epochs && run.base_test_path().is_file() {
                return Err(format!(
                    "run {} already finished its {} epochs; pass a larger --epochs to continue it",
                    run.id(),
                    config.epochs
                ));
            }
            if last > 0 && last != config.epochs {
                let mut info = run.info()?;
                info.config.epochs = config.epochs;
                run.write_info(&info)?;
            }
            (Ok(run), config, last)
        }
    };
    // The device first: one that cannot start leaves no run folder behind.
    let device_name = crate::device::describe(config.device);
    let base_device = crate::device::open(config.device)?;
    let run = match run {
        Ok(run) => run,
        Err(runs_dir) => RunDir::create(&runs_dir, config.objective.as_str())?,
    };
    let result = train_inner(
        &run,
        &config,
        resume_from,
        &base_device,
        &device_name,
        emit,
        stop,
    );
    match &result {
        Ok(o) => {
            let state = if o.stopped_early {
                RunState::Stopped
            } else {
                RunState::Finished
            };
            let _ = run.write_status(&RunStatus {
                state,
                last_epoch: o.last_epoch,
                message: o.stopped_early.then(|| "stopped by request".into()),
                pid: None,
            });
            emit(TrainEvent::Finished {
                run_dir: run.path.clone(),
                last_epoch: o.last_epoch,
                stopped_early: o.stopped_early,
            });
        }
        Err(e) if !run.path.join("config.json").exists() => {
            // Failed before anything was trained (e.g. an unusable dataset): no empty run.
            let _ = std::fs::remove_dir_all(&run.path);
            emit(TrainEvent::Failed { message: e.clone() });
        }
        Err(e) => {
            let _ = run.write_status(&RunStatus {
                state: RunState::Failed,
                last_epoch: run.last_checkpoint().unwrap_or(0),
                message: Some(e.clone()),
                pid: None,
            });
            emit(TrainEvent::Failed { message: e.clone() });
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn train_inner(
    run: &RunDir,
    config: &TrainConfig,
    resume_from: usize,
    base_device: &Device,
    device_name: &str,
    emit: &mut dyn FnMut(TrainEvent),
    stop: &StopSignal,
) -> Result<TrainOutcome, String> {
    let base_device = base_device.clone();
    let device = base_device.clone().autodiff();
    base_device.seed(config.seed);
    let (ds, sp) = load_base(config)?;
    let n_classes = ds.classes.len();
    // Reported right after `Started`, so a front end sees the run before its remarks.
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
        run.write_info(&info)?;
    } else {
        let info = run.info()?;
        if info.classes != ds.classes {
            return Err(format!(
                "cannot resume {}: the base dataset now has classes [{}], the run was trained on [{}]",
                run.id(),
                ds.classes.join(", "),
                info.classes.join(", ")
            ));
        }
    }
    run.write_status(&RunStatus {
        state: RunState::Running,
        last_epoch: resume_from,
        message: None,
        pid: Some(std::process::id()),
    })?;
    let mut metrics = MetricsWriter::open(&run.metrics_path())?;

    let mut model = Classifier::new(config.objective, n_classes, &device);
    let mut optim = AdamConfig::new().init();
    // A mid-epoch checkpoint (SIGTERM / SIGHUP) newer than the last complete epoch wins.
    let mid_epoch = run.interrupted_checkpoint();
    if resume_from > 0 || mid_epoch.is_some() {
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
                at_step: mid_epoch.as_ref().map(|p| p.steps_done),
            })
            .map_err(|e| format!("cannot write {}: {e}", run.metrics_path().display()))?;
    }

    let train_items = items(&ds, &sp.train);
    let steps_per_epoch = train_items.len().div_ceil(config.batch_size);
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
    let write_err =
        |e: std::io::Error| format!("cannot write {}: {e}", run.metrics_path().display());
    let mut last_epoch = resume_from;
    let mut first_step = true;
    let chance = 1.0 / n_classes as f64;

    for epoch in (resume_from + 1)..=config.epochs {
        let epoch_start = Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(1_000_003) ^ epoch as u64);
        // Resuming inside this epoch: same shuffle, the applied steps skipped, sums restored.
        let resume_here = mid_epoch
            .clone()
            .filter(|p| p.epoch == epoch)
            .unwrap_or_default();
        let loader = BatchLoader::start_at(
            train_items.clone(),
            config.batch_size,
            image_cache(config),
            Some(config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9)),
            2,
            resume_here.steps_done,
        );
        // Running sums of the epoch; also what a mid-epoch checkpoint saves.
        let mut sums = EpochProgress {
            epoch,
            ..resume_here
        };

        let mut last_tick = Instant::now();
        for batch in loader {
            for (p, why) in &batch.failed {
                emit(TrainEvent::Warning(format!(
                    "skipped {}: {why}",
                    p.display()
                )));
            }
            if batch.len() < 2 {
                continue; // batch norm needs two images; a lone remainder is skipped
            }
            match stop.mode() {
                StopMode::Now => {
                    return Ok(TrainOutcome {
                        run_dir: run.clone(),
                        last_epoch,
                        stopped_early: true,
                    });
                }
                StopMode::Checkpoint => {
                    let path = save_checkpoint(&run.interrupted_dir(), &model, &optim, &sums)?;
                    emit(TrainEvent::Checkpoint { epoch, path });
                    emit(TrainEvent::Warning(format!(
                        "stopped at epoch {epoch} step {}: the current state is saved; --resume continues from the next step",
                        sums.steps_done
                    )));
                    return Ok(TrainOutcome {
                        run_dir: run.clone(),
                        last_epoch,
                        stopped_early: true,
                    });
                }
                _ => {}
            }
            if first_step {
                emit(TrainEvent::WarmingUp {
                    what: format!(
                        "first step on {}: decoding images into the cache{}",
                        config.device,
                        if config.device == crate::device::DeviceSpec::Cpu {
                            ""
                        } else {
                            ", compiling and autotuning GPU kernels (can take minutes)"
                        }
                    ),
                });
            }
            sums.steps_done += 1;
            let step = sums.steps_done;
            let x = batch_tensor(&batch, config.image_size, &device);
            let (total, metric, consistency, scores) =
                losses(&model, config, x, &batch.labels, n_classes, &mut rng, true);
            let grads = total.backward();
            let loss = scalar(total.clone());
            let metric_v = scalar(metric);
            let cons_v = consistency.map(scalar).unwrap_or(0.0);
            if !loss.is_finite() {
                return Err(format!(
                    "loss became {loss} at epoch {epoch} step {step}: stopped; checkpoints up to epoch {last_epoch} are kept (try a lower --lr or --scale)"
                ));
            }
            let grads = GradientsParams::from_grads(grads, &model);
            model = optim.step(config.lr, model, grads);
            let pred = argmax_rows(scores);
            let acc = accuracy(&pred, &batch.labels);
            let secs = last_tick.elapsed().as_secs_f64();
            last_tick = Instant::now();
            let ips = batch.len() as f64 / secs.max(1e-9);
            sums.loss_sum += loss * batch.len() as f64;
            sums.consistency_sum += cons_v * batch.len() as f64;
            sums.correct += pred
                .iter()
                .zip(&batch.labels)
                .filter(|(p, t)| p == t)
                .count();
            sums.seen += batch.len();
            metrics
                .write(&MetricRecord::Step {
                    epoch,
                    step,
                    loss,
                    metric_loss: metric_v,
                    consistency_loss: cons_v,
                    accuracy: acc,
                    images_per_sec: ips,
                })
                .map_err(write_err)?;
            emit(TrainEvent::Step {
                epoch,
                step,
                steps: steps_per_epoch,
                loss,
                metric_loss: metric_v,
                consistency_loss: cons_v,
                accuracy: acc,
                images_per_sec: ips,
                seconds: secs,
            });
            first_step = false;
        }
        if sums.seen == 0 {
            return Err(format!(
                "epoch {epoch}: no training image could be decoded (see the warnings)"
            ));
        }
        let train_secs = epoch_start.elapsed().as_secs_f64();
        emit(TrainEvent::Validating { epoch });
        recalibrate_batch_norm(&model, config, &train_items, epoch, &device);
        let valid = model.valid();
        let (truth, pred, val_loss) = evaluate(
            &valid,
            config,
            items(&ds, &sp.val),
            n_classes,
            &base_device,
            &mut |w| emit(TrainEvent::Warning(w)),
        );
        let summary = EpochSummary {
            epoch,
            train_loss: sums.loss_sum / sums.seen as f64,
            train_consistency: sums.consistency_sum / sums.seen as f64,
            train_accuracy: sums.correct as f64 / sums.seen as f64,
            val_loss,
            val_accuracy: accuracy(&pred, &truth),
            seconds: epoch_start.elapsed().as_secs_f64(),
            images_per_sec: sums.seen as f64 / train_secs.max(1e-9),
        };
        metrics
            .write(&MetricRecord::Epoch(summary.clone()))
            .map_err(write_err)?;
        if summary.train_accuracy > 0.9 && summary.val_accuracy <= 1.5 * chance && !truth.is_empty()
        {
            emit(TrainEvent::Warning(format!(
                "base validation collapsed: train accuracy {:.2} but validation {:.2} (chance {:.2}); the embedding is not learning transferable features — try a smaller --scale or --margin, or softmax",
                summary.train_accuracy, summary.val_accuracy, chance
            )));
        }
        if let Some(w) =
            super::diagnose::one_class_collapse("validation", &truth, &pred, &ds.classes)
        {
            emit(TrainEvent::Warning(w));
        }
        emit(TrainEvent::Epoch(summary));
        sums.complete = true;
        let path = save_checkpoint(&run.checkpoint_dir(epoch), &model, &optim, &sums)?;
        // A mid-epoch checkpoint of this epoch is superseded now.
        let _ = std::fs::remove_dir_all(run.interrupted_dir());
        last_epoch = epoch;
        run.write_status(&RunStatus {
            state: RunState::Running,
            last_epoch,
            message: None,
            pid: Some(std::process::id()),
        })?;
        emit(TrainEvent::Checkpoint { epoch, path });
        if matches!(stop.mode(), StopMode::AfterEpoch | StopMode::Checkpoint)
            && epoch < config.epochs
        {
            return Ok(TrainOutcome {
                run_dir: run.clone(),
                last_epoch,
                stopped_early: true,
            });
        }
    }

    // Base-test report on the 20 % split, with the last epoch (BloodShot keeps the last).
    let valid = model.valid();
    let (truth, pred, _) = evaluate(
        &valid,
        config,
        items(&ds, &sp.test),
        n_classes,
        &base_device,
        &mut |w| emit(TrainEvent::Warning(w)),
    );
    if let Some(w) = super::diagnose::one_class_collapse("base-test", &truth, &pred, &ds.classes) {
        emit(TrainEvent::Warning(w));
    }
    let report = BaseTestReport::from_predictions(ds.classes.clone(), last_epoch, &truth, &pred);
    write_json(&run.base_test_path(), &report)?;
    emit(TrainEvent::BaseTest {
        accuracy: report.metrics.accuracy,
        macro_f1: report.metrics.macro_f1,
    });
    Ok(TrainOutcome {
        run_dir: run.clone(),
        last_epoch,
        stopped_early: false,
    })
}
