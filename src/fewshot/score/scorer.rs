//! The exact scorer: the mode's transform, f64 prototypes, f32 residual dots with certified
//! error bounds, the exact fallback, and the float64 reference.

use std::sync::{Arc, OnceLock};

use super::gram::{GRAM_MIN_DRAWS, Gram};
use super::kernel::{Kernel, LANES};
use super::{Normalization, add_into, dot64, norm, to_f64};
use crate::fewshot::classify::Embeddings;
use crate::fewshot::metrics::{ConfusionMatrix, DrawMetrics};
use crate::fewshot::sampler::{Draw, SupportSet};

/// The mode's per-embedding transform (the draw-independent part), fitted on the target.
///
/// The float64 reference and the scorer's exact path both go through [`Transform::apply`],
/// so the two compute bit-identical transformed rows.
#[derive(Debug, Clone)]
struct Transform {
    mode: Normalization,
    /// `centre-target`: mean of the raw target rows; `cl2n`: mean of their unit rows.
    mean: Vec<f64>,
}

impl Transform {
    /// Fits the mode on every target row: the support pool, then the queries (if separate).
    fn fit(mode: Normalization, support: &Embeddings, queries: Option<&Embeddings>) -> Transform {
        let dim = support.dim;
        let mut mean = vec![0f64; dim];
        let mut n = 0usize;
        if mode.transductive() {
            let sets = std::iter::once(support).chain(queries);
            for set in sets {
                for i in 0..set.n() {
                    let row = to_f64(set.row(i));
                    let row = if mode == Normalization::Cl2n {
                        unit(&row)
                    } else {
                        row
                    };
                    add_into(&mut mean, &row);
                    n += 1;
                }
            }
            mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        }
        Transform { mode, mean }
    }

    /// The transformed row, in f64.
    fn apply(&self, row: &[f32]) -> Vec<f64> {
        let row = to_f64(row);
        match self.mode {
            Normalization::None | Normalization::CentreSupport => row,
            Normalization::CentreTarget => row.iter().zip(&self.mean).map(|(v, m)| v - m).collect(),
            Normalization::Cl2n => {
                let u = unit(&row);
                unit(
                    &u.iter()
                        .zip(&self.mean)
                        .map(|(v, m)| v - m)
                        .collect::<Vec<_>>(),
                )
            }
        }
    }
}

/// `row / |row|`, or the row itself when it is all zero.
fn unit(row: &[f64]) -> Vec<f64> {
    let n = norm(row);
    if n > 0.0 {
        row.iter().map(|v| v / n).collect()
    } else {
        row.to_vec()
    }
}

/// The exact (f64) prototypes of one support set: per class the mean of the transformed
/// support rows minus the shift (`centre-support`: the mean of all drawn support rows), and
/// the shift itself. `None` for a class without support.
fn exact_prototypes(
    transform: &Transform,
    support_emb: &Embeddings,
    support: &SupportSet,
) -> (Vec<Option<Vec<f64>>>, Vec<f64>) {
    let dim = support_emb.dim;
    let mut shift = vec![0f64; dim];
    let mut sums: Vec<Option<Vec<f64>>> = Vec::with_capacity(support.n_classes());
    let mut count = 0usize;
    for indices in &support.per_class {
        if indices.is_empty() {
            sums.push(None);
            continue;
        }
        let mut sum = vec![0f64; dim];
        for &i in indices {
            let row = transform.apply(support_emb.row(i));
            add_into(&mut sum, &row);
            if transform.mode == Normalization::CentreSupport {
                add_into(&mut shift, &row);
                count += 1;
            }
        }
        sums.push(Some(sum));
    }
    if count > 0 {
        shift.iter_mut().for_each(|s| *s /= count as f64);
    }
    let prototypes = sums
        .into_iter()
        .zip(&support.per_class)
        .map(|(sum, indices)| {
            sum.map(|sum| {
                sum.iter()
                    .zip(&shift)
                    .map(|(m, s)| m / indices.len() as f64 - s)
                    .collect()
            })
        })
        .collect();
    (prototypes, shift)
}

/// Exact cosines of a (shifted) query with each prototype; 0 for a zero vector.
fn exact_cosines(query: &[f64], prototypes: &[Option<Vec<f64>>]) -> Vec<f64> {
    let qn = norm(query);
    prototypes
        .iter()
        .map(|p| match p {
            Some(p) if norm(p) > 0.0 && qn > 0.0 => dot64(query, p) / (qn * norm(p)),
            _ => 0.0,
        })
        .collect()
}

/// A draw's exact (f64) prototypes and shift, as the float64 reference computes them.
pub(super) type ExactPrototypes = (Vec<Option<Vec<f64>>>, Vec<f64>);

/// The reference's cosines of query `q` with a draw's exact prototypes and shift.
pub(super) fn exact_cosines_of(
    scorer: &Scorer,
    (exact, shift): (&[Option<Vec<f64>>], &[f64]),
    q: usize,
) -> Vec<f64> {
    let y = scorer.transform.apply(scorer.query_raw().row(q));
    let shifted: Vec<f64> = y.iter().zip(shift).map(|(v, s)| v - s).collect();
    exact_cosines(&shifted, exact)
}

/// The class prototypes of one draw, ready for scoring queries.
#[derive(Debug, Clone)]
pub(super) struct DrawPrototypes {
    /// Exact prototypes (f64) and the shift, for the exact path.
    pub(super) exact: Vec<Option<Vec<f64>>>,
    pub(super) shift: Vec<f64>,
    /// Per class: `α_c = D_c·m`, `γ_c = ρ_c·m`, `1/|D_c|` (0 for a zero prototype), the bias
    /// `shift·D_c` and `|ρ_c|`.
    pub(super) alpha: Vec<f64>,
    pub(super) gamma: Vec<f64>,
    pub(super) inv_norm: Vec<f64>,
    pub(super) bias: Vec<f64>,
    pub(super) rho_norm: Vec<f64>,
    /// Per class `ρ_c = D_c − α_c·m` in f32 for the hot loop, row-major `n_classes × dim`.
    pub(super) rho: Vec<f32>,
}

/// One normalisation mode's view of a prepared target: everything a draw needs to be scored.
#[derive(Debug, Clone)]
pub struct Scorer {
    mode: Normalization,
    dim: usize,
    transform: Transform,
    axis: Vec<f64>,
    support_raw: Arc<Embeddings>,
    /// `None`: the queries are the support pool's rows (pool protocol).
    queries_raw: Option<Arc<Embeddings>>,
    /// Per query `a_q = y_q·m`.
    along: Vec<f64>,
    /// Per query `|r̃_q|`.
    residual_norm: Vec<f64>,
    /// Per query `r̃_q = f32(y_q − a_q·m)`, row-major.
    residual: Vec<f32>,
    /// Per query `|r_q − r̃_q|`: how far the f32 residual is from the f64 one.
    residual_err: Vec<f64>,
    /// The Gram path's matrix, built on first use by a large bank (`None`: too large).
    gram: Arc<OnceLock<Option<Gram>>>,
}

impl Scorer {
    /// Builds the scorer of `mode` from raw (un-normalised) embeddings.
    ///
    /// `queries` is `None` when the queries are the support pool itself (pool protocol).
    /// The target, for the transductive modes, is the support pool plus the queries.
    ///
    /// # Panics
    /// If the support and query embeddings differ in dimension.
    pub fn new(
        support: Arc<Embeddings>,
        queries: Option<Arc<Embeddings>>,
        mode: Normalization,
    ) -> Scorer {
        let dim = support.dim;
        if let Some(q) = &queries {
            assert_eq!(
                q.dim, dim,
                "support embeddings have dim {dim} but query embeddings have dim {}",
                q.dim
            );
        }
        let transform = Transform::fit(mode, &support, queries.as_deref());
        let query_set: &Embeddings = queries.as_deref().unwrap_or(&support);
        let rows: Vec<Vec<f64>> = (0..query_set.n())
            .map(|i| transform.apply(query_set.row(i)))
            .collect();
        let axis = common_axis(&rows, dim);
        let mut along = Vec::with_capacity(rows.len());
        let mut residual_norm = Vec::with_capacity(rows.len());
        let mut residual = Vec::with_capacity(rows.len() * dim);
        let mut residual_err = Vec::with_capacity(rows.len());
        for row in &rows {
            let (a, length, err) = split_row(row, &axis, &mut residual);
            residual_norm.push(length);
            residual_err.push(err);
            along.push(a);
        }
        Scorer {
            mode,
            dim,
            transform,
            axis,
            support_raw: support,
            queries_raw: queries,
            along,
            residual_norm,
            residual,
            residual_err,
            gram: Arc::default(),
        }
    }

    /// The mode this scorer applies.
    pub fn mode(&self) -> Normalization {
        self.mode
    }

    /// Number of query rows.
    pub fn n_queries(&self) -> usize {
        self.along.len()
    }

    fn query_raw(&self) -> &Embeddings {
        self.queries_raw.as_deref().unwrap_or(&self.support_raw)
    }

    fn residual(&self, q: usize) -> &[f32] {
        &self.residual[q * self.dim..(q + 1) * self.dim]
    }

    /// Values per row.
    pub(super) fn dim(&self) -> usize {
        self.dim
    }

    /// `a_q` of every query row.
    pub(super) fn along_all(&self) -> &[f64] {
        &self.along
    }

    /// `|r̃_q|` of every query row.
    pub(super) fn residual_norms(&self) -> &[f64] {
        &self.residual_norm
    }

    /// Every `r̃_q`, row-major.
    pub(super) fn query_residuals(&self) -> &[f32] {
        &self.residual
    }

    /// Rows of the support pool.
    pub(super) fn n_pool(&self) -> usize {
        self.support_raw.n()
    }

    /// Query row `q` transformed by the mode, in f64 (for tests of the scoring paths).
    #[cfg(test)]
    pub(super) fn transformed_query(&self, q: usize) -> Vec<f64> {
        self.transform.apply(self.query_raw().row(q))
    }

    /// Whether the support pool's rows are the query rows (the pool protocol).
    pub(super) fn pool_is_queries(&self) -> bool {
        self.queries_raw.is_none()
    }

    /// The support pool's rows split like the queries' ([`PoolSplit`]); for the pool
    /// protocol the rows are the queries' own, so the residual rows come back empty.
    pub(super) fn pool_split(&self) -> PoolSplit {
        if self.queries_raw.is_none() {
            return PoolSplit {
                residual: Vec::new(),
                residual_norm: self.residual_norm.clone(),
                along: self.along.clone(),
                residual_err: self.residual_err.clone(),
            };
        }
        let n = self.support_raw.n();
        let mut out = PoolSplit {
            residual: Vec::with_capacity(n * self.dim),
            residual_norm: Vec::with_capacity(n),
            along: Vec::with_capacity(n),
            residual_err: Vec::with_capacity(n),
        };
        for i in 0..n {
            let y = self.transform.apply(self.support_raw.row(i));
            let (a, length, err) = split_row(&y, &self.axis, &mut out.residual);
            out.along.push(a);
            out.residual_norm.push(length);
            out.residual_err.push(err);
        }
        out
    }

    /// The Gram matrix (built once, on up to `threads` threads), unless it is too large.
    pub(super) fn gram(&self, threads: usize) -> Option<&Gram> {
        if self.gram_refusal().is_some() {
            return None;
        }
        self.gram
            .get_or_init(|| Some(Gram::build(self, threads)))
            .as_ref()
    }

    /// The exact prototypes and shift of a support set (the reference's).
    pub(super) fn exact_prototypes(&self, support: &SupportSet) -> ExactPrototypes {
        exact_prototypes(&self.transform, &self.support_raw, support)
    }

    pub(super) fn prototypes(&self, support: &SupportSet) -> DrawPrototypes {
        let dim = self.dim;
        let n_classes = support.n_classes();
        let (exact, shift) = exact_prototypes(&self.transform, &self.support_raw, support);
        let mut out = DrawPrototypes {
            exact: Vec::new(),
            shift: Vec::new(),
            alpha: vec![0.0; n_classes],
            gamma: vec![0.0; n_classes],
            inv_norm: vec![0.0; n_classes],
            bias: vec![0.0; n_classes],
            rho_norm: vec![0.0; n_classes],
            rho: vec![0.0; n_classes * dim],
        };
        for (c, d) in exact.iter().enumerate() {
            // A class without support keeps an all-zero prototype: cosine 0 with everything.
            let Some(d) = d else { continue };
            let n = norm(d);
            if !(n > 0.0 && n.is_finite()) {
                continue;
            }
            let alpha = dot64(d, &self.axis);
            let rho: Vec<f64> = d
                .iter()
                .zip(&self.axis)
                .map(|(v, m)| v - alpha * m)
                .collect();
            out.inv_norm[c] = 1.0 / n;
            out.alpha[c] = alpha;
            out.gamma[c] = dot64(&rho, &self.axis);
            out.bias[c] = dot64(&shift, d);
            out.rho_norm[c] = norm(&rho);
            out.rho[c * dim..(c + 1) * dim]
                .iter_mut()
                .zip(&rho)
                .for_each(|(o, &v)| *o = v as f32);
        }
        out.exact = exact;
        out.shift = shift;
        out
    }

    /// The predicted class of query `q` given the residual dots `dots[c] = r̃_q·ρ̃_c`.
    ///
    /// The fast scores approximate `(y_q − shift)·D_c / |D_c|` (the cosine times a positive
    /// factor common to all classes) with a rigorous bound on their error. When the best
    /// class does not win by more than the bounds (and the tie tolerance), the query is
    /// rescored exactly as the float64 reference does, so the prediction always equals it.
    fn classify(&self, protos: &DrawPrototypes, q: usize, dots: &[f32], work: &mut Work) -> usize {
        let a = self.along[q];
        let r_norm = self.residual_norm[q];
        let dot_rel = self.dot_rel();
        work.scores.clear();
        work.bounds.clear();
        for (class, &dot) in dots.iter().enumerate() {
            let bound = dot_rel * r_norm * protos.rho_norm[class];
            let (score, bound) = score(protos, class, a, f64::from(dot), bound);
            work.scores.push(score);
            work.bounds.push(bound);
        }
        self.decide(protos, q, work)
    }

    /// Relative error bound of an f32 residual dot: (dim/16 + 5) roundings of at most 2^-24
    /// each on Σ|r̃ᵢρ̃ᵢ| ≤ |r̃||ρ̃|, plus the rounding of r and ρ to f32 (2^-24 each); a 1.5
    /// safety factor.
    pub(super) fn dot_rel(&self) -> f64 {
        1.5 * ((self.dim / LANES) as f64 + 8.0) * f64::from(f32::EPSILON) / 2.0
    }

    /// The class of query `q` from the fast scores and bounds in `work`: the best one when it
    /// wins by more than the bounds, else what the float64 reference's arithmetic says.
    pub(super) fn decide(&self, protos: &DrawPrototypes, q: usize, work: &Work) -> usize {
        let best = argmax(&work.scores);
        let scale = work
            .scores
            .iter()
            .zip(&work.bounds)
            .fold(0f64, |m, (s, b)| m.max(s.abs() + b));
        let certain = work
            .scores
            .iter()
            .zip(&work.bounds)
            .enumerate()
            .all(|(c, (s, b))| {
                c == best || work.scores[best] - s > work.bounds[best] + b + 4.0 * TIE * scale
            });
        if certain && work.scores.iter().all(|s| s.is_finite()) {
            return best;
        }
        // Too close to call in f32: the reference's own arithmetic decides.
        argmax(&exact_cosines_of(self, (&protos.exact, &protos.shift), q))
    }

    /// Class of each query in `query_indices` for the support set `support`: the prototype
    /// with the highest cosine, ties to the lowest class index.
    pub fn predict(&self, support: &SupportSet, query_indices: &[usize]) -> Vec<usize> {
        let protos = self.prototypes(support);
        let kernel = Kernel::detect();
        let mut dots = vec![0f32; support.n_classes()];
        let mut work = Work::default();
        query_indices
            .iter()
            .map(|&q| {
                kernel.dots(self.residual(q), &protos.rho, self.dim, &mut dots);
                self.classify(&protos, q, &dots, &mut work)
            })
            .collect()
    }

    /// Metrics of one draw, classifying every query of `draw.queries`.
    pub fn evaluate_draw(
        &self,
        query_labels: &[usize],
        draw: &Draw,
        n_classes: usize,
    ) -> DrawMetrics {
        let mut confusion = ConfusionMatrix::new(n_classes);
        for (&q, p) in draw
            .queries
            .iter()
            .zip(self.predict(&draw.support, &draw.queries))
        {
            confusion.add(query_labels[q], p);
        }
        DrawMetrics::from_confusion(confusion)
    }

    /// Metrics of every draw of a bank, in draw order, on up to `threads` threads (0 means 1).
    ///
    /// Exactly the results of [`Scorer::evaluate_draw`] on each draw, but a batch of draws is
    /// scored per pass over the query rows, so that the query matrix is read from memory once
    /// per batch rather than once per draw.
    pub fn evaluate_bank(
        &self,
        query_labels: &[usize],
        draws: &[Draw],
        n_classes: usize,
        threads: usize,
    ) -> Vec<DrawMetrics> {
        // Large banks (or any bank once the matrix exists) take the Gram path.
        if (draws.len() >= GRAM_MIN_DRAWS || self.gram.get().is_some())
            && let Some(m) = self.evaluate_bank_gram(query_labels, draws, n_classes, threads)
        {
            return m;
        }
        let per_draw_bytes = (n_classes * self.dim * std::mem::size_of::<f32>()).max(1);
        let batch = (BATCH_PROTOTYPE_BYTES / per_draw_bytes).max(1);
        crate::fewshot::parallel::map_chunks(draws, threads, |chunk| {
            chunk
                .chunks(batch)
                .flat_map(|b| self.evaluate_batch(query_labels, b, n_classes))
                .collect()
        })
    }

    fn evaluate_batch(
        &self,
        query_labels: &[usize],
        batch: &[Draw],
        n_classes: usize,
    ) -> Vec<DrawMetrics> {
        let dim = self.dim;
        let kernel = Kernel::detect();
        let protos: Vec<DrawPrototypes> =
            batch.iter().map(|d| self.prototypes(&d.support)).collect();
        // All prototypes of the batch in one matrix, so one query row meets them all.
        let mut rho = Vec::with_capacity(batch.len() * n_classes * dim);
        for p in &protos {
            rho.extend_from_slice(&p.rho);
        }
        let mut dots = vec![0f32; batch.len() * n_classes];
        let mut work = Work::default();
        let mut confusions = vec![ConfusionMatrix::new(n_classes); batch.len()];
        // A merge over the draws' query lists: each step takes the smallest pending query row
        // and serves every draw waiting on it. Every entry is consumed exactly once, so
        // unsorted or duplicate queries stay correct, only slower.
        let mut cursors = vec![0usize; batch.len()];
        loop {
            let next_row = batch
                .iter()
                .zip(&cursors)
                .filter_map(|(draw, &cursor)| draw.queries.get(cursor))
                .min();
            let Some(&row) = next_row else { break };
            kernel.dots(self.residual(row), &rho, dim, &mut dots);
            for (b, (draw, cursor)) in batch.iter().zip(cursors.iter_mut()).enumerate() {
                if draw.queries.get(*cursor) == Some(&row) {
                    let predicted = self.classify(
                        &protos[b],
                        row,
                        &dots[b * n_classes..(b + 1) * n_classes],
                        &mut work,
                    );
                    confusions[b].add(query_labels[row], predicted);
                    *cursor += 1;
                }
            }
        }
        confusions
            .into_iter()
            .map(DrawMetrics::from_confusion)
            .collect()
    }
}

/// The fast score of `class` for a query split as `a·m + r`, from `dot ≈ r·ρ_c` whose error
/// is at most `dot_bound`: the score and its error bound (0 and 0 for a zero prototype).
pub(super) fn score(
    protos: &DrawPrototypes,
    class: usize,
    a: f64,
    dot: f64,
    dot_bound: f64,
) -> (f64, f64) {
    let inv = protos.inv_norm[class];
    if inv == 0.0 {
        return (0.0, 0.0);
    }
    let alpha = protos.alpha[class];
    let big = a * alpha + a * protos.gamma[class] - protos.bias[class];
    let score = (big + dot) * inv;
    let f64_part = 1e-12
        * (a.abs() * (alpha.abs() + protos.gamma[class].abs())
            + protos.bias[class].abs()
            + dot.abs());
    (score, (dot_bound + f64_part) * inv)
}

/// Rows split along the common axis `m`: `y = a·m + r`, with `r` stored in f32.
#[derive(Debug, Default)]
pub(super) struct PoolSplit {
    /// `r̃ = f32(y − a·m)` per row, row-major (empty for the pool protocol).
    pub(super) residual: Vec<f32>,
    /// `|r̃|` per row.
    pub(super) residual_norm: Vec<f64>,
    /// `a = y·m` per row.
    pub(super) along: Vec<f64>,
    /// `|r − r̃|` per row, the f32 rounding of the residual.
    pub(super) residual_err: Vec<f64>,
}

/// Splits `row` along the unit axis: appends `r̃ = f32(row − a·m)` to `out` and returns `a`,
/// `|r̃|` and `|r − r̃|` (all in f64).
fn split_row(row: &[f64], axis: &[f64], out: &mut Vec<f32>) -> (f64, f64, f64) {
    let a = dot64(row, axis);
    let (mut length, mut err) = (0f64, 0f64);
    for (v, m) in row.iter().zip(axis) {
        let r = v - a * m;
        let rounded = r as f32;
        out.push(rounded);
        length += f64::from(rounded) * f64::from(rounded);
        err += (r - f64::from(rounded)) * (r - f64::from(rounded));
    }
    (a, length.sqrt(), err.sqrt())
}

/// Scratch space of [`Scorer::classify`].
#[derive(Debug, Default)]
pub(super) struct Work {
    pub(super) scores: Vec<f64>,
    pub(super) bounds: Vec<f64>,
}

/// Prototype bytes per batch of draws: small enough to stay in L2 cache next to a query row.
const BATCH_PROTOTYPE_BYTES: usize = 512 * 1024;

/// The unit mean direction of the rows (after normalising each), or the first basis vector.
fn common_axis(rows: &[Vec<f64>], dim: usize) -> Vec<f64> {
    let mut sum = vec![0f64; dim];
    for row in rows {
        let n = norm(row);
        if n > 0.0 && n.is_finite() {
            sum.iter_mut().zip(row).for_each(|(s, v)| *s += v / n);
        }
    }
    let n = norm(&sum);
    if n > 0.0 && n.is_finite() {
        sum.iter_mut().for_each(|s| *s /= n);
    } else if dim > 0 {
        sum.iter_mut().for_each(|s| *s = 0.0);
        sum[0] = 1.0;
    }
    sum
}

/// Scores closer than this (relative to the largest magnitude) count as tied: below it, f64
/// rounding of the score, not the data, would decide.
pub(super) const TIE: f64 = 1e-12;

/// Index of the largest score; ties (within [`TIE`]) go to the lowest index, NaN never wins.
pub(super) fn argmax(scores: &[f64]) -> usize {
    let scale = scores
        .iter()
        .filter(|s| s.is_finite())
        .fold(0f64, |m, s| m.max(s.abs()));
    let mut best = 0;
    let mut best_score = f64::NEG_INFINITY;
    for (class, &score) in scores.iter().enumerate() {
        if score > best_score + TIE * scale {
            best = class;
            best_score = score;
        }
    }
    best
}

/// The float64 reference: the mode's transform, prototypes and cosines, all in f64, the
/// plain way (slow; for tests and checks). Same arguments as [`Scorer::new`] and
/// [`Scorer::predict`].
pub fn reference_predict(
    support_emb: &Embeddings,
    queries_emb: Option<&Embeddings>,
    mode: Normalization,
    support: &SupportSet,
    query_indices: &[usize],
) -> Vec<usize> {
    let transform = Transform::fit(mode, support_emb, queries_emb);
    let (prototypes, shift) = exact_prototypes(&transform, support_emb, support);
    let query_set = queries_emb.unwrap_or(support_emb);
    query_indices
        .iter()
        .map(|&q| {
            let y = transform.apply(query_set.row(q));
            let shifted: Vec<f64> = y.iter().zip(&shift).map(|(v, s)| v - s).collect();
            argmax(&exact_cosines(&shifted, &prototypes))
        })
        .collect()
}

/// Every target row after a mode's draw-independent transform, in f64: what the classifiers
/// other than the prototype scorer start from (the same [`Transform::apply`] as the scorer's
/// exact path and the reference, so every classifier sees bit-identical rows).
#[derive(Debug, Clone)]
pub struct TransformedRows {
    mode: Normalization,
    dim: usize,
    support: Vec<f64>,
    /// `None`: the queries are the support pool's rows (pool protocol).
    queries: Option<Vec<f64>>,
}

impl TransformedRows {
    /// Fits `mode` on the target (support pool, then queries) and transforms every row.
    pub fn new(
        support: &Embeddings,
        queries: Option<&Embeddings>,
        mode: Normalization,
    ) -> TransformedRows {
        let transform = Transform::fit(mode, support, queries);
        let all = |set: &Embeddings| -> Vec<f64> {
            (0..set.n())
                .flat_map(|i| transform.apply(set.row(i)))
                .collect()
        };
        TransformedRows {
            mode,
            dim: support.dim,
            support: all(support),
            queries: queries.map(all),
        }
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Transformed support-pool row `i`.
    pub fn support_row(&self, i: usize) -> &[f64] {
        &self.support[i * self.dim..(i + 1) * self.dim]
    }

    /// Transformed query row `q` (a support-pool row for the pool protocol).
    pub fn query_row(&self, q: usize) -> &[f64] {
        let rows = self.queries.as_deref().unwrap_or(&self.support);
        &rows[q * self.dim..(q + 1) * self.dim]
    }

    /// The draw's shift, subtracted from every row: for `centre-support` the mean of the
    /// drawn support rows (as the prototype scorer computes it), else zero.
    pub fn shift(&self, support: &SupportSet) -> Vec<f64> {
        let mut shift = vec![0f64; self.dim];
        if self.mode != Normalization::CentreSupport {
            return shift;
        }
        let mut count = 0usize;
        for i in support.all_indices() {
            add_into(&mut shift, self.support_row(i));
            count += 1;
        }
        shift.iter_mut().for_each(|s| *s /= count.max(1) as f64);
        shift
    }
}
