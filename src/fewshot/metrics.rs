//! Classification metrics for one draw and summaries over a bank of draws.
//!
//! Undefined ratios (0/0) are reported as 0.0, the convention of scikit-learn's
//! `zero_division=0`, so that a class the model never predicts scores precision 0 rather
//! than poisoning the averages with NaN (NaN also cannot be written to JSON).

use serde::{Deserialize, Serialize};

/// Counts of (true class, predicted class) pairs; row = true class, column = predicted class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Number of classes (the matrix is `n_classes × n_classes`).
    pub n_classes: usize,
    /// Row-major counts: `counts[true_class * n_classes + predicted_class]`.
    pub counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An all-zero matrix for `n_classes` classes.
    pub fn new(n_classes: usize) -> Self {
        Self {
            n_classes,
            counts: vec![0; n_classes * n_classes],
        }
    }

    /// Records one query whose true class is `true_class` and which was predicted `predicted`.
    ///
    /// # Panics
    /// If either class index is `>= n_classes`; labels are validated by the sampler before
    /// anything reaches this point, so an out-of-range index is a bug, not bad input.
    pub fn add(&mut self, true_class: usize, predicted: usize) {
        assert!(
            true_class < self.n_classes && predicted < self.n_classes,
            "confusion matrix has {} classes, got true class {true_class} / predicted {predicted}",
            self.n_classes
        );
        self.counts[true_class * self.n_classes + predicted] += 1;
    }

    /// Number of queries of class `true_class` that were predicted `predicted`.
    pub fn get(&self, true_class: usize, predicted: usize) -> u64 {
        self.counts[true_class * self.n_classes + predicted]
    }

    /// Total number of queries recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Number of correctly classified queries (the diagonal).
    pub fn correct(&self) -> u64 {
        (0..self.n_classes).map(|c| self.get(c, c)).sum()
    }

    /// Number of queries whose true class is `true_class` (the class's support in sklearn terms).
    pub fn row_total(&self, true_class: usize) -> u64 {
        let start = true_class * self.n_classes;
        self.counts[start..start + self.n_classes].iter().sum()
    }

    /// Number of queries predicted as `predicted`.
    pub fn column_total(&self, predicted: usize) -> u64 {
        (0..self.n_classes).map(|t| self.get(t, predicted)).sum()
    }

    /// Adds `other`'s counts to this matrix.
    ///
    /// # Panics
    /// If the two matrices have different numbers of classes (a bug: all draws of a bank
    /// share the class list).
    pub fn merge(&mut self, other: &ConfusionMatrix) {
        assert_eq!(
            self.n_classes, other.n_classes,
            "cannot merge confusion matrices with different class counts"
        );
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }
}

/// Precision, recall and F1 of one class (0/0 counts as 0.0, sklearn's `zero_division=0`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// True positives / predicted positives.
    pub precision: f64,
    /// True positives / actual positives.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of queries whose true class is this class.
    pub support: u64,
}

/// All metrics of one draw, derived from its confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawMetrics {
    /// Fraction of queries classified correctly.
    pub accuracy: f64,
    /// Mean recall over the classes that have at least one query (sklearn's definition).
    pub balanced_accuracy: f64,
    /// Scores of each class, indexed by class.
    pub per_class: Vec<ClassScores>,
    /// Unweighted mean F1 over the classes that occur as truth or prediction (sklearn default).
    pub macro_f1: f64,
    /// Mean F1 weighted by each class's support (the figure BloodShot published).
    pub weighted_f1: f64,
    /// The confusion matrix everything above was computed from.
    pub confusion: ConfusionMatrix,
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

impl DrawMetrics {
    /// Computes accuracy, balanced accuracy and per-class / macro / weighted F1 from `confusion`.
    pub fn from_confusion(confusion: ConfusionMatrix) -> Self {
        let n = confusion.n_classes;
        let total = confusion.total();
        let per_class: Vec<ClassScores> = (0..n)
            .map(|c| {
                let true_positives = confusion.get(c, c);
                let support = confusion.row_total(c);
                let precision = ratio(true_positives, confusion.column_total(c));
                let recall = ratio(true_positives, support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();

        // sklearn's balanced_accuracy_score skips classes absent from y_true, and its
        // f1_score(average="macro") only averages the labels seen in y_true ∪ y_pred;
        // matching both keeps our numbers comparable with the published ones.
        let with_support: Vec<&ClassScores> = per_class.iter().filter(|s| s.support > 0).collect();
        let balanced_accuracy = if with_support.is_empty() {
            0.0
        } else {
            with_support.iter().map(|s| s.recall).sum::<f64>() / with_support.len() as f64
        };
        let seen: Vec<usize> = (0..n)
            .filter(|&c| per_class[c].support > 0 || confusion.column_total(c) > 0)
            .collect();
        let macro_f1 = if seen.is_empty() {
            0.0
        } else {
            seen.iter().map(|&c| per_class[c].f1).sum::<f64>() / seen.len() as f64
        };
        let weighted_f1 = if total == 0 {
            0.0
        } else {
            per_class
                .iter()
                .map(|s| s.f1 * s.support as f64)
                .sum::<f64>()
                / total as f64
        };

        Self {
            accuracy: ratio(confusion.correct(), total),
            balanced_accuracy,
            per_class,
            macro_f1,
            weighted_f1,
            confusion,
        }
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (for a two-sided 95 % CI):
/// 12.706 at df 1, 1.984 at df 99 (100 draws), → 1.960. Returns 0.0 for df = 0.
///
/// statrs' inverse CDF up to df 1000; beyond, its incomplete-beta inversion drifts (1.8266
/// at df 10⁷), so the Cornish–Fisher expansion around the normal quantile takes over, exact
/// to ~1e-10 there.
pub fn t_quantile_975(df: usize) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
    const Z_975: f64 = 1.959_963_984_540_054;
    if df == 0 {
        return 0.0;
    }
    if df <= 1000
        && let Ok(t) = StudentsT::new(0.0, 1.0, df as f64)
    {
        return t.inverse_cdf(0.975);
    }
    let z = Normal::standard().inverse_cdf(0.975);
    let z = if z.is_finite() { z } else { Z_975 };
    let n = df as f64;
    let (z3, z5) = (z.powi(3), z.powi(5));
    z + (z3 + z) / (4.0 * n) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
}

/// Mean, sample standard deviation and 95 % confidence interval of the mean of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean (0.0 for no values).
    pub mean: f64,
    /// Sample standard deviation with the n−1 denominator (0.0 for fewer than two values).
    pub std: f64,
    /// Lower end of the 95 % CI of the mean: mean − t_{0.975, n−1} · std / √n.
    pub ci95_low: f64,
    /// Upper end of the 95 % CI of the mean: mean + t_{0.975, n−1} · std / √n.
    pub ci95_high: f64,
}

impl Summary {
    /// Summarises `values`; with fewer than two values the CI collapses onto the mean.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Self {
                n: 0,
                mean: 0.0,
                std: 0.0,
                ci95_low: 0.0,
                ci95_high: 0.0,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n < 2 {
            0.0
        } else {
            let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            (squares / (n - 1) as f64).sqrt()
        };
        let half_width = t_quantile_975(n.saturating_sub(1)) * std / (n as f64).sqrt();
        Self {
            n,
            mean,
            std,
            ci95_low: mean - half_width,
            ci95_high: mean + half_width,
        }
    }
}

impl Summary {
    /// [`Summary::of`] values that are proportions (accuracy, precision, recall, F1): their
    /// mean lies in [0, 1], so the interval is cut there. Over few draws the t-interval
    /// reaches past it (two draws of 0.8 and 0.6: −0.57…1.97), which says nothing more and
    /// reads as an accuracy below zero; the cut interval covers the mean at least as often.
    pub fn of_proportions(values: &[f64]) -> Self {
        let s = Self::of(values);
        Self {
            ci95_low: s.ci95_low.clamp(0.0, 1.0),
            ci95_high: s.ci95_high.clamp(0.0, 1.0),
            ..s
        }
    }
}

/// Precision, recall and F1 of one class summarised over the draws of a bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    /// Precision over draws.
    pub precision: Summary,
    /// Recall over draws.
    pub recall: Summary,
    /// F1 over draws.
    pub f1: Summary,
}

/// Metrics aggregated over all draws of one k-shot evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KShotSummary {
    /// Number of draws aggregated.
    pub draws: usize,
    /// Accuracy over draws.
    pub accuracy: Summary,
    /// Balanced accuracy over draws.
    pub balanced_accuracy: Summary,
    /// Macro F1 over draws.
    pub macro_f1: Summary,
    /// Support-weighted F1 over draws.
    pub weighted_f1: Summary,
    /// Per-class precision / recall / F1 over draws, indexed by class.
    pub per_class: Vec<ClassSummary>,
    /// Sum of the confusion matrices of all draws.
    pub confusion: ConfusionMatrix,
    /// Accuracy of each draw, in draw order (for histograms).
    pub draw_accuracies: Vec<f64>,
    /// Macro-F1 of each draw, in draw order (for paired comparisons; empty in results saved
    /// before it was recorded).
    #[serde(default)]
    pub draw_macro_f1: Vec<f64>,
    /// F1 of each class in each draw, draw-major (for per-draw exports; empty in results
    /// saved before it was recorded).
    #[serde(default)]
    pub draw_class_f1: Vec<Vec<f64>>,
}

impl KShotSummary {
    /// Aggregates the metrics of a bank of draws; `None` when there are no draws.
    ///
    /// # Panics
    /// If the draws disagree on the number of classes (a bug: a bank shares one class list).
    pub fn from_draws(draws: &[DrawMetrics]) -> Option<Self> {
        let first = draws.first()?;
        let n_classes = first.confusion.n_classes;
        let summarise = |metric: &dyn Fn(&DrawMetrics) -> f64| {
            Summary::of_proportions(&draws.iter().map(metric).collect::<Vec<f64>>())
        };
        let mut confusion = ConfusionMatrix::new(n_classes);
        for draw in draws {
            confusion.merge(&draw.confusion);
        }
        let per_class = (0..n_classes)
            .map(|c| ClassSummary {
                precision: summarise(&|d| d.per_class[c].precision),
                recall: summarise(&|d| d.per_class[c].recall),
                f1: summarise(&|d| d.per_class[c].f1),
            })
            .collect();
        Some(Self {
            draws: draws.len(),
            accuracy: summarise(&|d| d.accuracy),
            balanced_accuracy: summarise(&|d| d.balanced_accuracy),
            macro_f1: summarise(&|d| d.macro_f1),
            weighted_f1: summarise(&|d| d.weighted_f1),
            per_class,
            confusion,
            draw_accuracies: draws.iter().map(|d| d.accuracy).collect(),
            draw_macro_f1: draws.iter().map(|d| d.macro_f1).collect(),
            draw_class_f1: draws
                .iter()
                .map(|d| d.per_class.iter().map(|c| c.f1).collect())
                .collect(),
        })
    }
}

/// Counts `values` in `bins` equal-width bins over `[lo, hi]`.
///
/// Bin i covers `[lo + i·w, lo + (i+1)·w)`, except that values exactly on `hi` go to the last
/// bin (an accuracy of 1.0 must be counted). Values outside `[lo, hi]` and NaN are ignored.
/// With a degenerate range (`hi <= lo`), values equal to `lo` go to the first bin so that a
/// bank whose draws all scored the same still shows up.
pub fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<u64> {
    let mut counts = vec![0u64; bins];
    if bins == 0 {
        return counts;
    }
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        counts[0] = values.iter().filter(|&&v| v == lo).count() as u64;
        return counts;
    }
    let width = (hi - lo) / bins as f64;
    for &value in values {
        if !(lo..=hi).contains(&value) {
            continue;
        }
        // The min() also catches values a rounding step below hi landing on index `bins`.
        let bin = (((value - lo) / width) as usize).min(bins - 1);
        counts[bin] += 1;
    }
    counts
}
