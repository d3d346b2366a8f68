//! Soft k-means refinement of the prototypes with the unlabelled queries (Ren et al. 2018,
//! "Meta-learning for semi-supervised few-shot classification"), in the cosine geometry of
//! the prototype method.
//!
//! Start from the class means `p_c` of the draw's support rows (minus the draw's shift). Each
//! refinement step gives every query `x_q` the soft assignment
//! `z_qc = softmax_c(cos(x_q, p_c) / T)` and moves each prototype to
//! `p_c = (Σ_{i ∈ S_c} x_i + Σ_q z_qc x_q) / (k_c + Σ_q z_qc)`; queries are then classified
//! by cosine to the refined prototypes. Ren et al. refine once; so does this.

use super::argmax;
use crate::fewshot::sampler::SupportSet;
use crate::fewshot::score::{TransformedRows, add_into, dot64, norm};

/// Refinement steps.
pub const ITERATIONS: usize = 1;

/// Temperature of the soft assignments (on cosines).
pub const TEMPERATURE: f64 = 0.1;

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let n = norm(a) * norm(b);
    if n > 0.0 && n.is_finite() {
        dot64(a, b) / n
    } else {
        0.0
    }
}

/// Soft assignment of `x` to the prototypes: `softmax(cos / T)`.
pub fn assignment(x: &[f64], prototypes: &[Vec<f64>]) -> Vec<f64> {
    let z: Vec<f64> = prototypes
        .iter()
        .map(|p| cosine(x, p) / TEMPERATURE)
        .collect();
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// One refinement step: each class's support sum and count plus the soft-assigned queries.
pub fn refine(
    support_sums: &[Vec<f64>],
    counts: &[usize],
    queries: &[Vec<f64>],
    prototypes: &[Vec<f64>],
) -> Vec<Vec<f64>> {
    let mut sums = support_sums.to_vec();
    let mut weights: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    for x in queries {
        for (c, z) in assignment(x, prototypes).into_iter().enumerate() {
            sums[c].iter_mut().zip(x).for_each(|(s, v)| *s += z * v);
            weights[c] += z;
        }
    }
    sums.into_iter()
        .zip(weights)
        .map(|(s, w)| {
            s.into_iter()
                .map(|v| if w > 0.0 { v / w } else { 0.0 })
                .collect()
        })
        .collect()
}

/// Classes of `queries` after `iterations` refinement steps (0: the plain prototypes).
pub fn predict(
    rows: &TransformedRows,
    shift: &[f64],
    support: &SupportSet,
    queries: &[usize],
    iterations: usize,
) -> Vec<usize> {
    let dim = rows.dim();
    let shifted = |row: &[f64]| -> Vec<f64> { row.iter().zip(shift).map(|(v, s)| v - s).collect() };
    let mut sums = vec![vec![0f64; dim]; support.n_classes()];
    let counts: Vec<usize> = support.per_class.iter().map(Vec::len).collect();
    for (class, indices) in support.per_class.iter().enumerate() {
        for &i in indices {
            add_into(&mut sums[class], &shifted(rows.support_row(i)));
        }
    }
    let mut prototypes: Vec<Vec<f64>> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &n)| s.iter().map(|v| v / n.max(1) as f64).collect())
        .collect();
    let x: Vec<Vec<f64>> = queries
        .iter()
        .map(|&q| shifted(rows.query_row(q)))
        .collect();
    for _ in 0..iterations {
        prototypes = refine(&sums, &counts, &x, &prototypes);
    }
    x.iter()
        .map(|x| argmax(&prototypes.iter().map(|p| cosine(x, p)).collect::<Vec<_>>()))
        .collect()
}
