//! One epoch of training: its steps over the shuffled training batches with their events
//! and stop checks, then validation, the epoch summary and the checkpoint.

use super::TrainError;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::events::{StopMode, StopSignal, TrainEvent};
use super::inputs::image_cache;
use super::loss::accuracy;
use super::step::{StepNumbers, step};
use super::validate::{evaluate, recalibrate_batch_norm};
use crate::data::loader::BatchLoader;
use crate::model::Classifier;
use crate::runs::{
    EpochProgress, EpochSummary, MetricRecord, MetricsWriter, RunDir, RunStatus, TrainConfig,
    save_checkpoint,
};

/// What the loop carries from epoch to epoch (everything but the model, which each step
/// takes and gives back).
pub(super) struct Training<'a> {
    /// The run being trained.
    pub run: &'a RunDir,
    /// Its configuration.
    pub config: &'a TrainConfig,
    /// Autodiff device of the training steps.
    pub device: Device,
    /// Plain device of validation.
    pub base_device: Device,
    /// Base classes, in label order.
    pub classes: &'a [String],
    /// Training images with labels.
    pub train_items: Vec<(PathBuf, usize)>,
    /// Validation images with labels.
    pub val_items: Vec<(PathBuf, usize)>,
    /// Steps in a full epoch.
    pub steps_per_epoch: usize,
    /// Optimizer state.
    pub optim: ModuleOptimizer,
    /// `metrics.jsonl`.
    pub metrics: MetricsWriter,
    /// Last complete epoch (checkpoint written).
    pub last_epoch: usize,
    /// No step has run yet in this process: the next one warms up.
    pub first_step: bool,
}

impl Training<'_> {
    fn write_metric(&mut self, record: &MetricRecord) -> Result<(), TrainError> {
        self.metrics
            .write(record)
            .map_err(|e| format!("cannot write {}: {e}", self.run.metrics_path().display()).into())
    }
}

/// How the steps of an epoch ended.
pub(super) enum EpochEnd {
    /// All batches trained on; the epoch's running sums.
    Trained(EpochProgress),
    /// Stopped by request before the end (a mid-epoch checkpoint is saved when asked for).
    Stopped,
}

/// Runs the steps of `epoch`, from the step after `mid_epoch`'s when that checkpoint
/// belongs to this epoch, reporting each step and checking for a stop request before it.
/// The model comes back as the last step left it.
pub(super) fn train_epoch(
    t: &mut Training,
    mut model: Classifier,
    epoch: usize,
    mid_epoch: Option<&EpochProgress>,
    emit: &mut dyn FnMut(TrainEvent),
    stop: &StopSignal,
) -> Result<(Classifier, EpochEnd), TrainError> {
    let config = t.config;
    let n_classes = t.classes.len();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(1_000_003) ^ epoch as u64);
    // Resuming inside this epoch: same shuffle, the applied steps skipped, sums restored.
    let resume_here = mid_epoch
        .filter(|p| p.epoch == epoch)
        .cloned()
        .unwrap_or_default();
    let loader = BatchLoader::start_at(
        t.train_items.clone(),
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
        if stopped(t, &model, &sums, stop, emit)? {
            return Ok((model, EpochEnd::Stopped));
        }
        if t.first_step {
            emit(TrainEvent::WarmingUp {
                what: warm_up(config.device),
            });
        }
        sums.steps_done += 1;
        let step_no = sums.steps_done;
        let (next, n) = step(
            model,
            &mut t.optim,
            config,
            &batch,
            n_classes,
            &t.device,
            &mut rng,
        )
        .map_err(|loss| {
            format!(
                "loss became {loss} at epoch {epoch} step {step_no}: stopped; checkpoints up to epoch {} are kept (try a lower --lr or --scale)",
                t.last_epoch
            )
        })?;
        model = next;
        let secs = last_tick.elapsed().as_secs_f64();
        last_tick = Instant::now();
        record_step(t, &mut sums, &n, batch.len(), secs, emit)?;
        t.first_step = false;
    }
    Ok((model, EpochEnd::Trained(sums)))
}

/// Whether a stop was asked for before the next step; on "checkpoint", the state after the
/// last step is saved first, so `--resume` continues from the next step.
fn stopped(
    t: &Training,
    model: &Classifier,
    sums: &EpochProgress,
    stop: &StopSignal,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<bool, TrainError> {
    match stop.mode() {
        StopMode::Now => Ok(true),
        StopMode::Checkpoint => {
            let epoch = sums.epoch;
            let path = save_checkpoint(&t.run.interrupted_dir(), model, &t.optim, sums)?;
            emit(TrainEvent::Checkpoint { epoch, path });
            emit(TrainEvent::Warning(format!(
                "stopped at epoch {epoch} step {}: the current state is saved; --resume continues from the next step",
                sums.steps_done
            )));
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// What the first step on `device` waits for.
fn warm_up(device: crate::device::DeviceSpec) -> String {
    format!(
        "first step on {device}: decoding images into the cache{}",
        if device == crate::device::DeviceSpec::Cpu {
            ""
        } else {
            ", compiling and autotuning GPU kernels (can take minutes)"
        }
    )
}

/// Adds step `sums.steps_done` (`images` images in `secs` seconds) to the epoch's sums,
/// writes its metrics record and reports it.
fn record_step(
    t: &mut Training,
    sums: &mut EpochProgress,
    n: &StepNumbers,
    images: usize,
    secs: f64,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<(), TrainError> {
    let (epoch, step) = (sums.epoch, sums.steps_done);
    let ips = images as f64 / secs.max(1e-9);
    sums.loss_sum += n.loss * images as f64;
    sums.consistency_sum += n.consistency_loss * images as f64;
    sums.correct += n.correct;
    sums.seen += images;
    t.write_metric(&MetricRecord::Step {
        epoch,
        step,
        loss: n.loss,
        metric_loss: n.metric_loss,
        consistency_loss: n.consistency_loss,
        accuracy: n.accuracy,
        images_per_sec: ips,
        steps: t.steps_per_epoch,
        seconds: secs,
    })?;
    emit(TrainEvent::Step {
        epoch,
        step,
        steps: t.steps_per_epoch,
        loss: n.loss,
        metric_loss: n.metric_loss,
        consistency_loss: n.consistency_loss,
        accuracy: n.accuracy,
        images_per_sec: ips,
        seconds: secs,
    });
    Ok(())
}

/// Ends a trained epoch begun at `started`: batch-norm recalibration, validation, the
/// summary and its warnings, then the checkpoint and the status that make it complete.
pub(super) fn finish_epoch(
    t: &mut Training,
    model: &Classifier,
    mut sums: EpochProgress,
    started: Instant,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<(), TrainError> {
    let config = t.config;
    let epoch = sums.epoch;
    if sums.seen == 0 {
        return Err(format!(
            "epoch {epoch}: no training image could be decoded (see the warnings)"
        )
        .into());
    }
    let train_secs = started.elapsed().as_secs_f64();
    emit(TrainEvent::Validating { epoch });
    {
        let _phase = crate::memory::Phase::start("recalibration");
        recalibrate_batch_norm(model, config, &t.train_items, epoch, &t.base_device);
    }
    let valid = model.valid();
    let phase = crate::memory::Phase::start("validation");
    let (truth, pred, val_loss) = evaluate(
        &valid,
        config,
        t.val_items.clone(),
        t.classes.len(),
        &t.base_device,
        &mut |w| emit(TrainEvent::Warning(w)),
    );
    drop(phase);
    let summary = EpochSummary {
        epoch,
        train_loss: sums.loss_sum / sums.seen as f64,
        train_consistency: sums.consistency_sum / sums.seen as f64,
        train_accuracy: sums.correct as f64 / sums.seen as f64,
        val_loss,
        val_accuracy: accuracy(&pred, &truth),
        seconds: started.elapsed().as_secs_f64(),
        images_per_sec: sums.seen as f64 / train_secs.max(1e-9),
    };
    t.write_metric(&MetricRecord::Epoch(summary.clone()))?;
    let chance = 1.0 / t.classes.len() as f64;
    if summary.train_accuracy > 0.9 && summary.val_accuracy <= 1.5 * chance && !truth.is_empty() {
        emit(TrainEvent::Warning(format!(
            "base validation collapsed: train accuracy {:.2} but validation {:.2} (chance {:.2}); the embedding is not learning transferable features — try a smaller --scale or --margin, or softmax",
            summary.train_accuracy, summary.val_accuracy, chance
        )));
    }
    if let Some(w) = super::diagnose::one_class_collapse("validation", &truth, &pred, t.classes) {
        emit(TrainEvent::Warning(w));
    }
    emit(TrainEvent::Epoch(summary));
    sums.complete = true;
    let path = save_checkpoint(&t.run.checkpoint_dir(epoch), model, &t.optim, &sums)?;
    // A mid-epoch checkpoint of this epoch is superseded now.
    let _ = std::fs::remove_dir_all(t.run.interrupted_dir());
    t.last_epoch = epoch;
    t.run.write_status(&RunStatus::running(epoch))?;
    emit(TrainEvent::Checkpoint { epoch, path });
    Ok(())
}
