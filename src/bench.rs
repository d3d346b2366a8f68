//! Throughput measurements shared by `cargo bench --bench throughput` and the hidden
//! `bloodshot bench` command that `scripts/gpu-check.sh` runs on a GPU machine from one
//! prebuilt binary: embedding and training images/s on one device, with the first batch or
//! step (kernel compilation on a GPU) timed apart from the rest.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::model::inference::InferenceB0;
use crate::model::{Classifier, EfficientNetB0, Objective};
use crate::runs::TrainConfig;
use crate::train::loss::losses;

/// One embedding measurement.
#[derive(Debug, Clone)]
pub struct EmbedTiming {
    /// Images per batch.
    pub batch: usize,
    /// Seconds of the first batch (kernel compilation on a GPU).
    pub first_s: f64,
    /// Median seconds of the batches after it (a median, so that one batch slowed by
    /// another process does not move the figure).
    pub per_batch_s: f64,
}

impl EmbedTiming {
    /// Images per second after the first batch.
    pub fn images_per_s(&self) -> f64 {
        self.batch as f64 / self.per_batch_s.max(1e-12)
    }
}

/// Embeds one random batch `reps + 1` times (the median of the last `reps` timed) with a
/// fresh network in evaluation mode, batch norm folded (`folded`, as the k-shot path does) or not.
pub fn embed(dev: &Device, size: usize, batch: usize, reps: usize, folded: bool) -> EmbedTiming {
    let net = EfficientNetB0::new(dev).valid();
    let inference = InferenceB0::new(&net);
    let forward = |x: Tensor<4>| {
        if folded {
            inference.embed(x)
        } else {
            net.forward(x)
        }
    };
    let x = Tensor::<4>::random(
        [batch, 3, size, size],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        dev,
    );
    let t = Instant::now();
    let _ = forward(x.clone()).into_data();
    let first_s = t.elapsed().as_secs_f64();
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            let _ = forward(x.clone()).into_data();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    EmbedTiming {
        batch,
        first_s,
        per_batch_s: times[times.len() / 2],
    }
}

/// One training measurement.
#[derive(Debug, Clone)]
pub struct TrainTiming {
    /// Images per step.
    pub batch: usize,
    /// Seconds of each step, the first included.
    pub steps_s: Vec<f64>,
}

impl TrainTiming {
    /// Seconds of the first step.
    pub fn first_s(&self) -> f64 {
        self.steps_s.first().copied().unwrap_or(f64::NAN)
    }

    /// Median seconds of the steps after the first.
    pub fn median_s(&self) -> f64 {
        let mut rest = self.steps_s.get(1..).unwrap_or_default().to_vec();
        if rest.is_empty() {
            return f64::NAN;
        }
        rest.sort_by(f64::total_cmp);
        rest[rest.len() / 2]
    }

    /// Images per second at the median step.
    pub fn images_per_s(&self) -> f64 {
        self.batch as f64 / self.median_s()
    }
}

/// `steps` (at least 2) Adam steps of `objective` on one random batch of `batch` images of
/// `size` px, 11 classes, from a fresh model on `dev` (autodiff added here).
pub fn train(
    dev: &Device,
    objective: Objective,
    size: usize,
    batch: usize,
    steps: usize,
) -> TrainTiming {
    let ad = dev.clone().autodiff();
    let cfg = TrainConfig {
        objective,
        batch_size: batch,
        ..Default::default()
    };
    let mut model = Classifier::new(objective, 11, &ad);
    let mut optim = AdamConfig::new().init();
    let labels: Vec<usize> = (0..batch).map(|i| i % 11).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = Tensor::<4>::random(
        [batch, 3, size, size],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &ad,
    );
    let mut steps_s = Vec::new();
    for _ in 0..steps.max(2) {
        let t = Instant::now();
        // On the pool's workers, as `train` runs its steps.
        model = crate::model::cpu::on_workers(dev, || {
            let (total, ..) = losses(&model, &cfg, x.clone(), &labels, 11, &mut rng, true);
            let grads = GradientsParams::from_grads(total.backward(), &model);
            let model = optim.step(1e-3, model, grads);
            let _ = total.into_scalar::<f32>();
            model
        });
        steps_s.push(t.elapsed().as_secs_f64());
    }
    TrainTiming { batch, steps_s }
}

/// The human line and the machine-readable `RESULT` line of an embedding measurement.
pub fn embed_lines(t: &EmbedTiming, size: usize, folded: bool) -> [String; 2] {
    let what = if folded { "folded" } else { "unfolded" };
    [
        format!(
            "embed EfficientNet-B0 ({what}) {size} px batch {}: first batch {:.2} s, then {:.2} s/batch = {:.1} images/s",
            t.batch,
            t.first_s,
            t.per_batch_s,
            t.images_per_s()
        ),
        format!(
            "RESULT embed_{what} batch={} first_s={:.3} images_per_s={:.2}",
            t.batch,
            t.first_s,
            t.images_per_s()
        ),
    ]
}

/// The human line and the `RESULT` line of a training measurement.
pub fn train_lines(t: &TrainTiming, objective: Objective, size: usize) -> [String; 2] {
    [
        format!(
            "train {objective} {size} px batch {}: first step {:.2} s, median of the next {} {:.2} s = {:.1} images/s",
            t.batch,
            t.first_s(),
            t.steps_s.len().saturating_sub(1),
            t.median_s(),
            t.images_per_s()
        ),
        format!(
            "RESULT train_{objective} first_s={:.3} median_s={:.4} images_per_s={:.2}",
            t.first_s(),
            t.median_s(),
            t.images_per_s()
        ),
    ]
}
