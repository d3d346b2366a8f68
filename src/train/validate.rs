//! Evaluation on a split of the base set, and the batch-norm recalibration that comes
//! before it.

use std::path::PathBuf;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::inputs::{batch_tensor, image_cache};
use super::loss::{argmax_rows, losses, scalar};
use crate::data::loader::BatchLoader;
use crate::model::Classifier;
use crate::model::cpu::on_workers;
use crate::model::recalibrate::recalibrate;
use crate::runs::TrainConfig;

/// Evaluates plain-score predictions (and the objective's loss) on a list of images.
pub(super) fn evaluate(
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
        // On the pool's workers, as training steps run.
        let (metric, scores) = on_workers(device, || {
            let (_, metric, _, scores) =
                losses(model, config, x, &batch.labels, n_classes, &mut rng, false);
            (scalar(metric), argmax_rows(scores))
        });
        loss_sum += metric * batch.len() as f64;
        pred.extend(scores);
        truth.extend_from_slice(&batch.labels);
    }
    let loss = if truth.is_empty() {
        f64::NAN
    } else {
        loss_sum / truth.len() as f64
    };
    (truth, pred, loss)
}

/// Re-estimates batch-norm running statistics with `config.bn_recalibration` training-mode
/// forward passes (batch statistics, no graph, no backward, no weight change) over training
/// batches, on `base_device` (the training device without autodiff): one batch of
/// activations alive at a time ([`crate::model::recalibrate`]).
pub(super) fn recalibrate_batch_norm(
    model: &Classifier,
    config: &TrainConfig,
    train_items: &[(PathBuf, usize)],
    epoch: usize,
    base_device: &Device,
) {
    if config.bn_recalibration == 0 || train_items.len() < 2 {
        return;
    }
    let s = config.image_size as usize;
    let mut left = config.bn_recalibration;
    let mut round = 0u64;
    let mut loader: Option<BatchLoader> = None;
    let mut any_this_round = false;
    let batches = std::iter::from_fn(|| {
        while left > 0 {
            let current = loader.get_or_insert_with(|| {
                let seed = config.seed ^ 0xB1A5 ^ ((epoch as u64) << 8) ^ round;
                any_this_round = false;
                BatchLoader::start(
                    train_items.to_vec(),
                    config.batch_size,
                    image_cache(config),
                    Some(seed),
                    2,
                )
            });
            match current.next() {
                Some(batch) if batch.len() >= 2 => {
                    left -= 1;
                    any_this_round = true;
                    let n = batch.labels.len();
                    return Some(Tensor::<4>::from_data(
                        TensorData::new(batch.pixels, [n, 3, s, s]),
                        base_device,
                    ));
                }
                Some(_) => {}
                None if !any_this_round => return None,
                None => {
                    loader = None;
                    round += 1;
                }
            }
        }
        None
    });
    recalibrate(&model.embedder, batches);
}
