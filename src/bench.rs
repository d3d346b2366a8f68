//! Throughput measurements shared by `cargo bench --bench throughput` and the hidden
//! `bloodshot bench` command that `scripts/gpu-check.sh` runs on a GPU machine from one
//! prebuilt binary: embedding and training images/s on one device, with the first batch or
//! step (kernel compilation on a GPU) timed apart from the rest.

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
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
    /// another process does not move the figure); with a busy process alternating, of the
    /// quiet ones.
    pub per_batch_s: f64,
    /// With a busy process alternating ([`Busy`]), the median seconds of the batches timed
    /// beside it.
    pub busy_per_batch_s: Option<f64>,
}

impl EmbedTiming {
    /// Images per second after the first batch.
    pub fn images_per_s(&self) -> f64 {
        self.batch as f64 / self.per_batch_s.max(1e-12)
    }

    /// Images per second beside the busy process, when one alternated.
    pub fn busy_images_per_s(&self) -> Option<f64> {
        self.busy_per_batch_s
            .map(|s| self.batch as f64 / s.max(1e-12))
    }
}

/// Switches a busy process on (`true`) or off before each timed batch or step, so that a
/// measurement's quiet and busy halves alternate within one process, seconds apart, instead
/// of in two processes minutes apart (the drift of a shared VM between those is larger than
/// what one busy process costs). `scripts/cpu-bench.sh` with `BUSY=paired` passes the pid of
/// a stopped `nice -n 19` spinner, which the bench continues and stops.
pub type Busy<'a> = &'a mut dyn FnMut(bool);

/// Whether the `i`-th timed batch or step (from 0) runs beside the busy process: quiet,
/// busy, busy, quiet, and again, so that a steady drift falls on both halves alike.
pub fn busy_at(i: usize) -> bool {
    matches!(i % 4, 1 | 2)
}

/// The median of `v` (the upper one of an even count); `None` when empty.
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Embeds one random batch `reps + 1` times (the median of the last `reps` timed) with a
/// fresh network in evaluation mode, batch norm folded (`folded`, as the k-shot path does) or
/// not; with `busy`, the timed batches alternate beside a busy process ([`busy_at`]).
pub fn embed(
    dev: &Device,
    size: usize,
    batch: usize,
    reps: usize,
    folded: bool,
    mut busy: Option<Busy>,
) -> EmbedTiming {
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
    let (mut quiet, mut beside) = (Vec::new(), Vec::new());
    for i in 0..reps.max(1) {
        let on = busy.is_some() && busy_at(i);
        if let Some(set) = busy.as_mut() {
            set(on);
        }
        let t = Instant::now();
        let _ = forward(x.clone()).into_data();
        let s = t.elapsed().as_secs_f64();
        if on { &mut beside } else { &mut quiet }.push(s);
    }
    if let Some(set) = busy.as_mut() {
        set(false);
    }
    EmbedTiming {
        batch,
        first_s,
        per_batch_s: median(quiet).unwrap_or(f64::NAN),
        busy_per_batch_s: median(beside),
    }
}

/// One training measurement.
#[derive(Debug, Clone)]
pub struct TrainTiming {
    /// Images per step.
    pub batch: usize,
    /// Seconds of each step, the first included.
    pub steps_s: Vec<f64>,
    /// Whether each step ran beside the busy process (all `false` without one).
    pub busy: Vec<bool>,
}

impl TrainTiming {
    /// Seconds of the first step.
    pub fn first_s(&self) -> f64 {
        self.steps_s.first().copied().unwrap_or(f64::NAN)
    }

    /// The steps after the first that ran beside the busy process (`true`) or not.
    fn after_first(&self, busy: bool) -> Vec<f64> {
        let flags = self.busy.iter().chain(std::iter::repeat(&false));
        self.steps_s
            .iter()
            .zip(flags)
            .skip(1)
            .filter(|(_, b)| **b == busy)
            .map(|(s, _)| *s)
            .collect()
    }

    /// Median seconds of the quiet steps after the first.
    pub fn median_s(&self) -> f64 {
        median(self.after_first(false)).unwrap_or(f64::NAN)
    }

    /// Median seconds of the steps beside the busy process, when one alternated.
    pub fn busy_median_s(&self) -> Option<f64> {
        median(self.after_first(true))
    }

    /// Images per second at the median quiet step.
    pub fn images_per_s(&self) -> f64 {
        self.batch as f64 / self.median_s()
    }

    /// Images per second at the median step beside the busy process, when one alternated.
    pub fn busy_images_per_s(&self) -> Option<f64> {
        self.busy_median_s().map(|s| self.batch as f64 / s)
    }
}

/// `steps` (at least 2) Adam steps of `objective` on one random batch of `batch` images of
/// `size` px, 11 classes, from a fresh model on `dev` (autodiff added here); with `busy`, the
/// steps after the first alternate beside a busy process ([`busy_at`]).
pub fn train(
    dev: &Device,
    objective: Objective,
    size: usize,
    batch: usize,
    steps: usize,
    mut busy: Option<Busy>,
) -> TrainTiming {
    let ad = dev.clone().autodiff();
    let cfg = TrainConfig {
        objective,
        batch_size: batch,
        ..Default::default()
    };
    let mut model = Classifier::new(objective, 11, &ad);
    let mut optim = crate::train::optimizer::optimizer();
    let labels: Vec<usize> = (0..batch).map(|i| i % 11).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = Tensor::<4>::random(
        [batch, 3, size, size],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &ad,
    );
    let (mut steps_s, mut flags) = (Vec::new(), Vec::new());
    for i in 0..steps.max(2) {
        // The first step (allocations, kernel compilation on a GPU) is always quiet.
        let on = busy.is_some() && i > 0 && busy_at(i - 1);
        if let Some(set) = busy.as_mut() {
            set(on);
        }
        flags.push(on);
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
    if let Some(set) = busy.as_mut() {
        set(false);
    }
    TrainTiming {
        batch,
        steps_s,
        busy: flags,
    }
}

/// The human line and the machine-readable `RESULT` line of an embedding measurement.
pub fn embed_lines(t: &EmbedTiming, size: usize, folded: bool) -> [String; 2] {
    let what = if folded { "folded" } else { "unfolded" };
    [
        format!(
            "embed EfficientNet-B0 ({what}) {size} px batch {}: first batch {:.2} s, then {:.2} s/batch = {:.1} images/s{}",
            t.batch,
            t.first_s,
            t.per_batch_s,
            t.images_per_s(),
            beside_busy(t.busy_images_per_s())
        ),
        format!(
            "RESULT embed_{what} batch={} first_s={:.3} images_per_s={:.2}{}",
            t.batch,
            t.first_s,
            t.images_per_s(),
            busy_field(t.busy_images_per_s())
        ),
    ]
}

/// The human line and the `RESULT` line of a training measurement.
pub fn train_lines(t: &TrainTiming, objective: Objective, size: usize) -> [String; 2] {
    [
        format!(
            "train {objective} {size} px batch {}: first step {:.2} s, median of the next {} {:.2} s = {:.1} images/s{}",
            t.batch,
            t.first_s(),
            t.after_first(false).len(),
            t.median_s(),
            t.images_per_s(),
            beside_busy(t.busy_images_per_s())
        ),
        format!(
            "RESULT train_{objective} first_s={:.3} median_s={:.4} images_per_s={:.2}{}",
            t.first_s(),
            t.median_s(),
            t.images_per_s(),
            busy_field(t.busy_images_per_s())
        ),
    ]
}

/// The human lines' note of the figure beside the busy process.
fn beside_busy(busy: Option<f64>) -> String {
    busy.map(|b| format!("; beside the busy process {b:.1} images/s"))
        .unwrap_or_default()
}

/// The `RESULT` lines' field for the figure beside the busy process (named so that no
/// reader of `images_per_s=` takes it for the quiet one).
fn busy_field(busy: Option<f64>) -> String {
    busy.map(|b| format!(" busy_per_s={b:.2}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_steps_alternate_quiet_busy_busy_quiet() {
        let pattern: Vec<bool> = (0..8).map(busy_at).collect();
        assert_eq!(
            pattern,
            [false, true, true, false, false, true, true, false]
        );
    }

    #[test]
    fn quiet_and_busy_medians_come_from_their_own_steps() {
        // The first step (9 s) counts in neither; quiet steps 1, 1.5, 2 (median 1.5), busy
        // steps 4, 3, 5 (median 4).
        let t = TrainTiming {
            batch: 32,
            steps_s: vec![9.0, 1.0, 4.0, 3.0, 2.0, 1.5, 5.0],
            busy: vec![false, false, true, true, false, false, true],
        };
        assert_eq!(t.median_s(), 1.5);
        assert_eq!(t.busy_median_s(), Some(4.0));
        assert_eq!(t.images_per_s(), 32.0 / 1.5);
        assert_eq!(t.busy_images_per_s(), Some(8.0));
        assert!(train_lines(&t, Objective::Softmax, 64)[1].ends_with(" busy_per_s=8.00"));
        // Without a busy process: every step after the first is quiet, no busy field.
        let quiet = TrainTiming {
            busy: Vec::new(),
            ..t
        };
        assert_eq!(quiet.median_s(), 3.0);
        assert_eq!(quiet.busy_median_s(), None);
        assert!(train_lines(&quiet, Objective::Softmax, 64)[1].ends_with("images_per_s=10.67"));
    }
}
