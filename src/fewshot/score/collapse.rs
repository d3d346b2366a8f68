//! How directionally collapsed a set of embeddings is.

use serde::{Deserialize, Serialize};

use super::{add_into, dot64, norm, to_f64};
use crate::fewshot::classify::Embeddings;

/// How directionally collapsed a set of embeddings is, computed once per embedded target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CollapseStats {
    /// Number of (non-zero) embeddings measured.
    pub n: usize,
    /// Norm of the mean unit embedding (1 = all identical directions, ~0 = spread out).
    pub mean_unit_norm: f64,
    /// Mean cosine over all pairs of distinct embeddings.
    pub mean_pairwise_cosine: f64,
    /// Median angle, in degrees, between an embedding and the mean direction.
    pub median_angle_deg: f64,
}

/// Mean pairwise cosine from which embeddings count as directionally collapsed: their angles
/// are then a few degrees at most, and a cosine formed in f32 keeps few digits of the signal.
pub const COLLAPSE_COSINE: f64 = 0.999;

impl CollapseStats {
    /// Measures the rows of `emb` (all-zero rows are left out). `None` with fewer than two rows.
    pub fn of(emb: &Embeddings) -> Option<CollapseStats> {
        Self::of_sets(&[emb])
    }

    /// Measures the rows of several embedding sets together (e.g. a support pool and its
    /// queries) without copying them into one matrix: two passes, no unit vectors kept.
    pub fn of_sets(sets: &[&Embeddings]) -> Option<CollapseStats> {
        let dim = sets.first()?.dim;
        let unit = |row: &[f32]| -> Option<Vec<f64>> {
            let row = to_f64(row);
            let norm = norm(&row);
            (norm > 0.0 && norm.is_finite()).then(|| row.iter().map(|v| v / norm).collect())
        };
        let rows = || {
            sets.iter()
                .flat_map(|e| (0..e.n()).map(move |i| e.row(i)))
                .filter_map(unit)
        };
        let mut sum = vec![0f64; dim];
        let mut n = 0usize;
        for u in rows() {
            add_into(&mut sum, &u);
            n += 1;
        }
        if n < 2 {
            return None;
        }
        let sum_sq = dot64(&sum, &sum);
        let mean_unit_norm = sum_sq.sqrt() / n as f64;
        let mean_pairwise_cosine = (sum_sq - n as f64) / (n as f64 * (n as f64 - 1.0));
        let axis_norm = sum_sq.sqrt();
        let mut angles: Vec<f64> = rows()
            .map(|u| {
                if axis_norm == 0.0 {
                    return 90.0;
                }
                // The angle from the perpendicular part, which stays accurate near 0°.
                let along = dot64(&u, &sum) / axis_norm;
                let perpendicular = u
                    .iter()
                    .zip(&sum)
                    .map(|(x, s)| {
                        let d = x - along * s / axis_norm;
                        d * d
                    })
                    .sum::<f64>()
                    .sqrt();
                perpendicular.atan2(along).to_degrees()
            })
            .collect();
        angles.sort_by(f64::total_cmp);
        let median_angle_deg = if n % 2 == 1 {
            angles[n / 2]
        } else {
            (angles[n / 2 - 1] + angles[n / 2]) / 2.0
        };
        Some(CollapseStats {
            n,
            mean_unit_norm,
            mean_pairwise_cosine,
            median_angle_deg,
        })
    }

    /// Whether the embeddings share one direction closely enough to call them collapsed.
    pub fn collapsed(&self) -> bool {
        self.mean_pairwise_cosine >= COLLAPSE_COSINE
    }

    /// One plain sentence when collapsed, with the figures and what to try; `None` otherwise.
    pub fn warning(&self) -> Option<String> {
        self.collapsed().then(|| {
            format!(
                "The target embeddings are directionally collapsed (mean pairwise cosine {}, median angle to their mean {}): scores are computed exactly, but the class signal is in tiny direction differences — compare with --normalize centre-target or cl2n (transductive) or centre-support.",
                format_cosine(self.mean_pairwise_cosine),
                format_angle(self.median_angle_deg)
            )
        })
    }
}

/// An angle in degrees with three significant figures: fixed-point from 0.01° up (`1.51°`,
/// `26.6°`), in scientific notation below it (`7.10e-3°`), where a fixed-point figure would
/// read as 0.
pub fn format_angle(deg: f64) -> String {
    if !deg.is_finite() || deg == 0.0 {
        return format!("{deg}°");
    }
    if deg.abs() < 0.01 {
        return format!("{deg:.2e}°");
    }
    let digits = (2 - deg.abs().log10().floor() as i32).clamp(0, 4) as usize;
    format!("{deg:.digits$}°")
}

/// A cosine close to 1 written with enough nines to be told apart from 1.
pub fn format_cosine(c: f64) -> String {
    if c < 0.999 || !c.is_finite() {
        return format!("{c:.3}");
    }
    let gap = (1.0 - c).max(1e-16);
    let digits = (-gap.log10()).ceil() as usize + 1;
    format!("{c:.digits$}", digits = digits.min(16))
}
