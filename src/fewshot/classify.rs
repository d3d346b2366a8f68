//! Embedding matrices and class-mean prototypes.
//!
//! The BloodShot method: a class's prototype is the mean of its k raw support embeddings;
//! a query is assigned the class whose prototype has the highest cosine similarity. The
//! scoring itself lives in [`super::score`], which keeps it exact in f64 where it matters;
//! [`Prototypes`] here are the plain f32 unit prototypes, for plots.

use super::sampler::{FewShotError, SupportSet};

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
