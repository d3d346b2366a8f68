//! Prototype (nearest class mean) classification with cosine similarity.
//!
//! The BloodShot method: a class's prototype is the mean of its k raw support embeddings;
//! a query is assigned the class whose prototype has the highest cosine similarity.
//! Queries are L2-normalised once per evaluation and prototypes once per draw, so that the
//! hot loop is a plain dot product.

use super::metrics::{ConfusionMatrix, DrawMetrics};
use super::sampler::{Draw, FewShotError, SupportSet};

/// A row-major matrix of `n` embeddings of `dim` values each.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Values per embedding.
    pub dim: usize,
    /// `n * dim` values, embedding i at `rows[i * dim..(i + 1) * dim]`.
    pub rows: Vec<f32>,
}

impl Embeddings {
    /// Wraps `rows` as embeddings of `dim` values, checking that it holds whole rows.
    pub fn new(dim: usize, rows: Vec<f32>) -> Result<Self, FewShotError> {
        if dim == 0 || !rows.len().is_multiple_of(dim) {
            return Err(FewShotError::EmbeddingShape {
                dim,
                len: rows.len(),
            });
        }
        Ok(Self { dim, rows })
    }

    /// Number of embeddings.
    pub fn n(&self) -> usize {
        self.rows.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Embedding `i` as a slice of `dim` values.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    /// A copy with every row scaled to unit L2 norm (all-zero rows stay zero).
    pub fn l2_normalized(&self) -> Embeddings {
        let mut rows = self.rows.clone();
        if self.dim > 0 {
            rows.chunks_exact_mut(self.dim).for_each(normalize_in_place);
        }
        Embeddings {
            dim: self.dim,
            rows,
        }
    }
}

fn normalize_in_place(row: &mut [f32]) {
    // f64 accumulation: a 1280-d sum of squares in f32 loses digits the hot loop then inherits.
    let norm = row
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        let inverse = (1.0 / norm) as f32;
        row.iter_mut().for_each(|v| *v *= inverse);
    }
}

/// Independent partial sums in [`dot`]: four SSE (two AVX) registers, enough to hide the
/// latency of the vector adds, which otherwise bounds the loop rather than the multiplies.
const LANES: usize = 16;

/// Dot product of two equal-length slices.
///
/// The summation order is fixed (16 lane sums added in lane order, then the tail), so the
/// per-draw and the batched paths of this module produce bit-identical scores. The plain
/// in-order reduction matters for speed too: fancier pairwise reductions led LLVM to
/// vectorise the main loop two floats at a time instead of four.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0f32; LANES];
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            acc[lane] += ca[lane] * cb[lane];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// One L2-normalised prototype per class, row-major `n_classes × dim`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prototypes {
    /// Values per prototype.
    pub dim: usize,
    /// Number of classes (rows).
    pub n_classes: usize,
    /// `n_classes * dim` values; a class without support has an all-zero row.
    pub rows: Vec<f32>,
}

impl Prototypes {
    /// Mean of the raw support embeddings of each class, stored L2-normalised.
    ///
    /// The raw embeddings are averaged (as BloodShot did), not their normalised copies, so an
    /// embedding with a large norm pulls the prototype harder.
    ///
    /// # Panics
    /// If a support index is out of range of `support_embeddings` (the sampler and the
    /// embedding pass must describe the same pool).
    pub fn from_support(support_embeddings: &Embeddings, support: &SupportSet) -> Prototypes {
        let dim = support_embeddings.dim;
        let n_classes = support.n_classes();
        let mut rows = vec![0f32; n_classes * dim];
        if dim == 0 {
            return Prototypes {
                dim,
                n_classes,
                rows,
            };
        }
        for (prototype, indices) in rows.chunks_exact_mut(dim).zip(&support.per_class) {
            for &i in indices {
                for (sum, &v) in prototype.iter_mut().zip(support_embeddings.row(i)) {
                    *sum += v;
                }
            }
            // Dividing by k would not change the direction, and normalising erases the scale.
            normalize_in_place(prototype);
        }
        Prototypes {
            dim,
            n_classes,
            rows,
        }
    }

    /// Prototype of class `c`.
    pub fn row(&self, c: usize) -> &[f32] {
        &self.rows[c * self.dim..(c + 1) * self.dim]
    }
}

/// Index of the largest score; ties go to the lowest index (NaN never wins).
#[inline]
fn argmax(scores: impl IntoIterator<Item = f32>) -> usize {
    let mut best = 0;
    let mut best_score = f32::NEG_INFINITY;
    for (class, score) in scores.into_iter().enumerate() {
        if score > best_score {
            best = class;
            best_score = score;
        }
    }
    best
}

#[inline]
fn nearest_prototype(prototypes: &Prototypes, query: &[f32]) -> usize {
    argmax(
        prototypes
            .rows
            .chunks_exact(prototypes.dim)
            .map(|p| dot(p, query)),
    )
}

fn check_dims(prototypes_dim: usize, queries_dim: usize) {
    assert_eq!(
        prototypes_dim, queries_dim,
        "support embeddings have dim {prototypes_dim} but query embeddings have dim {queries_dim}"
    );
}

/// Class of each query `queries_normalized.row(q)` for q in `query_indices`: the prototype with
/// the highest cosine similarity, ties to the lowest class index.
///
/// `queries_normalized` must already be L2-normalised ([`Embeddings::l2_normalized`]), which
/// turns cosine similarity into a dot product.
pub fn predict(
    prototypes: &Prototypes,
    queries_normalized: &Embeddings,
    query_indices: &[usize],
) -> Vec<usize> {
    check_dims(prototypes.dim, queries_normalized.dim);
    if prototypes.dim == 0 {
        return vec![0; query_indices.len()];
    }
    query_indices
        .iter()
        .map(|&q| nearest_prototype(prototypes, queries_normalized.row(q)))
        .collect()
}

/// Metrics of one draw: prototypes from `draw.support` over `support_emb` (raw embeddings),
/// then every query of `draw.queries` classified against them.
///
/// For the pool protocol pass the pool's raw and normalised embeddings and its labels; for
/// the held-out protocol the support pool's raw embeddings and the query set's.
pub fn evaluate_draw(
    support_emb: &Embeddings,
    query_emb_normalized: &Embeddings,
    query_labels: &[usize],
    draw: &Draw,
    n_classes: usize,
) -> DrawMetrics {
    check_dims(support_emb.dim, query_emb_normalized.dim);
    let prototypes = Prototypes::from_support(support_emb, &draw.support);
    let mut confusion = ConfusionMatrix::new(n_classes);
    for &q in &draw.queries {
        let predicted = if prototypes.dim == 0 {
            0
        } else {
            nearest_prototype(&prototypes, query_emb_normalized.row(q))
        };
        confusion.add(query_labels[q], predicted);
    }
    DrawMetrics::from_confusion(confusion)
}

/// Prototype bytes per batch of draws: small enough to stay in L2 cache next to one query row.
const BATCH_PROTOTYPE_BYTES: usize = 160 * 1024;

/// Metrics of every draw of a bank, in draw order, using up to `threads` threads (0 means 1).
///
/// Gives exactly the results of calling [`evaluate_draw`] on each draw, but scores a batch
/// of draws per pass over the query embeddings: the query matrix (≈ 9.5 MB for C-NMC) is then
/// read from memory once per batch rather than once per draw.
pub fn evaluate_bank(
    support_emb: &Embeddings,
    query_emb_normalized: &Embeddings,
    query_labels: &[usize],
    draws: &[Draw],
    n_classes: usize,
    threads: usize,
) -> Vec<DrawMetrics> {
    check_dims(support_emb.dim, query_emb_normalized.dim);
    let threads = threads.clamp(1, draws.len().max(1));
    let evaluate = |chunk: &[Draw]| -> Vec<DrawMetrics> {
        let per_draw_bytes = (n_classes * support_emb.dim * std::mem::size_of::<f32>()).max(1);
        let batch = (BATCH_PROTOTYPE_BYTES / per_draw_bytes).max(1);
        chunk
            .chunks(batch)
            .flat_map(|batch| {
                evaluate_batch(
                    support_emb,
                    query_emb_normalized,
                    query_labels,
                    batch,
                    n_classes,
                )
            })
            .collect()
    };
    if threads == 1 {
        return evaluate(draws);
    }
    let chunk_len = draws.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = draws
            .chunks(chunk_len)
            .map(|chunk| scope.spawn(move || evaluate(chunk)))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Scores all draws of `batch` in one ascending pass over the query rows.
fn evaluate_batch(
    support_emb: &Embeddings,
    query_emb_normalized: &Embeddings,
    query_labels: &[usize],
    batch: &[Draw],
    n_classes: usize,
) -> Vec<DrawMetrics> {
    let dim = support_emb.dim;
    if dim == 0 {
        return batch
            .iter()
            .map(|draw| {
                evaluate_draw(
                    support_emb,
                    query_emb_normalized,
                    query_labels,
                    draw,
                    n_classes,
                )
            })
            .collect();
    }
    let prototypes: Vec<Prototypes> = batch
        .iter()
        .map(|draw| Prototypes::from_support(support_emb, &draw.support))
        .collect();
    let mut confusions = vec![ConfusionMatrix::new(n_classes); batch.len()];
    // A merge over the draws' query lists: each step takes the smallest pending query row and
    // serves every draw waiting on it, so a row is loaded once per batch. Every entry is
    // consumed exactly once, so unsorted or duplicate queries stay correct, only slower.
    let mut cursors = vec![0usize; batch.len()];
    loop {
        let next_row = batch
            .iter()
            .zip(&cursors)
            .filter_map(|(draw, &cursor)| draw.queries.get(cursor))
            .min();
        let Some(&row) = next_row else { break };
        let query = query_emb_normalized.row(row);
        for ((draw, cursor), (prototypes, confusion)) in batch
            .iter()
            .zip(cursors.iter_mut())
            .zip(prototypes.iter().zip(confusions.iter_mut()))
        {
            if draw.queries.get(*cursor) == Some(&row) {
                confusion.add(query_labels[row], nearest_prototype(prototypes, query));
                *cursor += 1;
            }
        }
    }
    confusions
        .into_iter()
        .map(DrawMetrics::from_confusion)
        .collect()
}
