//! Few-shot evaluation: embedding the target set, support-set sampling, prototypes, cosine
//! classification, metrics, protocols and the 2-D PCA view.

pub mod classify;
pub mod embed;
pub mod evaluate;
pub mod method;
pub mod metrics;
pub mod paired;
mod parallel;
pub mod pca;
pub mod sampler;
pub mod score;
pub mod tta;
