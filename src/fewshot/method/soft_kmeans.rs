//! Soft k-means refinement of the prototypes with the unlabelled queries (Ren et al. 2018,
//! "Meta-learning for semi-supervised few-shot classification"), in the cosine geometry of
//! the prototype method.
//!
//! Start from the class means `p_c` of the draw's support rows (minus the draw's shift). Each
//! refinement step gives every query `x_q` the soft assignment
//! `z_qc = softmax_c(cos(x_q, p_c) / T)` and moves each prototype to
//! `p_c = (Σ_{i ∈ S_c} x_i + Σ_q z_qc x_q) / (k_c + Σ_q z_qc)`; queries are then classified
//! by cosine to the refined prototypes. Ren et al. refine once; so does this.

use super::{Shifted, argmax, dot4};
use crate::fewshot::sampler::SupportSet;
use crate::fewshot::score::{TransformedRows, add_into};

/// Refinement steps.
pub const ITERATIONS: usize = 1;

/// Temperature of the soft assignments (on cosines).
pub const TEMPERATURE: f64 = 0.1;

fn length(v: &[f64]) -> f64 {
    dot4(v, v).sqrt()
}

/// Cosines of `x` (of length `x_len`) with prototypes of lengths `lengths`; 0 against a zero
/// vector.
fn cosines(x: &[f64], x_len: f64, prototypes: &[Vec<f64>], lengths: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.extend(prototypes.iter().zip(lengths).map(|(p, &l)| {
        let n = x_len * l;
        if n > 0.0 && n.is_finite() {
            dot4(x, p) / n
        } else {
            0.0
        }
    }));
}

/// Turns cosines into the soft assignment `softmax(cos / T)`, in place.
fn soft_assign(z: &mut [f64]) {
    let max = z
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(v / TEMPERATURE));
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v / TEMPERATURE - max).exp();
        sum += *v;
    }
    z.iter_mut().for_each(|v| *v /= sum);
}

/// Soft assignment of `x` to the prototypes: `softmax(cos / T)`.
pub fn assignment(x: &[f64], prototypes: &[Vec<f64>]) -> Vec<f64> {
    let lengths: Vec<f64> = prototypes.iter().map(|p| length(p)).collect();
    let mut z = Vec::new();
    cosines(x, length(x), prototypes, &lengths, &mut z);
    soft_assign(&mut z);
    z
}

/// One refinement step: each class's support sum and count plus the soft-assigned queries
/// (`query(i)` for `i < n`: a row and its length).
fn step<'a>(
    support_sums: &[Vec<f64>],
    counts: &[usize],
    n: usize,
    query: &dyn Fn(usize) -> (&'a [f64], f64),
    prototypes: &[Vec<f64>],
) -> Vec<Vec<f64>> {
    let mut sums = support_sums.to_vec();
    let mut weights: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    let lengths: Vec<f64> = prototypes.iter().map(|p| length(p)).collect();
    let mut z = Vec::with_capacity(prototypes.len());
    for i in 0..n {
        let (x, x_len) = query(i);
        cosines(x, x_len, prototypes, &lengths, &mut z);
        soft_assign(&mut z);
        for (c, &zc) in z.iter().enumerate() {
            sums[c].iter_mut().zip(x).for_each(|(s, v)| *s += zc * v);
            weights[c] += zc;
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

/// One refinement step over `queries`, from the classes' support sums and counts.
pub fn refine(
    support_sums: &[Vec<f64>],
    counts: &[usize],
    queries: &[Vec<f64>],
    prototypes: &[Vec<f64>],
) -> Vec<Vec<f64>> {
    let lengths: Vec<f64> = queries.iter().map(|x| length(x)).collect();
    step(
        support_sums,
        counts,
        queries.len(),
        &|i| (&queries[i], lengths[i]),
        prototypes,
    )
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
    let mut sums = vec![vec![0f64; dim]; support.n_classes()];
    let counts: Vec<usize> = support.per_class.iter().map(Vec::len).collect();
    let mut row = vec![0f64; dim];
    for (class, indices) in support.per_class.iter().enumerate() {
        for &i in indices {
            row.iter_mut()
                .zip(rows.support_row(i).iter().zip(shift))
                .for_each(|(r, (v, s))| *r = v - s);
            add_into(&mut sums[class], &row);
        }
    }
    let mut prototypes: Vec<Vec<f64>> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &n)| s.iter().map(|v| v / n.max(1) as f64).collect())
        .collect();
    let x = Shifted::new(rows, shift, queries);
    let lengths: Vec<f64> = (0..x.len()).map(|i| length(x.row(i))).collect();
    let query = |i: usize| (x.row(i), lengths[i]);
    for _ in 0..iterations {
        prototypes = step(&sums, &counts, x.len(), &query, &prototypes);
    }
    let proto_lengths: Vec<f64> = prototypes.iter().map(|p| length(p)).collect();
    let mut cos = Vec::with_capacity(prototypes.len());
    (0..x.len())
        .map(|i| {
            cosines(x.row(i), lengths[i], &prototypes, &proto_lengths, &mut cos);
            argmax(&cos)
        })
        .collect()
}
