//! The Gram path of the exact scorer, for large banks: every residual inner product of a
//! support-pool row with a query row (`r̃_i · r̃_q`) and with another pool row (`r̃_i · r̃_j`)
//! is computed once per prepared target and mode, so a draw costs `k · classes` additions
//! per query and `(k · classes)²` look-ups, instead of `dim`-long products.
//!
//! Every pool row is split once along the common axis, `y_i = a_i·m + r_i`, with `r̃_i` its
//! residual in f32 and `e_i = |r_i − r̃_i|` its rounding. A draw then needs, per class, only
//! sums: `α_c` from the `a_i`; the length of the residual prototype `ρ̂_c` (the mean of the
//! drawn `r̃_i`, minus the mean over all drawn rows for `centre-support`) from the pool × pool
//! sums; and the Gram sums `r̃_q·ρ̂_c` for every query. The exact prototype residual `ρ_c`
//! differs from `ρ̂_c` by at most the mean of the drawn rows' `e_i`, and every stored inner
//! product is within [`Gram::rel`] of `|r̃_i|·|r̃_q|` of its exact value; with these the
//! prototype length, the `centre-support` bias and the residual dot get rigorous error
//! bounds, the scores go through the scorer's certification, and a query too close to call
//! is rescored with the exact f64 prototypes (built only for draws that have one): the
//! predictions equal the float64 reference draw by draw, as on the direct path.

use super::scorer::{ExactPrototypes, PoolSplit, Scorer, TIE, argmax, exact_cosines_of};
use super::{Normalization, to_f64};
use crate::fewshot::metrics::{ConfusionMatrix, DrawMetrics};
use crate::fewshot::sampler::Draw;

/// The largest Gram matrices built, in bytes (f32 entries): beyond it the direct path scores.
pub const GRAM_BUDGET_BYTES: usize = 512 << 20;

/// Banks of at least this many draws build the Gram matrices (once per target and mode):
/// below it the direct path is faster than the one-time products. Measured on C-NMC-sized
/// sets (`cargo bench --bench kshot`, 2 cores): the products take ≈ 0.9 s and save
/// ≈ 0.3–0.4 ms per draw against the direct path, so they pay from ≈ 2,500 draws on.
pub const GRAM_MIN_DRAWS: usize = 2500;

/// A query's verdict on the Gram path when the bounds cannot tell the classes apart.
const UNSURE: u16 = u16::MAX;

/// Rows per `gemm` call when building the matrices.
const BLOCK: usize = 64;

/// The pool side of the Gram path and the inner products.
#[derive(Debug)]
pub(super) struct Gram {
    /// The support pool's rows along the axis (`a_i`, `|r̃_i|`, `e_i`); the residual rows
    /// themselves are dropped once the products are built.
    pool: PoolSplit,
    /// `R[i][q] = r̃_i · r̃_q`, row-major `pool × queries`.
    dots: Vec<f32>,
    /// `P[i][j] = r̃_i · r̃_j` for `j ≤ i`, the lower triangle packed row by row; empty when
    /// the pool's rows are the query rows (the pool protocol), where `R` is `P`.
    pool_dots: Vec<f32>,
    /// Query rows per row of `R`.
    n_queries: usize,
    /// The error bound of a stored product ([`Gram::rel`]).
    rel: f64,
}

impl Gram {
    /// Bytes the matrices take for `pool` rows and `queries` rows (`shared`: the pool rows
    /// are the query rows, so there is no separate pool × pool triangle).
    pub(super) fn bytes(pool: usize, queries: usize, shared: bool) -> usize {
        let triangle = if shared {
            0
        } else {
            pool.saturating_mul(pool.saturating_add(1)) / 2
        };
        pool.saturating_mul(queries)
            .saturating_add(triangle)
            .saturating_mul(std::mem::size_of::<f32>())
    }

    /// Builds the matrices of `scorer` on up to `threads` threads: every entry is the f64 sum
    /// of the exact products of the f32 residuals (`gemm` on blocks of rows), rounded once to
    /// f32, so its error is at most [`Gram::rel`] of the two rows' lengths.
    pub(super) fn build(scorer: &Scorer, threads: usize) -> Gram {
        let dim = scorer.dim();
        let mut pool = scorer.pool_split();
        let shared = pool.residual.is_empty();
        let n_pool = pool.residual_norm.len();
        let n_queries = scorer.n_queries();
        let queries = to_f64(scorer.query_residuals());
        let pool_rows: &[f32] = if shared {
            scorer.query_residuals()
        } else {
            &pool.residual
        };
        let mut dots = vec![0f32; n_pool * n_queries];
        crate::memory::huge_pages(&mut dots);
        let rows_per_thread = n_pool.div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            for (t, chunk) in dots
                .chunks_mut(rows_per_thread * n_queries.max(1))
                .enumerate()
            {
                let rows = &pool_rows[t * rows_per_thread * dim..];
                let queries = &queries;
                scope.spawn(move || {
                    for (b, out) in chunk.chunks_mut(BLOCK * n_queries.max(1)).enumerate() {
                        let m = out.len() / n_queries.max(1);
                        let block = to_f64(&rows[b * BLOCK * dim..(b * BLOCK + m) * dim]);
                        products(&block, queries, dim, n_queries, out);
                    }
                });
            }
        });
        drop(queries);
        let pool_dots = if shared {
            Vec::new()
        } else {
            lower_triangle(pool_rows, dim, threads)
        };
        pool.residual = Vec::new();
        Gram {
            pool,
            dots,
            pool_dots,
            n_queries,
            rel: Gram::rel(dim),
        }
    }

    /// The bound of a stored product's error relative to the two rows' lengths: the f64 sum
    /// of `dim` exact products (`γ_dim` in f64, covered by `(dim + 2)·ε₆₄`) and the rounding
    /// to f32 (half an f32 ulp of a value at most `|r̃_i|·|r̃_q|`, by Cauchy–Schwarz).
    fn rel(dim: usize) -> f64 {
        f64::from(f32::EPSILON) / 2.0 * (1.0 + 1e-6) + (dim as f64 + 2.0) * f64::EPSILON
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.dots[i * self.n_queries..(i + 1) * self.n_queries]
    }

    /// `P[i][j]` (either order).
    fn pool_dot(&self, i: usize, j: usize) -> f64 {
        f64::from(if self.pool_dots.is_empty() {
            self.row(i)[j]
        } else {
            let (hi, lo) = if i >= j { (i, j) } else { (j, i) };
            self.pool_dots[hi * (hi + 1) / 2 + lo]
        })
    }

    /// `Σ r̃_i · r̃_j` over `i` in `a` and `j` in `b` (pool rows), in f64.
    fn pool_sum(&self, a: &[usize], b: &[usize]) -> f64 {
        a.iter()
            .map(|&i| b.iter().map(|&j| self.pool_dot(i, j)).sum::<f64>())
            .sum()
    }

    /// `Σ r̃_i · r̃_j` over `i` and `j` in `a`: the products off the diagonal once, doubled.
    fn pool_sum_own(&self, a: &[usize]) -> f64 {
        let mut diagonal = 0f64;
        let mut off = 0f64;
        for (n, &i) in a.iter().enumerate() {
            diagonal += self.pool_dot(i, i);
            off += a[..n].iter().map(|&j| self.pool_dot(i, j)).sum::<f64>();
        }
        diagonal + 2.0 * off
    }
}

/// `out[i][q] = lhs[i] · cols[q]` for the first `out.len() / n_cols` rows (both row-major and
/// `dim` long), summed in f64 by one `gemm` and rounded to f32.
fn products(lhs: &[f64], cols: &[f64], dim: usize, n_cols: usize, out: &mut [f32]) {
    if n_cols == 0 || dim == 0 {
        out.fill(0.0);
        return;
    }
    let m = out.len() / n_cols;
    assert!(
        lhs.len() >= m * dim && cols.len() >= n_cols * dim,
        "rows of {dim} values"
    );
    let mut dst = vec![0f64; m * n_cols];
    // SAFETY: `lhs` holds at least `m × dim` (row stride `dim`) and `cols` at least
    // `n_cols × dim` (read transposed: column stride `dim`), as asserted; `dst` is
    // `m × n_cols` row-major, and the three do not overlap.
    unsafe {
        gemm::gemm(
            m,
            n_cols,
            dim,
            dst.as_mut_ptr(),
            1,
            n_cols as isize,
            false,
            lhs.as_ptr(),
            1,
            dim as isize,
            cols.as_ptr(),
            dim as isize,
            1,
            1.0f64,
            1.0f64,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    out.iter_mut().zip(&dst).for_each(|(o, &d)| *o = d as f32);
}

/// The lower triangle (`j ≤ i`) of `rows · rowsᵀ`, packed row by row, on up to `threads`
/// threads, each taking a contiguous run of rows of about equal area.
fn lower_triangle(rows: &[f32], dim: usize, threads: usize) -> Vec<f32> {
    let n = rows.len() / dim.max(1);
    let packed = |i: usize| i * (i + 1) / 2;
    let mut out = vec![0f32; packed(n)];
    crate::memory::huge_pages(&mut out);
    if n == 0 {
        return out;
    }
    let wide = to_f64(rows);
    let threads = threads.clamp(1, n);
    let bounds: Vec<usize> = (0..=threads)
        .map(|t| ((n as f64) * (t as f64 / threads as f64).sqrt()).round() as usize)
        .collect();
    std::thread::scope(|scope| {
        let mut rest = &mut out[..];
        for t in 0..threads {
            let (first, last) = (bounds[t], bounds[t + 1].max(bounds[t]));
            let (mine, later) = rest.split_at_mut(packed(last) - packed(first));
            rest = later;
            let wide = &wide;
            scope.spawn(move || {
                let mut start = first;
                let mut row_out = mine;
                while start < last {
                    let end = (start + BLOCK).min(last);
                    let mut block = vec![0f32; (end - start) * end];
                    products(&wide[start * dim..], wide, dim, end, &mut block);
                    for (i, full) in (start..end).zip(block.chunks_exact(end)) {
                        let (this, next) = std::mem::take(&mut row_out).split_at_mut(i + 1);
                        this.copy_from_slice(&full[..=i]);
                        row_out = next;
                    }
                    start = end;
                }
            });
        }
    });
    out
}

/// What the Gram path knows of one class's prototype in a draw: the score's parts and the
/// bounds of their errors (see the module comment).
#[derive(Debug, Clone, Copy, Default)]
struct Class {
    /// Support rows drawn (0: the class scores 0 with everything, as in the reference).
    k: f64,
    /// `1/k` (0 without support).
    inv_k: f64,
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

impl Class {
    /// A query's score and its error bound, from its Gram sum `dot` (`≈ r̃_q·ρ̂_c`), its
    /// coordinate `a` along the axis and its residual length `rn`.
    #[inline(always)]
    fn score(&self, dot: f64, a: f64, rn: f64) -> (f64, f64) {
        let num = a * self.alpha + dot - self.bias;
        let err = rn * self.slack
            + self.bias_err
            + 1e-12 * ((a * self.alpha).abs() + self.bias.abs() + dot.abs());
        (
            num * self.inv,
            (err + (num.abs() + err) * self.inv_rel) * self.inv,
        )
    }
}

/// One class's drawn rows: their number, `Σ a_i`, `Σ e_i` and `Σ |r̃_i|`.
#[derive(Debug, Clone, Copy, Default)]
struct Drawn {
    k: f64,
    along: f64,
    err: f64,
    len: f64,
}

/// `centre-support`'s shift over all `total` drawn rows: `σ` (the mean of their `a_i`), the
/// bound of the mean residual's rounding, the rows' mean length, the mean residual's squared
/// length from the pool sums and an upper bound of its length (all 0 without a shift).
#[derive(Debug, Default, Clone, Copy)]
struct Shift {
    total: f64,
    sigma: f64,
    u_all: f64,
    len_all: f64,
    len2: f64,
    len_up: f64,
}

impl Shift {
    /// The shift of a draw from its classes' `drawn` rows and their pool sums (`pair`, row-major
    /// classes × classes); `rel` bounds a product's error.
    fn of(drawn: &[Drawn], pair: &[f64], rel: f64) -> Shift {
        let total: f64 = drawn.iter().map(|d| d.k).sum();
        if total <= 0.0 {
            return Shift::default();
        }
        let len_all = drawn.iter().map(|d| d.len).sum::<f64>() / total;
        let e_all = drawn.iter().map(|d| d.err).sum::<f64>() / total;
        let len2 = pair.iter().sum::<f64>() / (total * total);
        Shift {
            total,
            sigma: drawn.iter().map(|d| d.along).sum::<f64>() / total,
            u_all: e_all + F64_REL * len_all,
            len_all,
            len2,
            len_up: (len2.max(0.0) + (rel + F64_REL) * len_all * len_all).sqrt(),
        }
    }
}

/// How far an f64 sum of f32 values can be from the exact one, relative to its terms:
/// negligible next to the f32 bounds, covered generously.
const F64_REL: f64 = 1e-12;

/// Scratch space of one thread on the Gram path.
#[derive(Debug, Default)]
struct GramWork {
    /// Per pair of classes, the pool sums `Σ r̃_i·r̃_j` over their drawn rows.
    pair: Vec<f64>,
    /// Per class, the sum of the Gram rows of its support rows, one entry per query.
    acc: Vec<Vec<f64>>,
    classes: Vec<Class>,
    /// Per query row, the certified class or [`UNSURE`].
    verdict: Vec<u16>,
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
    let n = acc.len();
    let mut groups = rows.chunks_exact(8);
    for g in &mut groups {
        let r: [&[f32]; 8] = std::array::from_fn(|j| &g[j][..n]);
        for (i, a) in acc.iter_mut().enumerate() {
            let x = |j: usize| f64::from(r[j][i]);
            *a += ((x(0) + x(1)) + (x(2) + x(3))) + ((x(4) + x(5)) + (x(6) + x(7)));
        }
    }
    let mut groups = groups.remainder().chunks_exact(4);
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

/// [`certain`] for two classes, without branches: class 1 wins only beyond the tie
/// tolerance (as in `argmax`), and either wins only by more than both bounds. (When class 1
/// is ahead by less than the tolerance, `|s₁ − s₀|` is below `4·TIE·scale` and nothing is
/// certified, as with the signed margin.)
#[inline(always)]
fn certain2(s0: f64, s1: f64, b0: f64, b1: f64) -> u16 {
    let finite = s0.abs() <= f64::MAX && s1.abs() <= f64::MAX;
    let best = u16::from(s1 > s0 + TIE * s0.abs().max(s1.abs()));
    let scale = (s0.abs() + b0).max(s1.abs() + b1);
    let sure = finite && (s1 - s0).abs() > b0 + b1 + 4.0 * TIE * scale;
    if sure { best } else { UNSURE }
}

/// The confusion matrix of every query row's `label` and `verdict` (both below
/// `n_classes`); for two classes as three sums, which vectorise (a counter per cell would
/// wait on its own last increment).
fn confusion_of(n_classes: usize, labels: &[usize], verdicts: &[u16]) -> ConfusionMatrix {
    let mut confusion = ConfusionMatrix::new(n_classes);
    if n_classes == 2 && labels.iter().fold(0, |m, &l| m.max(l)) < 2 {
        let (mut label1, mut said1, mut both1) = (0u64, 0u64, 0u64);
        for (&l, &v) in labels.iter().zip(verdicts) {
            let (l, v) = (l as u64, u64::from(v));
            label1 += l;
            said1 += v;
            both1 += l & v;
        }
        let n = labels.len() as u64;
        confusion.counts = vec![
            n - label1 - (said1 - both1),
            said1 - both1,
            label1 - both1,
            both1,
        ];
        return confusion;
    }
    for (&l, &v) in labels.iter().zip(verdicts) {
        confusion.add(l, usize::from(v));
    }
    confusion
}

/// The verdicts of every query row for two classes with support.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn verdicts2_in(
    [c0, c1]: [&Class; 2],
    [acc0, acc1]: [&[f64]; 2],
    along: &[f64],
    r_norm: &[f64],
    centre_scale: f64,
    out: &mut [u16],
) {
    let rows = acc0.iter().zip(acc1).zip(along.iter().zip(r_norm));
    for (v, ((&x0, &x1), (&a, &rn))) in out.iter_mut().zip(rows) {
        let shift = (x0 + x1) * centre_scale;
        let (s0, b0) = c0.score(x0 * c0.inv_k - shift, a, rn);
        let (s1, b1) = c1.score(x1 * c1.inv_k - shift, a, rn);
        *v = certain2(s0, s1, b0, b1);
    }
}

/// [`verdicts2_in`] compiled with AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn verdicts2_avx2(
    classes: [&Class; 2],
    acc: [&[f64]; 2],
    along: &[f64],
    r_norm: &[f64],
    centre_scale: f64,
    out: &mut [u16],
) {
    verdicts2_in(classes, acc, along, r_norm, centre_scale, out);
}

impl Scorer {
    /// Per class of a draw, the pool side of its prototype (see [`Class`]).
    fn gram_classes(&self, g: &Gram, draw: &Draw, n_classes: usize, w: &mut GramWork) {
        let support = |c: usize| draw.support.per_class.get(c).map_or(&[][..], |v| &v[..]);
        let p = &g.pool;
        let drawn: Vec<Drawn> = (0..n_classes)
            .map(|c| {
                let mut d = Drawn::default();
                for &i in support(c) {
                    d.k += 1.0;
                    d.along += p.along[i];
                    d.err += p.residual_err[i];
                    d.len += p.residual_norm[i];
                }
                d
            })
            .collect();
        w.pair.clear();
        w.pair.resize(n_classes * n_classes, 0.0);
        for c in 0..n_classes {
            for c2 in c..n_classes {
                let sum = if c == c2 {
                    g.pool_sum_own(support(c))
                } else {
                    g.pool_sum(support(c), support(c2))
                };
                w.pair[c * n_classes + c2] = sum;
                w.pair[c2 * n_classes + c] = sum;
            }
        }
        let shift = (self.mode() == Normalization::CentreSupport)
            .then(|| Shift::of(&drawn, &w.pair, g.rel));
        w.classes.clear();
        for (c, &d) in drawn.iter().enumerate() {
            let row = &w.pair[c * n_classes..(c + 1) * n_classes];
            w.classes.push(if d.k == 0.0 {
                Class::default()
            } else {
                class(g.rel, d, (row[c], row.iter().sum()), shift)
            });
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
        self.gram_verdicts(g, draw, n_classes, w);
        // Queries too close to call: the reference's own arithmetic, on the exact prototypes
        // (built once for the draw, and only for a draw that has such a query).
        let mut exact: Option<ExactPrototypes> = None;
        if w.verdict.iter().fold(false, |any, &v| any | (v == UNSURE)) {
            for &q in draw.queries.iter() {
                if w.verdict[q] == UNSURE {
                    let (protos, shift) =
                        exact.get_or_insert_with(|| self.exact_prototypes(&draw.support));
                    w.verdict[q] = argmax(&exact_cosines_of(self, (protos, shift), q)) as u16;
                }
            }
        }
        let confusion = if draw.queries.len() == w.verdict.len() {
            // Every query row, in order (the held-out protocol).
            confusion_of(n_classes, query_labels, &w.verdict)
        } else {
            let mut confusion = ConfusionMatrix::new(n_classes);
            for &q in draw.queries.iter() {
                confusion.add(query_labels[q], usize::from(w.verdict[q]));
            }
            confusion
        };
        DrawMetrics::from_confusion(confusion)
    }

    /// Every query row's verdict (the certified class or [`UNSURE`]) from the Gram sums.
    fn gram_verdicts(&self, g: &Gram, draw: &Draw, n_classes: usize, w: &mut GramWork) {
        let n = g.n_queries;
        w.acc.resize_with(n_classes, Vec::new);
        for (c, acc) in w.acc.iter_mut().enumerate() {
            acc.clear();
            acc.resize(n, 0.0);
            let indices = draw.support.per_class.get(c).map_or(&[][..], |v| &v[..]);
            add_rows(acc, indices.iter().map(|&i| g.row(i)));
        }
        w.verdict.clear();
        w.verdict.resize(n, UNSURE);
        // A class whose prototype cannot be told from zero leaves every query to the exact
        // path.
        if w.classes.iter().any(|c| !c.inv_rel.is_finite()) {
            return;
        }
        let total: f64 = w.classes.iter().map(|c| c.k).sum::<f64>().max(1.0);
        // `centre-support` subtracts the mean over all drawn rows from each class's sum.
        let centre_scale = if self.mode() == Normalization::CentreSupport {
            1.0 / total
        } else {
            0.0
        };
        let (along, r_norm) = (self.along_all(), self.residual_norms());
        if let ([c0, c1], [acc0, acc1]) = (&w.classes[..], &w.acc[..])
            && c0.k > 0.0
            && c1.k > 0.0
        {
            let args = ([c0, c1], [&acc0[..], &acc1[..]]);
            #[cfg(target_arch = "x86_64")]
            if crate::simd::level() >= crate::simd::Level::Avx2Fma {
                // SAFETY: `simd::level` reports AVX2 and FMA only when the CPU has them; the
                // function is safe Rust compiled with those features.
                unsafe {
                    verdicts2_avx2(args.0, args.1, along, r_norm, centre_scale, &mut w.verdict)
                };
                return;
            }
            verdicts2_in(args.0, args.1, along, r_norm, centre_scale, &mut w.verdict);
            return;
        }
        for q in 0..n {
            let shift = w.acc.iter().map(|acc| acc[q]).sum::<f64>() * centre_scale;
            w.scores.clear();
            w.bounds.clear();
            for (class, acc) in w.classes.iter().zip(&w.acc) {
                let (s, b) = if class.k == 0.0 {
                    // No support: cosine 0 with everything, as in the reference.
                    (0.0, 0.0)
                } else {
                    class.score(acc[q] * class.inv_k - shift, along[q], r_norm[q])
                };
                w.scores.push(s);
                w.bounds.push(b);
            }
            w.verdict[q] = certain(&w.scores, &w.bounds).map_or(UNSURE, |c| c as u16);
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
        let bytes = Gram::bytes(self.n_pool(), self.n_queries(), self.pool_is_queries());
        (bytes > GRAM_BUDGET_BYTES).then(|| {
            format!(
                "the Gram matrices of {} support-pool rows and {} queries would take {} MB (more than {} MB): draws are scored one product at a time",
                self.n_pool(),
                self.n_queries(),
                bytes >> 20,
                GRAM_BUDGET_BYTES >> 20
            )
        })
    }
}

/// One class's parts from its `drawn` rows and their pool sums (`pair`: with its own rows,
/// and with every drawn row); `shift` for `centre-support`; `rel` bounds a product's error.
fn class(rel: f64, d: Drawn, (own, all): (f64, f64), shift: Option<Shift>) -> Class {
    let half_ulp = f64::from(f32::EPSILON) / 2.0;
    let g = rel + F64_REL;
    let k = d.k;
    let mean_len = d.len / k;
    let s = shift.unwrap_or_default();
    // |ρ̂_c|² from the pool sums (ρ̂_c = Σ r̃_i / k − Σ_all r̃_j / total for `centre-support`),
    // `shift_dot` = (Σ_all r̃_j / total)·ρ̂_c, and the bounds of their errors from the stored
    // products' (each within `rel·|r̃_i|·|r̃_j|`).
    let (rho2, rho2_err, shift_dot, shift_dot_err) = if shift.is_some() {
        let cross = all / (k * s.total);
        (
            own / (k * k) - 2.0 * cross + s.len2,
            g * (mean_len + s.len_all).powi(2),
            cross - s.len2,
            g * s.len_all * (mean_len + s.len_all),
        )
    } else {
        (own / (k * k), g * mean_len * mean_len, 0.0, 0.0)
    };
    let rho2 = rho2.max(0.0);
    let rho_up = (rho2 + rho2_err).sqrt();
    let alpha = d.along / k - s.sigma;
    // |ρ_c − ρ̂_c| ≤ the drawn rows' mean rounding (and the shift's).
    let u = (d.err / k + F64_REL * mean_len) * 1.01 + s.u_all * 1.01;
    let n_hat = (alpha * alpha + rho2).sqrt();
    let (inv, inv_rel) = if n_hat > 0.0 && n_hat.is_finite() {
        // |N_c − N̂_c| ≤ u + |√(α² + |ρ̂_c|²) − √(α² + ρ̂²)| ≤ u + err(ρ̂²)/N̂_c.
        let off = u + rho2_err / n_hat;
        let rel = if n_hat > off {
            off / (n_hat - off)
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
            s.sigma * alpha + shift_dot,
            s.len_up * u
                + s.u_all * 1.01 * (rho_up + u)
                + shift_dot_err
                + F64_REL * (s.sigma * alpha).abs(),
        )
    } else {
        (0.0, 0.0)
    };
    let gram_error = rel * (mean_len + s.len_all);
    Class {
        k,
        inv_k: 1.0 / k,
        alpha,
        inv,
        inv_rel,
        bias,
        bias_err,
        slack: gram_error + u + 2.0 * half_ulp * (rho_up + u),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::super::{dot64, norm};
    use super::*;
    use crate::fewshot::classify::Embeddings;
    use crate::fewshot::sampler::{SamplerOptions, heldout_draws, pool_draws};

    /// `n` rows of `dim` values sharing one large direction (as trained embeddings do) with
    /// small, deterministic, row-specific residuals; rows of class 1 lean one way.
    fn rows(labels: &[usize], dim: usize, seed: u64) -> Embeddings {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let values = labels
            .iter()
            .flat_map(|&label| {
                let scale: f64 = rng.random_range(2000.0..3000.0);
                (0..dim)
                    .map(|j| {
                        let lean = if j % 3 == label { 2e-3 } else { 0.0 };
                        let noise: f64 = rng.random_range(-0.5..0.5);
                        (scale * (1.0 + (j as f64 * 0.1).sin() * 0.2 + lean + 1e-3 * noise)) as f32
                    })
                    .collect::<Vec<f32>>()
            })
            .collect();
        Embeddings::new(dim, values).expect("whole rows")
    }

    #[test]
    fn every_stored_product_is_within_its_bound() {
        let dim = 37;
        // More rows than one `gemm` block, split over threads unevenly.
        let pool = rows(&vec![0; 150], dim, 1);
        let queries = rows(&vec![1; 70], dim, 2);
        for separate in [true, false] {
            let scorer = Scorer::new(
                Arc::new(pool.clone()),
                separate.then(|| Arc::new(queries.clone())),
                Normalization::CentreTarget,
            );
            let split = scorer.pool_split();
            let q_rows = scorer.query_residuals();
            let pool_row = |i: usize| {
                let all = if separate { &split.residual } else { q_rows };
                to_f64(&all[i * dim..(i + 1) * dim])
            };
            let n_pool = split.residual_norm.len();
            let n_queries = scorer.n_queries();
            let built: Vec<Gram> = [1, 3].map(|t| Gram::build(&scorer, t)).into();
            assert_eq!(built[0].dots, built[1].dots, "threads change nothing");
            assert_eq!(built[0].pool_dots, built[1].pool_dots);
            let g = &built[1];
            assert_eq!(g.pool_dots.len(), if separate { 150 * 151 / 2 } else { 0 });
            let mut worst = 0f64;
            for i in 0..n_pool {
                let ri = pool_row(i);
                for q in 0..n_queries {
                    let rq = to_f64(&q_rows[q * dim..(q + 1) * dim]);
                    let scale = norm(&ri) * norm(&rq);
                    let err = (f64::from(g.row(i)[q]) - dot64(&ri, &rq)).abs();
                    assert!(err <= g.rel * scale, "R[{i}][{q}]: off by {err:e}");
                    worst = worst.max(err / scale);
                }
                for j in 0..n_pool {
                    let rj = pool_row(j);
                    let scale = norm(&ri) * norm(&rj);
                    let err = (g.pool_sum(&[i], &[j]) - dot64(&ri, &rj)).abs();
                    assert!(err <= g.rel * scale, "P[{i}][{j}]: off by {err:e}");
                }
            }
            // Rounding to f32 happened (the bound is not vacuous) and stayed within it.
            assert!(
                worst > 0.0 && worst < 6e-8,
                "worst relative error {worst:e}"
            );
        }
    }

    /// The Gram path's score of every query and class is within its bound of
    /// `(y_q − shift)·D_c / |D_c|` computed in f64 from the exact prototypes, and the bounds
    /// are tight enough to decide almost every query without the exact path.
    #[test]
    fn scores_are_within_their_bounds_of_the_exact_ones() {
        let dim = 64;
        let pool_labels: Vec<usize> = (0..90).map(|i| usize::from(i >= 40)).collect();
        let query_labels: Vec<usize> = (0..60).map(|i| i % 2).collect();
        let pool = rows(&pool_labels, dim, 3);
        let queries = rows(&query_labels, dim, 4);
        let opts = SamplerOptions::new(5, 12, 11);
        for separate in [true, false] {
            let draws = if separate {
                heldout_draws(&pool_labels, 2, query_labels.len(), &opts)
            } else {
                pool_draws(&pool_labels, &vec![None; pool_labels.len()], 2, &opts)
            }
            .expect("draws");
            for mode in Normalization::ALL {
                let scorer = Scorer::new(
                    Arc::new(pool.clone()),
                    separate.then(|| Arc::new(queries.clone())),
                    mode,
                );
                let g = Gram::build(&scorer, 2);
                let mut w = GramWork::default();
                let (mut checked, mut unsure) = (0, 0);
                for draw in &draws {
                    scorer.gram_classes(&g, draw, 2, &mut w);
                    scorer.gram_verdicts(&g, draw, 2, &mut w);
                    let (protos, shift) = scorer.exact_prototypes(&draw.support);
                    let total = w.classes.iter().map(|c| c.k).sum::<f64>();
                    for &q in draw.queries.iter() {
                        let y = scorer.transformed_query(q);
                        let shifted: Vec<f64> = y.iter().zip(&shift).map(|(v, s)| v - s).collect();
                        for (c, class) in w.classes.iter().enumerate() {
                            let d = protos[c].as_ref().expect("support in every class");
                            let exact = dot64(&shifted, d) / norm(d);
                            let centre = if mode == Normalization::CentreSupport {
                                w.acc.iter().map(|a| a[q]).sum::<f64>() / total
                            } else {
                                0.0
                            };
                            let (along, r_norm) = (scorer.along_all(), scorer.residual_norms());
                            let (score, bound) = class.score(
                                w.acc[c][q] * class.inv_k - centre,
                                along[q],
                                r_norm[q],
                            );
                            assert!(
                                (score - exact).abs() <= bound,
                                "{mode}, draw {}, query {q}, class {c}: {score} vs {exact} (bound {bound:e})",
                                draw.index
                            );
                            assert!(
                                bound < 1e-3 * exact.abs().max(1.0),
                                "{mode}: bound {bound:e}"
                            );
                        }
                        checked += 1;
                        unsure += usize::from(w.verdict[q] == UNSURE);
                    }
                }
                assert!(
                    unsure * 20 < checked,
                    "{mode}: {unsure} of {checked} unsure"
                );
            }
        }
    }
}
