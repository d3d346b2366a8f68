//! Two-dimensional PCA of embeddings for the console's scatter plot (power iteration with
//! deflation on the covariance matrix; deterministic start vector).

use super::classify::Embeddings;

/// Queries in the seed's scatter plot at most.
pub const VIEW_SAMPLE: usize = 400;

/// Result of [`pca_2d`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// `(x, y)` of each row.
    pub points: Vec<(f64, f64)>,
    /// The two unit principal directions.
    pub components: [Vec<f64>; 2],
    /// Mean that was subtracted.
    pub mean: Vec<f64>,
}

/// Projects the chosen rows onto their first two principal components.
/// Returns one `(x, y)` per row, and the two component vectors (for projecting prototypes).
pub fn pca_2d(emb: &Embeddings, rows: &[usize]) -> Pca {
    let d = emb.dim;
    let n = rows.len();
    let mut mean = vec![0f64; d];
    for &r in rows {
        for (m, &v) in mean.iter_mut().zip(emb.row(r)) {
            *m += v as f64;
        }
    }
    if n > 0 {
        mean.iter_mut().for_each(|m| *m /= n as f64);
    }
    let centred: Vec<Vec<f64>> = rows
        .iter()
        .map(|&r| {
            emb.row(r)
                .iter()
                .zip(&mean)
                .map(|(&v, m)| v as f64 - m)
                .collect()
        })
        .collect();
    // Covariance-vector product without forming the d×d matrix: C v = Xᵀ (X v) / n.
    let cov_mul = |v: &[f64]| -> Vec<f64> {
        let mut out = vec![0f64; d];
        for x in &centred {
            let s: f64 = x.iter().zip(v).map(|(a, b)| a * b).sum();
            for (o, a) in out.iter_mut().zip(x) {
                *o += s * a;
            }
        }
        out.iter_mut().for_each(|o| *o /= n.max(1) as f64);
        out
    };
    let mut comps: [Vec<f64>; 2] = [vec![0f64; d], vec![0f64; d]];
    for c in 0..2 {
        let mut v: Vec<f64> = (0..d)
            .map(|i| 1.0 + ((i * 7919 + c * 104_729) % 97) as f64 / 97.0)
            .collect();
        for _ in 0..100 {
            let mut w = cov_mul(&v);
            if c == 1 {
                let p: f64 = w.iter().zip(&comps[0]).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(&comps[0]).for_each(|(a, b)| *a -= p * b);
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-12 {
                break;
            }
            v = w.into_iter().map(|x| x / norm).collect();
        }
        comps[c] = v;
    }
    let points = centred
        .iter()
        .map(|x| {
            (
                x.iter().zip(&comps[0]).map(|(a, b)| a * b).sum(),
                x.iter().zip(&comps[1]).map(|(a, b)| a * b).sum(),
            )
        })
        .collect();
    Pca {
        points,
        components: comps,
        mean,
    }
}

/// Projects one vector with components and mean from [`pca_2d`].
pub fn project(v: &[f32], comps: &[Vec<f64>; 2], mean: &[f64]) -> (f64, f64) {
    let c: Vec<f64> = v.iter().zip(mean).map(|(&a, m)| a as f64 - m).collect();
    (
        c.iter().zip(&comps[0]).map(|(a, b)| a * b).sum(),
        c.iter().zip(&comps[1]).map(|(a, b)| a * b).sum(),
    )
}

/// The seed's view of a prepared target: the PCA of (up to) [`VIEW_SAMPLE`] query embeddings,
/// evenly spaced for determinism and L2-normalised (as the cosine sees them), and the points
/// of each class. What the console's K-shot tab plots.
pub fn target_view(prep: &super::evaluate::Prepared) -> (Pca, Vec<Vec<(f64, f64)>>) {
    let n = prep.query_labels.len();
    let take = n.min(VIEW_SAMPLE);
    let rows: Vec<usize> = (0..take).map(|i| i * n / take.max(1)).collect();
    let pca = pca_2d(&prep.query_emb.l2_normalized(), &rows);
    let mut points = vec![Vec::new(); prep.classes.len()];
    for (pt, &r) in pca.points.iter().zip(&rows) {
        points[prep.query_labels[r]].push(*pt);
    }
    (pca, points)
}
