//! Paired differences between two evaluations on the same support-set draws: the mean
//! difference and a 95 % percentile-bootstrap interval, for Table 1 (objectives over training
//! seeds) and for comparing normalisations (or classifiers) of one run on one bank.
//!
//! Each resample draws the training seeds with replacement, then for each drawn seed the
//! draws with replacement — the same draw indices for both sides, since draw `j` is the same
//! support set for both — and averages the differences. The interval is the 2.5 and 97.5
//! percentiles of [`RESAMPLES`] resamples with a fixed seed, so it is reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::metrics::KShotSummary;

/// Bootstrap resamples of a paired difference.
pub const RESAMPLES: usize = 2000;

/// The paired difference of one evaluation to a baseline.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PairedDifference {
    /// Mean over the shared seeds and draws of (objective − baseline).
    pub mean: f64,
    /// 2.5 percentile of the bootstrap.
    pub low: f64,
    /// 97.5 percentile of the bootstrap.
    pub high: f64,
    /// Training seeds both sides have (1 when comparing evaluations of one run).
    pub seeds: usize,
    /// Draws per seed.
    pub draws: usize,
}

impl PairedDifference {
    /// The 95 % interval contains 0.
    pub fn significant(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// `+0.017 [+0.009, +0.025]`, with " not significant" when the interval contains 0: how
/// Table 1, the markdown report and `kshot` print a difference.
impl std::fmt::Display for PairedDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:+.3} [{:+.3}, {:+.3}]{}",
            self.mean,
            self.low,
            self.high,
            if self.significant() {
                ""
            } else {
                " not significant"
            }
        )
    }
}

/// Two-level percentile bootstrap of the mean of `diffs[seed][draw]`: seeds with
/// replacement, then draws with replacement within each drawn seed. `None` without data or
/// when the seeds disagree on the number of draws.
pub fn bootstrap(diffs: &[Vec<f64>], resamples: usize, seed: u64) -> Option<PairedDifference> {
    let n_s = diffs.len();
    let n_d = diffs.first()?.len();
    if n_d == 0 || diffs.iter().any(|d| d.len() != n_d) || resamples == 0 {
        return None;
    }
    let point = diffs.iter().map(|d| mean(d)).sum::<f64>() / n_s as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let mut total = 0.0;
            for _ in 0..n_s {
                let d = &diffs[rng.random_range(0..n_s)];
                for _ in 0..n_d {
                    total += d[rng.random_range(0..n_d)];
                }
            }
            total / (n_s * n_d) as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    Some(PairedDifference {
        mean: point,
        low: percentile(&means, 0.025),
        high: percentile(&means, 0.975),
        seeds: n_s,
        draws: n_d,
    })
}

/// Linear interpolation between order statistics (numpy's default).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The difference in per-draw accuracy of `other` to `baseline`, evaluated on the same
/// draws of one run (one training seed); `None` when they do not have the same draws.
pub fn versus(baseline: &KShotSummary, other: &KShotSummary) -> Option<PairedDifference> {
    let (a, b) = (&other.draw_accuracies, &baseline.draw_accuracies);
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    bootstrap(&[diffs], RESAMPLES, 0)
}

/// Several evaluations of one run on the same draws (normalisations, classifiers) compared
/// to the first: for each, its paired difference in accuracy to the first (`None` for the
/// first itself, for one that is missing, or when the draws differ). The console's K-shot tab
/// and `bloodshot kshot --normalize a,b,…` both show these.
pub fn to_first(summaries: &[Option<&KShotSummary>]) -> Vec<Option<PairedDifference>> {
    let first = summaries.first().copied().flatten();
    summaries
        .iter()
        .enumerate()
        .map(|(i, s)| match (i, first, s) {
            (0, ..) => None,
            (_, Some(b), Some(o)) => versus(b, o),
            _ => None,
        })
        .collect()
}
