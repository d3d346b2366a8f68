//! Exact prototype scoring: cosine similarity between queries and class prototypes that does
//! not depend on float32 luck, under four embedding normalisations.
//!
//! # Why not a plain float32 cosine
//! Trained embedders (AAMSoftmax runs in particular) can produce *directionally collapsed*
//! embeddings: every target embedding points almost the same way (pairwise cosine above
//! 0.9999999) and the class signal lives in direction differences of order 1e-7 in cosine.
//! Once a cosine close to 1.0 is formed in float32 that signal is at the float32 epsilon and
//! the predictions are noise. The original method had this trap.
//!
//! # How the scores stay exact and fast
//! Prototypes are built in f64 from the raw embeddings (after the mode's transform). Every
//! query `y` (transformed, f64) is split along one common unit axis `m`, the mean direction of
//! the queries: `y = a·m + r`, with `a = y·m` kept in f64 and the residual `r` stored in f32.
//! A prototype `D` is split the same way (`α`, `ρ`). Then
//!
//! `y · D = a·α + a·(ρ·m) + r·ρ`
//!
//! where only the last term is a long dot product: it runs in f32 on the residuals (the hot
//! loop, with AVX2/FMA when the CPU has it), everything else is f64. For collapsed embeddings
//! `|r|` is tiny relative to `|y|`, so the large shared part of every cosine is never rounded
//! in f32. Each fast score carries a rigorous bound on its rounding error; a query whose best
//! class does not win by more than the bounds is rescored exactly the way the float64
//! reference ([`reference_predict`]) scores it. Predictions therefore equal the reference's
//! draw by draw — tested on synthetic collapsed embeddings where a naive f32 cosine is at
//! chance, and on exact ties.

mod collapse;
mod gram;
mod kernel;
mod scorer;

use crate::choice::UnknownChoice;
use serde::{Deserialize, Serialize};

pub use collapse::{COLLAPSE_COSINE, CollapseStats, format_angle, format_cosine};
pub use gram::{GRAM_BUDGET_BYTES, GRAM_MIN_DRAWS};
pub use scorer::{Scorer, TransformedRows, reference_predict};

/// How embeddings are normalised before prototypes and cosines are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// Cosine on the raw embeddings: the original method.
    #[default]
    None,
    /// Subtract the mean of the drawn support embeddings, per draw (inductive).
    CentreSupport,
    /// Subtract the mean of all target embeddings, labels unused (transductive).
    CentreTarget,
    /// L2-normalise, centre on the target mean, L2-normalise again (SimpleShot's CL2N with
    /// the target mean in place of the base-set mean; transductive).
    Cl2n,
}

impl Normalization {
    /// Every mode, in display order.
    pub const ALL: [Normalization; 4] = [
        Normalization::None,
        Normalization::CentreSupport,
        Normalization::CentreTarget,
        Normalization::Cl2n,
    ];

    /// Name on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Normalization::None => "none",
            Normalization::CentreSupport => "centre-support",
            Normalization::CentreTarget => "centre-target",
            Normalization::Cl2n => "cl2n",
        }
    }

    /// Whether the mode uses the unlabelled query/target embeddings (transductive).
    pub fn transductive(self) -> bool {
        matches!(self, Normalization::CentreTarget | Normalization::Cl2n)
    }

    /// Index in [`Normalization::ALL`].
    pub fn index(self) -> usize {
        Normalization::ALL
            .iter()
            .position(|&m| m == self)
            .unwrap_or(0)
    }

    /// The mode and, for transductive ones, a plain warning: "cl2n (transductive)".
    pub fn label(self) -> String {
        if self.transductive() {
            format!("{} (transductive)", self.as_str())
        } else {
            self.as_str().to_string()
        }
    }
}

impl std::fmt::Display for Normalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Normalization {
    type Err = UnknownChoice;
    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        match s {
            "none" => Ok(Normalization::None),
            "centre-support" | "center-support" => Ok(Normalization::CentreSupport),
            "centre-target" | "center-target" => Ok(Normalization::CentreTarget),
            "cl2n" => Ok(Normalization::Cl2n),
            _ => Err(UnknownChoice::new(
                "normalisation",
                s,
                "none, centre-support, centre-target or cl2n",
            )),
        }
    }
}

pub(super) fn to_f64(row: &[f32]) -> Vec<f64> {
    row.iter().map(|&v| f64::from(v)).collect()
}

pub(crate) fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn norm(a: &[f64]) -> f64 {
    dot64(a, a).sqrt()
}

pub(crate) fn add_into(sum: &mut [f64], row: &[f64]) {
    sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
}
