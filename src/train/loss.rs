//! The objective's losses on one batch, and the accuracy of plain-score predictions.

use burn::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::heads::{aam_logits, cross_entropy, one_hot};
use crate::model::rotate::rotate;
use crate::model::{Classifier, Head, Objective};
use crate::runs::TrainConfig;

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

/// Index of the highest score in each row.
pub(super) fn argmax_rows(scores: Tensor<2>) -> Vec<usize> {
    scores
        .argmax(1)
        .into_data()
        .iter::<i64>()
        .map(|v| v as usize)
        .collect()
}

/// The value of a one-element tensor.
pub(super) fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

/// Fraction of predictions equal to the truth (0 when there are none).
pub(super) fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
}
