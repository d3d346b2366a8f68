//! Few-shot classifiers over the embeddings of one draw: the seed's prototypes and two
//! alternatives from the literature, all scored on exactly the draws of one bank.
//!
//! Every classifier sees the rows of a normalisation mode ([`TransformedRows`]) minus the
//! draw's shift (`centre-support`), so methods and normalisations combine freely. All
//! arithmetic is f64 and deterministic: the same draw gives the same predictions on every
//! machine and thread count.

mod logistic;
mod soft_kmeans;

use crate::choice::UnknownChoice;
use serde::{Deserialize, Serialize};

pub use logistic::{
    Logistic, MAX_ITERATIONS as LOGISTIC_MAX_ITERATIONS, TOLERANCE as LOGISTIC_TOLERANCE,
};
pub use soft_kmeans::{
    ITERATIONS as SOFT_KMEANS_ITERATIONS, TEMPERATURE as SOFT_KMEANS_TEMPERATURE, assignment,
    refine,
};

use super::metrics::{ConfusionMatrix, DrawMetrics};
use super::sampler::{Draw, SupportSet};
use super::score::TransformedRows;

/// The classifier put on top of the embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Nearest class-mean prototype by cosine: the seed's method.
    #[default]
    Prototype,
    /// L2-regularised multinomial logistic regression on the L2-normalised support.
    Logistic,
    /// Prototypes refined with the unlabelled queries by soft k-means (transductive).
    SoftKmeans,
}

impl Method {
    /// Every method, in display order (the default first).
    pub const ALL: [Method; 3] = [Method::Prototype, Method::Logistic, Method::SoftKmeans];

    /// Name on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Prototype => "prototype",
            Method::Logistic => "logistic",
            Method::SoftKmeans => "soft-kmeans",
        }
    }

    /// Whether the method uses the unlabelled queries (transductive).
    pub fn transductive(self) -> bool {
        self == Method::SoftKmeans
    }

    /// Index in [`Method::ALL`].
    pub fn index(self) -> usize {
        Method::ALL.iter().position(|&m| m == self).unwrap_or(0)
    }

    /// One line: what it does and where it comes from.
    pub fn description(self) -> &'static str {
        match self {
            Method::Prototype => {
                "nearest class-mean prototype by cosine (Snell et al. 2017; the BloodShot method)"
            }
            Method::Logistic => {
                "L2-regularised logistic regression on the L2-normalised support (Tian et al. 2020, \"Rethinking few-shot image classification\")"
            }
            Method::SoftKmeans => {
                "prototypes refined by one soft k-means step over the unlabelled queries (Ren et al. 2018); transductive"
            }
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = UnknownChoice;
    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        match s {
            "prototype" | "prototypes" => Ok(Method::Prototype),
            "logistic" => Ok(Method::Logistic),
            "soft-kmeans" | "soft-k-means" => Ok(Method::SoftKmeans),
            _ => Err(UnknownChoice::new(
                "method",
                s,
                "prototype, logistic or soft-kmeans",
            )),
        }
    }
}

/// The logistic regression's default inverse regularisation strength: scikit-learn's
/// `C = 1.0`, which Tian et al. used.
pub const DEFAULT_LOGISTIC_C: f64 = 1.0;

/// A warning for soft k-means when the query classes are unbalanced (largest over smallest
/// class above 1.5): its soft assignments assume roughly equal classes.
pub fn balance_warning(query_labels: &[usize], classes: &[String]) -> Option<String> {
    let mut counts = vec![0usize; classes.len()];
    for &l in query_labels {
        if let Some(c) = counts.get_mut(l) {
            *c += 1;
        }
    }
    let max = *counts.iter().max()?;
    let min = *counts.iter().min()?;
    if min > 0 && (max as f64) <= 1.5 * min as f64 {
        return None;
    }
    let listed: Vec<String> = classes
        .iter()
        .zip(&counts)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    Some(format!(
        "soft-kmeans assumes balanced query classes, but these are unbalanced ({}); its refinement pulls prototypes towards the larger class",
        listed.join(", ")
    ))
}

/// The class of each query in `queries` (indices into the query rows) for one support set,
/// under `method` (not [`Method::Prototype`], which the exact scorer serves).
pub fn predict(
    rows: &TransformedRows,
    method: Method,
    logistic_c: f64,
    support: &SupportSet,
    queries: &[usize],
) -> Vec<usize> {
    let shift = rows.shift(support);
    match method {
        Method::Logistic => {
            let model = Logistic::fit_draw(rows, &shift, support, logistic_c);
            let x = Shifted::new(rows, &shift, queries);
            (0..x.len()).map(|i| model.predict(x.row(i))).collect()
        }
        // Prototypes are soft k-means without a refinement step (the exact scorer is the
        // fast way to them; this is the plain f64 one).
        Method::SoftKmeans => {
            soft_kmeans::predict(rows, &shift, support, queries, SOFT_KMEANS_ITERATIONS)
        }
        Method::Prototype => soft_kmeans::predict(rows, &shift, support, queries, 0),
    }
}

/// Metrics of every draw of a bank under `method`, in draw order, on up to `threads` threads.
pub fn evaluate_bank(
    rows: &TransformedRows,
    method: Method,
    logistic_c: f64,
    query_labels: &[usize],
    draws: &[Draw],
    n_classes: usize,
    threads: usize,
) -> Vec<DrawMetrics> {
    let one = |draw: &Draw| {
        let mut confusion = ConfusionMatrix::new(n_classes);
        let predicted = predict(rows, method, logistic_c, &draw.support, &draw.queries);
        for (&q, p) in draw.queries.iter().zip(predicted) {
            confusion.add(query_labels[q], p);
        }
        DrawMetrics::from_confusion(confusion)
    };
    crate::fewshot::parallel::map_chunks(draws, threads, |chunk| chunk.iter().map(one).collect())
}

/// `a · b` with four partial sums (vectorisable; the same value on every machine).
pub(crate) fn dot4(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// A draw's query rows minus its shift: borrowed when the shift is zero (every mode but
/// `centre-support`), one owned copy per draw otherwise.
pub(crate) struct Shifted<'a> {
    rows: &'a TransformedRows,
    queries: &'a [usize],
    owned: Vec<f64>,
}

impl<'a> Shifted<'a> {
    pub(crate) fn new(rows: &'a TransformedRows, shift: &[f64], queries: &'a [usize]) -> Self {
        let owned = if shift.iter().all(|&s| s == 0.0) {
            Vec::new()
        } else {
            queries
                .iter()
                .flat_map(|&q| rows.query_row(q).iter().zip(shift).map(|(v, s)| v - s))
                .collect()
        };
        Shifted {
            rows,
            queries,
            owned,
        }
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.queries.len()
    }

    /// Row `i` (the i-th query of the draw), shifted.
    pub(crate) fn row(&self, i: usize) -> &[f64] {
        if self.owned.is_empty() {
            self.rows.query_row(self.queries[i])
        } else {
            let dim = self.rows.dim();
            &self.owned[i * dim..(i + 1) * dim]
        }
    }
}

/// Index of the largest score, ties to the lowest index; NaN never wins.
pub(crate) fn argmax(scores: &[f64]) -> usize {
    let mut best = 0;
    let mut best_score = f64::NEG_INFINITY;
    for (c, &s) in scores.iter().enumerate() {
        if s > best_score {
            best = c;
            best_score = s;
        }
    }
    best
}
