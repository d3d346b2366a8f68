//! L2-regularised multinomial logistic regression on the L2-normalised support (Tian et al.
//! 2020), solved deterministically.
//!
//! The objective is scikit-learn's: `½ Σ_c |w_c|² + C Σ_i CE(W x_i + b, y_i)`, the intercept
//! unpenalised; divided by `C·n` it is the mean cross-entropy plus `(λ/2) Σ_c |w_c|²` with
//! `λ = 1 / (C·n)`, which is what is minimised here.
//!
//! # Solver
//! Accelerated gradient descent (FISTA's momentum) with the fixed step `1 / L`, where
//! `L = 1 + λ` bounds the curvature: a softmax cross-entropy's Hessian in the logits is at most
//! ½, and `|[x; 1]|² = 2` for a unit row. Started at zero, every iterate keeps each `w_c` in the
//! span of the support rows, `w_c = Σ_i a_ic x_i`, so the descent runs on the `n × C`
//! coefficients with the support's Gram matrix — the same iterates as in the embedding
//! space, at `n²·C` per step instead of `n·d·C`. It stops when the gradient's norm is below
//! [`TOLERANCE`] or after [`MAX_ITERATIONS`] steps.

use super::dot4;
use crate::fewshot::sampler::SupportSet;
use crate::fewshot::score::{TransformedRows, dot64};

/// The solver stops when the gradient's Euclidean norm (in the embedding space) is below this.
pub const TOLERANCE: f64 = 1e-7;

/// The solver stops after this many steps at the latest.
pub const MAX_ITERATIONS: usize = 2000;

/// A fitted model: one weight row and one intercept per class.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// Values per weight row.
    pub dim: usize,
    /// Row-major `n_classes × dim` weights.
    pub weights: Vec<f64>,
    /// One intercept per class.
    pub bias: Vec<f64>,
    /// Steps the solver took.
    pub iterations: usize,
}

/// `row / |row|`, or zeros for a zero row.
pub(crate) fn unit(row: impl Iterator<Item = f64>) -> Vec<f64> {
    let v: Vec<f64> = row.collect();
    let n = dot64(&v, &v).sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter().map(|x| x / n).collect()
    } else {
        vec![0.0; v.len()]
    }
}

impl Logistic {
    /// Fits on unit rows `x` (each of `dim` values) with labels in `0..n_classes`; `c` is the
    /// inverse regularisation strength (positive).
    pub fn fit(x: &[Vec<f64>], labels: &[usize], n_classes: usize, c: f64) -> Logistic {
        let n = x.len();
        let dim = x.first().map_or(0, Vec::len);
        let lambda = 1.0 / (c * n.max(1) as f64);
        let step = 1.0 / (1.0 + lambda);
        let gram: Vec<f64> = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| dot64(&x[i], &x[j]))
            .collect();
        // Coefficients a (n × C, row-major) and intercepts b: the current point, the previous
        // one and the extrapolated one at which the gradient is taken.
        let mut a = vec![0f64; n * n_classes];
        let mut b = vec![0f64; n_classes];
        let (mut a_prev, mut b_prev) = (a.clone(), b.clone());
        let mut t = 1f64;
        let mut iterations = 0;
        let problem = Problem {
            gram: &gram,
            labels,
            n,
            n_classes,
            lambda,
        };
        let mut grad_a = vec![0f64; n * n_classes];
        let mut grad_b = vec![0f64; n_classes];
        while iterations < MAX_ITERATIONS {
            let norm2 = problem.gradient(&a, &b, &mut grad_a, &mut grad_b);
            if norm2.sqrt() < TOLERANCE {
                break;
            }
            iterations += 1;
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let momentum = (t - 1.0) / t_next;
            for (v, (prev, g)) in a.iter_mut().zip(a_prev.iter_mut().zip(&grad_a)) {
                let stepped = *v - step * g;
                *v = stepped + momentum * (stepped - *prev);
                *prev = stepped;
            }
            for (v, (prev, g)) in b.iter_mut().zip(b_prev.iter_mut().zip(&grad_b)) {
                let stepped = *v - step * g;
                *v = stepped + momentum * (stepped - *prev);
                *prev = stepped;
            }
            t = t_next;
        }
        let mut weights = vec![0f64; n_classes * dim];
        for (i, row) in x.iter().enumerate() {
            for k in 0..n_classes {
                let coef = a[i * n_classes + k];
                weights[k * dim..(k + 1) * dim]
                    .iter_mut()
                    .zip(row)
                    .for_each(|(w, v)| *w += coef * v);
            }
        }
        Logistic {
            dim,
            weights,
            bias: b,
            iterations,
        }
    }

    /// Fits on one draw's support: the rows minus `shift`, L2-normalised.
    pub fn fit_draw(
        rows: &TransformedRows,
        shift: &[f64],
        support: &SupportSet,
        c: f64,
    ) -> Logistic {
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for (class, indices) in support.per_class.iter().enumerate() {
            for &i in indices {
                x.push(unit(
                    rows.support_row(i).iter().zip(shift).map(|(v, s)| v - s),
                ));
                labels.push(class);
            }
        }
        Logistic::fit(&x, &labels, support.n_classes(), c)
    }

    /// Class probabilities of a unit row.
    pub fn probabilities(&self, x: &[f64]) -> Vec<f64> {
        let mut z = self.scores(x);
        softmax_in_place(&mut z);
        z
    }

    fn scores(&self, x: &[f64]) -> Vec<f64> {
        self.bias
            .iter()
            .enumerate()
            .map(|(k, b)| b + dot64(&self.weights[k * self.dim..(k + 1) * self.dim], x))
            .collect()
    }

    /// The class of a (shifted) query row, which is L2-normalised first: the highest score,
    /// ties to the lowest class.
    pub fn predict(&self, row: &[f64]) -> usize {
        let n = dot4(row, row).sqrt();
        let inv = if n > 0.0 && n.is_finite() {
            1.0 / n
        } else {
            0.0
        };
        let mut best = (0, f64::NEG_INFINITY);
        for (k, b) in self.bias.iter().enumerate() {
            let score = b + inv * dot4(&self.weights[k * self.dim..(k + 1) * self.dim], row);
            if score > best.1 {
                best = (k, score);
            }
        }
        best.0
    }
}

/// The objective in the coefficients of the support rows.
struct Problem<'a> {
    /// The support's Gram matrix, `n × n`.
    gram: &'a [f64],
    labels: &'a [usize],
    n: usize,
    n_classes: usize,
    lambda: f64,
}

impl Problem<'_> {
    /// The gradient at `(a, b)` into `grad_a` (as coefficients of the support rows) and
    /// `grad_b`; returns its squared norm in the embedding space, `Σ_c g_cᵀ G g_c + |∇b|²`.
    fn gradient(&self, a: &[f64], b: &[f64], grad_a: &mut [f64], grad_b: &mut [f64]) -> f64 {
        let (n, classes, gram) = (self.n, self.n_classes, self.gram);
        let mut logits = vec![0f64; classes];
        grad_b.iter_mut().for_each(|g| *g = 0.0);
        // Residuals r = (softmax(G a + b) − onehot) / n.
        for i in 0..n {
            for (k, l) in logits.iter_mut().enumerate() {
                *l = b[k]
                    + (0..n)
                        .map(|j| gram[i * n + j] * a[j * classes + k])
                        .sum::<f64>();
            }
            softmax_in_place(&mut logits);
            for k in 0..classes {
                let r = (logits[k] - f64::from(u8::from(self.labels[i] == k))) / n as f64;
                grad_a[i * classes + k] = r + self.lambda * a[i * classes + k];
                grad_b[k] += r;
            }
        }
        let mut norm2: f64 = grad_b.iter().map(|g| g * g).sum();
        for k in 0..classes {
            for i in 0..n {
                let gi = grad_a[i * classes + k];
                norm2 += gi
                    * (0..n)
                        .map(|j| gram[i * n + j] * grad_a[j * classes + k])
                        .sum::<f64>();
            }
        }
        norm2
    }
}

fn softmax_in_place(z: &mut [f64]) {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    z.iter_mut().for_each(|v| *v /= sum);
}
