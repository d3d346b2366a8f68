//! One optimiser step: forward, losses, backward, update.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand_chacha::ChaCha8Rng;

use super::inputs::batch_tensor;
use super::loss::{accuracy, argmax_rows, losses, scalar};
use crate::data::loader::Batch;
use crate::model::Classifier;
use crate::runs::TrainConfig;

/// What one step measured.
pub(super) struct StepNumbers {
    /// Total loss.
    pub loss: f64,
    /// Classification (softmax / AAM) part.
    pub metric_loss: f64,
    /// Consistency part (0 when not used).
    pub consistency_loss: f64,
    /// Batch accuracy from plain scores (no margin).
    pub accuracy: f64,
    /// Correct plain-score predictions in the batch.
    pub correct: usize,
}

/// Trains `model` on one batch and returns it updated with the step's numbers. A loss that
/// is not finite comes back as `Err(loss)`, before the optimizer touches the weights. On the
/// CPU the step runs on the thread pool's workers ([`crate::model::cpu::on_workers`]).
pub(super) fn step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    config: &TrainConfig,
    batch: &Batch,
    n_classes: usize,
    device: &Device,
    rng: &mut ChaCha8Rng,
) -> Result<(Classifier, StepNumbers), f64> {
    crate::model::cpu::on_workers(device, || {
        step_here(model, optim, config, batch, n_classes, device, rng)
    })
}

/// [`step`] on the calling thread.
fn step_here(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    config: &TrainConfig,
    batch: &Batch,
    n_classes: usize,
    device: &Device,
    rng: &mut ChaCha8Rng,
) -> Result<(Classifier, StepNumbers), f64> {
    let x = batch_tensor(batch, config.image_size, device);
    let (total, metric, consistency, scores) =
        losses(&model, config, x, &batch.labels, n_classes, rng, true);
    let grads = total.backward();
    let loss = scalar(total.clone());
    let metric_loss = scalar(metric);
    let consistency_loss = consistency.map(scalar).unwrap_or(0.0);
    if !loss.is_finite() {
        return Err(loss);
    }
    let grads = GradientsParams::from_grads(grads, &model);
    let model = optim.step(config.lr, model, grads);
    let pred = argmax_rows(scores);
    let numbers = StepNumbers {
        loss,
        metric_loss,
        consistency_loss,
        accuracy: accuracy(&pred, &batch.labels),
        correct: pred
            .iter()
            .zip(&batch.labels)
            .filter(|(p, t)| p == t)
            .count(),
    };
    Ok((model, numbers))
}
