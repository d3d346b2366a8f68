//! The Gram path of the exact scorer, for large banks: every residual inner product
//! `r̃_i · r̃_q` of a support-pool row with a query row is computed once per prepared target
//! and mode, so a draw costs `k · classes` additions per query instead of a `dim`-long dot
//! product per query and class.
//!
//! Every pool row is split once along the common axis, `y_i = a_i·m + r_i`, with `r̃_i` its
//! residual in f32 and `e_i = |r_i − r̃_i|` its rounding. A draw then needs, per class, only
//! sums: `α_c` from the `a_i`, the residual prototype `ρ̂_c` (the mean of the drawn `r̃_i`,
//! minus the mean over all drawn rows for `centre-support`) and its length, and the Gram sums
//! `r̃_q·ρ̂_c` for every query. The exact prototype residual `ρ_c` differs from `ρ̂_c` by at
//! most `U_c`, the mean of the drawn rows' `e_i`; with it the prototype length, the
//! `centre-support` bias and the residual dot get rigorous error bounds, the scores go
//! through the scorer's certification, and a query too close to call is rescored with the
//! exact f64 prototypes (built only for draws that have one): the predictions equal the
//! float64 reference draw by draw, as on the direct path.

use super::kernel::Kernel;
use super::scorer::{ExactPrototypes, PoolSplit, Scorer, TIE, argmax, exact_cosines_of};
use super::{Normalization, norm};
use crate::fewshot::metrics::{ConfusionMatrix, DrawMetrics};
use crate::fewshot::sampler::Draw;

/// The largest Gram matrix built, in bytes (f32 entries): beyond it the direct path scores.
pub const GRAM_BUDGET_BYTES: usize = 512 << 20;

/// Banks of at least this many draws build the Gram matrix (once per target and mode): below
/// it the direct path is faster than the one-time product. Measured on C-NMC-sized sets
/// (`cargo bench --bench kshot`, 2 cores): the product takes ≈ 0.45 s and saves ≈ 0.2 ms per
/// draw, so it pays from ≈ 2,000 draws on.
pub const GRAM_MIN_DRAWS: usize = 2500;

/// The pool side of the Gram path and the inner products.
#[derive(Debug)]
pub(super) struct Gram {
    /// The support pool's rows split along the axis (residual rows empty for the pool
    /// protocol, whose pool rows are the query rows).
    pool: PoolSplit,
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
        let pool = scorer.pool_split();
        let n_pool = pool.residual_norm.len();
        let n_queries = scorer.n_queries();
        let mut dots = vec![0f32; n_pool * n_queries];
        let kernel = Kernel::detect();
        let queries = scorer.query_residuals();
        let residual = &pool.residual;
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
            pool,
            dots,
            n_queries,
        }
    }

    /// `r̃_i` of pool row `i` (the query row itself for the pool protocol).
    fn pool_residual<'a>(&'a self, scorer: &'a Scorer, i: usize) -> &'a [f32] {
        if self.pool.residual.is_empty() {
            scorer.query_residual(i)
        } else {
            let dim = scorer.dim();
            &self.pool.residual[i * dim..(i + 1) * dim]
        }
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.dots[i * self.n_queries..(i + 1) * self.n_queries]
    }
}

/// What the Gram path knows of one class's prototype in a draw: the score's parts and the
/// bounds of their errors (see the module comment).
#[derive(Debug, Clone, Copy, Default)]
struct Class {
    /// Support rows drawn (0: the class scores 0 with everything, as in the reference).
    k: f64,
    /// `α_c = D_c·m`.
    alpha: f64,
    /// `1/N̂_c`, the prototype's approximate inverse length (0 for a class without support).
    inv: f64,
    /// Bound of `|N_c − N̂_c| / N_c` (infinite when `N̂_c` cannot be told from 0).
    inv_rel: f64,
    /// `shift·D_c` (`centre-support`; else 0) and the bound of its error.
    bias: f64,
    bias_err: f64,
    /// Per unit `|r̃_q|`, the bound of the Gram sum's distance from `r_q·ρ_c`.
    slack: f64,
}

/// `centre-support`'s shift: `σ` (the mean of the drawn rows' `a_i`), the bound of the mean
/// residual's rounding, the rows' mean length and the mean residual's length (all 0 without
/// a shift).
#[derive(Debug, Default, Clone, Copy)]
struct Shift {
    sigma: f64,
    u_all: f64,
    len_all: f64,
    len: f64,
}

/// How far an f64 sum of f32 rows can be from the exact one, relative to its terms:
/// negligible next to the f32 bounds, covered generously.
const F64_REL: f64 = 1e-12;

/// Scratch space of one thread on the Gram path.
#[derive(Debug, Default)]
struct GramWork {
    /// Per class, the sum of the drawn rows' `r̃_i` (f64, one dim-long row each).
    sums: Vec<Vec<f64>>,
    /// Their sum over all classes (`centre-support`).
    all: Vec<f64>,
    /// Per class, the sum of the Gram rows of its support rows, one entry per query.
    acc: Vec<Vec<f64>>,
    /// The same over all support rows divided by their number (`centre-support`; else 0).
    acc_all: Vec<f64>,
    classes: Vec<Class>,
    /// Per class, every query row's score and its error bound.
    score: Vec<Vec<f64>>,
    bound: Vec<Vec<f64>>,
    /// One query's scores and bounds (more than two classes).
    scores: Vec<f64>,
    bounds: Vec<f64>,
}

/// Adds the f32 `rows` to `acc` in f64, four rows per pass over `acc` (the sums are f64
/// either way; reading and writing `acc` once per four rows instead of once per row is
/// what makes a draw's `k · classes` rows cheap). The same loop, compiled for AVX2 where
/// [`crate::simd::level`] allows it, converts four floats per instruction instead of two.
fn add_rows<'a>(acc: &mut [f64], rows: impl Iterator<Item = &'a [f32]>) {
    let rows: Vec<&[f32]> = rows.collect();
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx2Fma {
        // SAFETY: `simd::level` reports AVX2 only when the CPU has it; the function is safe
        // Rust compiled with that feature.
        unsafe { add_rows_avx2(acc, &rows) };
        return;
    }
    add_rows_in(acc, &rows);
}

/// [`add_rows_in`] compiled with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn add_rows_avx2(acc: &mut [f64], rows: &[&[f32]]) {
    add_rows_in(acc, rows);
}

#[inline(always)]
fn add_rows_in(acc: &mut [f64], rows: &[&[f32]]) {
    let mut groups = rows.chunks_exact(4);
    for g in &mut groups {
        let four = g[0].iter().zip(g[1]).zip(g[2].iter().zip(g[3]));
        for (a, ((&x0, &x1), (&x2, &x3))) in acc.iter_mut().zip(four) {
            *a += (f64::from(x0) + f64::from(x1)) + (f64::from(x2) + f64::from(x3));
        }
    }
    for r in groups.remainder() {
        acc.iter_mut()
            .zip(r.iter())
            .for_each(|(a, &v)| *a += f64::from(v));
    }
}

/// The best class when it wins by more than the bounds (and the tie tolerance), as the
/// scorer's certification decides; `None` when too close to call.
fn certain(scores: &[f64], bounds: &[f64]) -> Option<usize> {
    if !scores.iter().all(|s| s.is_finite()) {
        return None;
    }
    let best = argmax(scores);
    let scale = scores
        .iter()
        .zip(bounds)
        .fold(0f64, |m, (s, b)| m.max(s.abs() + b));
    let (sb, bb) = (scores[best], bounds[best]);
    scores
        .iter()
        .zip(bounds)
        .enumerate()
        .all(|(c, (s, b))| c == best || sb - s > bb + b + 4.0 * TIE * scale)
        .then_some(best)
}

/// [`certain`] for two classes, without loops.
fn certain2([s0, s1]: [f64; 2], [b0, b1]: [f64; 2]) -> Option<usize> {
    if !(s0.is_finite() && s1.is_finite()) {
        return None;
    }
    // `argmax`: the second class wins only beyond the tie tolerance.
    let best = usize::from(s1 > s0 + TIE * s0.abs().max(s1.abs()));
    let scale = (s0.abs() + b0).max(s1.abs() + b1);
    let margin = if best == 0 { s0 - s1 } else { s1 - s0 };
    (margin > b0 + b1 + 4.0 * TIE * scale).then_some(best)
}

impl Scorer {
    /// Per class of a draw: the sum of its drawn rows' `r̃_i` (into `w.sums`) and the number
    /// of rows, `Σ a_i`, `Σ e_i` and `Σ |r̃_i|`.
    fn class_sums(
        &self,
        g: &Gram,
        draw: &Draw,
        n_classes: usize,
        w: &mut GramWork,
    ) -> Vec<(f64, f64, f64, f64)> {
        let p = &g.pool;
        w.sums.resize_with(n_classes, Vec::new);
        let mut per_class = vec![(0f64, 0f64, 0f64, 0f64); n_classes];
        for (c, ((k, a, e, len), sum)) in per_class.iter_mut().zip(&mut w.sums).enumerate() {
            let indices = draw.support.per_class.get(c).map_or(&[][..], |v| &v[..]);
            sum.clear();
            sum.resize(self.dim(), 0.0);
            add_rows(sum, indices.iter().map(|&i| g.pool_residual(self, i)));
            for &i in indices {
                *k += 1.0;
                *a += p.along[i];
                *e += p.residual_err[i];
                *len += p.residual_norm[i];
            }
        }
        per_class
    }

    /// The per-class parts of a draw's scores, from the split pool rows only.
    fn gram_classes(&self, g: &Gram, draw: &Draw, n_classes: usize, w: &mut GramWork) {
        let centre = self.mode() == Normalization::CentreSupport;
        let per_class = self.class_sums(g, draw, n_classes, w);
        let shift = if centre {
            Some(self.shift(&per_class, w))
        } else {
            None
        };
        w.classes.clear();
        for (c, &part) in per_class.iter().enumerate() {
            let class = if part.0 == 0.0 {
                Class::default()
            } else {
                self.class(part, &w.sums[c], &w.all, shift)
            };
            w.classes.push(class);
        }
    }

    /// `centre-support`'s shift, the mean over every drawn row (left in `w.all`), and the
    /// parts of its error bound.
    fn shift(&self, per_class: &[(f64, f64, f64, f64)], w: &mut GramWork) -> Shift {
        let total: f64 = per_class.iter().map(|t| t.0).sum();
        w.all.clear();
        w.all.resize(self.dim(), 0.0);
        if total <= 0.0 {
            return Shift::default();
        }
        for sum in &w.sums {
            w.all.iter_mut().zip(sum).for_each(|(a, s)| *a += s);
        }
        w.all.iter_mut().for_each(|a| *a /= total);
        let len_all = per_class.iter().map(|t| t.3).sum::<f64>() / total;
        let e_all = per_class.iter().map(|t| t.2).sum::<f64>() / total;
        Shift {
            sigma: per_class.iter().map(|t| t.1).sum::<f64>() / total,
            u_all: e_all + F64_REL * len_all,
            len_all,
            len: norm(&w.all),
        }
    }

    /// One class's parts from its drawn rows' sums `(k, Σ a_i, Σ e_i, Σ |r̃_i|)` and
    /// `sum` (Σ r̃_i); `all` and `shift` for `centre-support`.
    fn class(
        &self,
        (k, a_sum, e_sum, len_sum): (f64, f64, f64, f64),
        sum: &[f64],
        all: &[f64],
        shift: Option<Shift>,
    ) -> Class {
        let half_ulp = f64::from(f32::EPSILON) / 2.0;
        let Shift {
            sigma,
            u_all,
            len_all,
            len: shift_len,
        } = shift.unwrap_or_default();
        // ρ̂_c = Σ r̃_i / k − (mean over all drawn rows), its length and its dot with the
        // shift's residual (`centre-support`).
        let (mut rho2, mut shift_dot) = (0f64, 0f64);
        if shift.is_some() {
            for (s, m) in sum.iter().zip(all) {
                let v = s / k - m;
                rho2 += v * v;
                shift_dot += m * v;
            }
        } else {
            rho2 = sum.iter().map(|s| (s / k) * (s / k)).sum();
        }
        let rho = rho2.sqrt();
        let alpha = a_sum / k - sigma;
        // |ρ_c − ρ̂_c| ≤ the drawn rows' mean rounding (and the shift's).
        let u = (e_sum / k + F64_REL * len_sum / k) * 1.01 + u_all * 1.01;
        let n_hat = (alpha * alpha + rho2).sqrt();
        let (inv, inv_rel) = if n_hat > 0.0 && n_hat.is_finite() {
            let rel = if n_hat > u {
                u / (n_hat - u)
            } else {
                f64::INFINITY
            };
            (1.0 / n_hat, rel + F64_REL)
        } else {
            // A (nearly) zero prototype: only the exact path can tell.
            (0.0, f64::INFINITY)
        };
        let (bias, bias_err) = if shift.is_some() {
            (
                sigma * alpha + shift_dot,
                shift_len * u + u_all * 1.01 * (rho + u) + F64_REL * (sigma * alpha).abs(),
            )
        } else {
            (0.0, 0.0)
        };
        let gram_error = self.dot_rel() * (len_sum / k + len_all);
        Class {
            k,
            alpha,
            inv,
            inv_rel,
            bias,
            bias_err,
            slack: gram_error + u + 2.0 * half_ulp * (rho + u),
        }
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
        self.gram_classes(g, draw, n_classes, w);
        self.gram_scores(g, draw, n_classes, w);
        // A class whose prototype cannot be told from zero leaves every query to the exact
        // path.
        let unsure = w.classes.iter().any(|c| !c.inv_rel.is_finite());
        let mut exact: Option<ExactPrototypes> = None;
        let mut confusion = ConfusionMatrix::new(n_classes);
        for &q in draw.queries.iter() {
            let fast = if unsure {
                None
            } else if n_classes == 2 {
                certain2(
                    [w.score[0][q], w.score[1][q]],
                    [w.bound[0][q], w.bound[1][q]],
                )
            } else {
                w.scores.clear();
                w.bounds.clear();
                w.scores.extend(w.score.iter().map(|s| s[q]));
                w.bounds.extend(w.bound.iter().map(|b| b[q]));
                certain(&w.scores, &w.bounds)
            };
            let predicted = fast.unwrap_or_else(|| {
                // Too close to call: the reference's own arithmetic, on the exact prototypes
                // (built once for the draw).
                let (protos, shift) =
                    exact.get_or_insert_with(|| self.exact_prototypes(&draw.support));
                argmax(&exact_cosines_of(self, (protos, shift), q))
            });
            confusion.add(query_labels[q], predicted);
        }
        DrawMetrics::from_confusion(confusion)
    }

    /// Every query row's score and error bound per class, from the Gram sums (contiguous
    /// loops over the query rows).
    fn gram_scores(&self, g: &Gram, draw: &Draw, n_classes: usize, w: &mut GramWork) {
        let n = g.n_queries;
        let centre = self.mode() == Normalization::CentreSupport;
        w.acc.resize_with(n_classes, Vec::new);
        for (c, acc) in w.acc.iter_mut().enumerate() {
            acc.clear();
            acc.resize(n, 0.0);
            let indices = draw.support.per_class.get(c).map_or(&[][..], |v| &v[..]);
            add_rows(acc, indices.iter().map(|&i| g.row(i)));
        }
        let total: f64 = w.classes.iter().map(|c| c.k).sum::<f64>().max(1.0);
        w.acc_all.clear();
        w.acc_all.resize(n, 0.0);
        if centre {
            for acc in &w.acc {
                w.acc_all
                    .iter_mut()
                    .zip(acc)
                    .for_each(|(a, v)| *a += v / total);
            }
        }
        let along = self.along_all();
        let r_norm = self.residual_norms();
        w.score.resize_with(n_classes, Vec::new);
        w.bound.resize_with(n_classes, Vec::new);
        for (c, class) in w.classes.iter().enumerate() {
            let (score, bound) = (&mut w.score[c], &mut w.bound[c]);
            score.clear();
            bound.clear();
            if class.k == 0.0 {
                // No support: cosine 0 with everything, as in the reference.
                score.resize(n, 0.0);
                bound.resize(n, 0.0);
                continue;
            }
            let cl = *class;
            let rows = w.acc[c]
                .iter()
                .zip(&w.acc_all)
                .zip(along.iter().zip(r_norm));
            for ((&sum, &shift), (&a, &rn)) in rows {
                let dot = sum / cl.k - shift;
                let num = a * cl.alpha + dot - cl.bias;
                let err = rn * cl.slack
                    + cl.bias_err
                    + 1e-12 * ((a * cl.alpha).abs() + cl.bias.abs() + dot.abs());
                score.push(num * cl.inv);
                bound.push((err + (num.abs() + err) * cl.inv_rel) * cl.inv);
            }
        }
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
