//! The Gram path of the exact scorer, for large banks: every residual inner product
//! `r̃_i · r̃_q` of a support-pool row with a query row is computed once per prepared target
//! and mode, so a draw costs `k · classes` additions per query instead of a `dim`-long dot
//! product per query and class.
//!
//! With `ρ_c = D_c − α_c·m` (the prototype's residual, exact in f64) and the draw's support
//! residuals `r̃_i`, `r̃_q·ρ_c` is approximated by `mean_{i∈S_c} R[i][q]` (minus the mean over
//! all support rows for `centre-support`). The approximation's error is bounded by the Gram
//! entries' own rounding, `|r̃_q|·|u_c|` with `u_c = ρ_c − (mean r̃_i − …)` computed exactly per
//! draw, and the rounding of `r_q` to f32. The scores and their bounds then go through the
//! scorer's own certification, and a query too close to call is rescored exactly: the
//! predictions equal the float64 reference draw by draw, as on the direct path.

use super::kernel::Kernel;
use super::scorer::{DrawPrototypes, Scorer, Work, score};
use super::{Normalization, dot64, norm};
use crate::fewshot::metrics::{ConfusionMatrix, DrawMetrics};
use crate::fewshot::sampler::Draw;

/// The largest Gram matrix built, in bytes (f32 entries): beyond it the direct path scores.
pub const GRAM_BUDGET_BYTES: usize = 512 << 20;

/// Banks of at least this many draws build the Gram matrix (once per target and mode): below
/// it the direct path is faster than the one-time product. Measured on C-NMC-sized sets
/// (`cargo bench --bench kshot`, 2 cores): the product takes ≈ 0.45 s and saves ≈ 0.13 ms per
/// draw, so it pays from ≈ 3,500 draws on.
pub const GRAM_MIN_DRAWS: usize = 4000;

/// The pool side of the Gram path and the inner products.
#[derive(Debug)]
pub(super) struct Gram {
    /// Residual rows `r̃_i` of the support pool (f32, row-major); empty for the pool protocol,
    /// whose pool rows are the query rows.
    residual: Vec<f32>,
    /// `|r̃_i|` per pool row.
    residual_norm: Vec<f64>,
    /// `R[i][q] = r̃_i · r̃_q`, row-major `pool × queries`.
    dots: Vec<f32>,
    /// Query rows per Gram row.
    n_queries: usize,
}

impl Gram {
    /// Bytes the matrix of `pool × queries` entries takes.
    pub(super) fn bytes(pool: usize, queries: usize) -> usize {
        pool.saturating_mul(queries)
            .saturating_mul(std::mem::size_of::<f32>())
    }

    /// Builds the Gram matrix of `scorer` on up to `threads` threads.
    pub(super) fn build(scorer: &Scorer, threads: usize) -> Gram {
        let dim = scorer.dim();
        let (residual, residual_norm) = scorer.pool_residuals();
        let n_pool = residual_norm.len();
        let n_queries = scorer.n_queries();
        let mut dots = vec![0f32; n_pool * n_queries];
        let kernel = Kernel::detect();
        let queries = scorer.query_residuals();
        let pool_row = |i: usize| -> &[f32] {
            if residual.is_empty() {
                &queries[i * dim..(i + 1) * dim]
            } else {
                &residual[i * dim..(i + 1) * dim]
            }
        };
        let rows_per_thread = n_pool.div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            for (t, chunk) in dots
                .chunks_mut(rows_per_thread * n_queries.max(1))
                .enumerate()
            {
                let pool_row = &pool_row;
                scope.spawn(move || {
                    for (j, out) in chunk.chunks_mut(n_queries.max(1)).enumerate() {
                        kernel.dots(pool_row(t * rows_per_thread + j), queries, dim, out);
                    }
                });
            }
        });
        Gram {
            residual,
            residual_norm,
            dots,
            n_queries,
        }
    }

    /// `r̃_i` of pool row `i` (the query row itself for the pool protocol).
    fn pool_residual<'a>(&'a self, scorer: &'a Scorer, i: usize) -> &'a [f32] {
        if self.residual.is_empty() {
            scorer.query_residual(i)
        } else {
            let dim = scorer.dim();
            &self.residual[i * dim..(i + 1) * dim]
        }
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.dots[i * self.n_queries..(i + 1) * self.n_queries]
    }
}

/// Scratch space of one thread on the Gram path.
#[derive(Debug, Default)]
struct GramWork {
    /// Per class, the sum of the Gram rows of its support rows, one entry per query.
    acc: Vec<Vec<f64>>,
    /// The same over all support rows (`centre-support`).
    acc_all: Vec<f64>,
    work: Work,
}

impl Scorer {
    /// Per class, the error bound of the Gram approximation of `r̃_q·ρ_c` divided by `|r̃_q|`:
    /// the Gram entries' rounding (scaled by the support residuals' mean length), `|u_c|` (the
    /// exact prototype residual's distance from what the sums stand for) and the rounding of
    /// `r_q` to f32.
    fn gram_slack(
        &self,
        g: &Gram,
        draw: &Draw,
        protos: &DrawPrototypes,
        n_classes: usize,
    ) -> Vec<f64> {
        let dim = self.dim();
        let centre = self.mode() == Normalization::CentreSupport;
        let pool_residual = |i: usize| g.pool_residual(self, i);
        // Mean support residual per class and over the whole support (f64), and the mean of
        // the residuals' lengths: the Gram sums' error scales with the latter.
        let mut means = vec![vec![0f64; dim]; n_classes];
        let mut mean_len = vec![0f64; n_classes];
        let mut all = vec![0f64; dim];
        let mut all_len = 0f64;
        let total = draw.support.all_indices().count().max(1) as f64;
        for (c, indices) in draw.support.per_class.iter().enumerate() {
            for &i in indices {
                means[c]
                    .iter_mut()
                    .zip(pool_residual(i))
                    .for_each(|(m, &r)| *m += f64::from(r));
                mean_len[c] += g.residual_norm[i];
            }
            let k = indices.len().max(1) as f64;
            if centre {
                all.iter_mut().zip(&means[c]).for_each(|(a, m)| *a += m);
                all_len += mean_len[c];
            }
            means[c].iter_mut().for_each(|m| *m /= k);
            mean_len[c] /= k;
        }
        all.iter_mut().for_each(|a| *a /= total);
        all_len /= total;
        // |u_c|: how far the exact prototype residual is from what the Gram sums stand for.
        let axis = self.axis();
        let dot_rel = self.dot_rel();
        let half_ulp = f64::from(f32::EPSILON) / 2.0;
        (0..n_classes)
            .map(|c| {
                let Some(d) = protos.exact.get(c).and_then(Option::as_ref) else {
                    return 0.0;
                };
                let alpha = protos.alpha[c];
                let u: Vec<f64> = d
                    .iter()
                    .zip(axis)
                    .zip(means[c].iter().zip(&all))
                    .map(|((v, m), (mc, ma))| {
                        (v - alpha * m) - (mc - if centre { *ma } else { 0.0 })
                    })
                    .collect();
                let gram_error = dot_rel * (mean_len[c] + if centre { all_len } else { 0.0 });
                gram_error + norm(&u) + 2.0 * half_ulp * protos.rho_norm[c]
            })
            .collect()
    }

    /// Metrics of one draw on the Gram path (the same predictions as the direct path).
    fn evaluate_draw_gram(
        &self,
        g: &Gram,
        query_labels: &[usize],
        draw: &Draw,
        n_classes: usize,
        w: &mut GramWork,
    ) -> DrawMetrics {
        let protos = self.prototypes(&draw.support);
        let centre = self.mode() == Normalization::CentreSupport;
        let slack = self.gram_slack(g, draw, &protos, n_classes);
        let total = draw.support.all_indices().count().max(1) as f64;
        // The Gram sums, for every query row at once (contiguous rows, vectorisable adds).
        w.acc.resize(n_classes, Vec::new());
        for (c, indices) in draw.support.per_class.iter().enumerate() {
            let acc = &mut w.acc[c];
            acc.clear();
            acc.resize(g.n_queries, 0.0);
            for &i in indices {
                acc.iter_mut()
                    .zip(g.row(i))
                    .for_each(|(a, &r)| *a += f64::from(r));
            }
        }
        if centre {
            w.acc_all.clear();
            w.acc_all.resize(g.n_queries, 0.0);
            for acc in &w.acc {
                w.acc_all.iter_mut().zip(acc).for_each(|(a, v)| *a += v);
            }
        }
        let mut confusion = ConfusionMatrix::new(n_classes);
        for &q in &draw.queries {
            let a = self.along(q);
            let r_norm = self.residual_norm(q);
            w.work.scores.clear();
            w.work.bounds.clear();
            for (c, indices) in draw.support.per_class.iter().enumerate() {
                let k = indices.len().max(1) as f64;
                let mut dot = w.acc[c][q] / k;
                if centre {
                    dot -= w.acc_all[q] / total;
                }
                let (s, b) = score(&protos, c, a, dot, r_norm * slack[c]);
                w.work.scores.push(s);
                w.work.bounds.push(b);
            }
            confusion.add(query_labels[q], self.decide(&protos, q, &w.work));
        }
        DrawMetrics::from_confusion(confusion)
    }

    /// Metrics of every draw of a bank on the Gram path, in draw order, on up to `threads`
    /// threads; `None` when the Gram matrix would exceed [`GRAM_BUDGET_BYTES`]. Builds the
    /// matrix on first use (kept for every later bank of this scorer).
    pub fn evaluate_bank_gram(
        &self,
        query_labels: &[usize],
        draws: &[Draw],
        n_classes: usize,
        threads: usize,
    ) -> Option<Vec<DrawMetrics>> {
        let g = self.gram(threads)?;
        Some(crate::fewshot::parallel::map_chunks(
            draws,
            threads,
            |chunk| {
                let mut w = GramWork::default();
                chunk
                    .iter()
                    .map(|d| self.evaluate_draw_gram(g, query_labels, d, n_classes, &mut w))
                    .collect()
            },
        ))
    }

    /// Why this scorer cannot build its Gram matrix (too large), in one sentence.
    pub fn gram_refusal(&self) -> Option<String> {
        let bytes = Gram::bytes(self.n_pool(), self.n_queries());
        (bytes > GRAM_BUDGET_BYTES).then(|| {
            format!(
                "the Gram matrix of {} support-pool rows × {} queries would take {} MB (more than {} MB): draws are scored one product at a time",
                self.n_pool(),
                self.n_queries(),
                bytes >> 20,
                GRAM_BUDGET_BYTES >> 20
            )
        })
    }
}

/// `|v|` of a pool residual row in f64 (as the queries' are measured).
pub(super) fn residual_length(row: &[f32]) -> f64 {
    row.iter()
        .map(|&r| f64::from(r) * f64::from(r))
        .sum::<f64>()
        .sqrt()
}

/// `y·m` in f64.
pub(super) fn along(row: &[f64], axis: &[f64]) -> f64 {
    dot64(row, axis)
}
