//! Heads and losses of the three objectives.
//!
//! ArcFace follows Deng et al. 2019 (insightface's `ArcMarginProduct`): with θ the angle
//! between the normalised embedding and the normalised class centre, the target logit is
//! s·cos(θ + m) and the others s·cos θ. Where θ + m would pass π, the usual fallback
//! cos θ − m·sin m keeps the logit monotonic in θ.

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

/// Margin and scale of the additive angular margin softmax.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AamParams {
    /// Additive angular margin m in radians (0.5 rad ≈ 28.6°).
    pub margin: f64,
    /// Logit scale s.
    pub scale: f64,
}

impl Default for AamParams {
    fn default() -> Self {
        Self {
            margin: 0.5,
            scale: 64.0,
        }
    }
}

/// Linear classification head of the softmax objective.
#[derive(Module, Debug)]
pub struct SoftmaxHead {
    linear: Linear,
}

impl SoftmaxHead {
    /// Head from `dim`-d embeddings to `n_classes` logits.
    pub fn new(dim: usize, n_classes: usize, device: &Device) -> Self {
        Self {
            linear: LinearConfig::new(dim, n_classes).init(device),
        }
    }

    /// Logits `[batch, classes]`.
    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        self.linear.forward(embeddings)
    }
}

/// ArcFace class centres (one sub-centre per class).
#[derive(Module, Debug)]
pub struct AamHead {
    /// `[classes, dim]`, normalised at use.
    pub weight: Param<Tensor<2>>,
}

impl AamHead {
    /// Xavier-initialised class centres.
    pub fn new(dim: usize, n_classes: usize, device: &Device) -> Self {
        Self {
            weight: Initializer::XavierNormal { gain: 1.0 }.init_with(
                [n_classes, dim],
                Some(dim),
                Some(n_classes),
                device,
            ),
        }
    }

    /// Cosine similarity of each embedding to each class centre, `[batch, classes]`.
    pub fn cosines(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let e = l2_normalize(embeddings);
        let w = l2_normalize(self.weight.val());
        e.matmul(w.transpose())
    }
}

/// Rows scaled to unit length (a small epsilon keeps zero rows finite).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).add_scalar(1e-12).sqrt();
    x / norm
}

/// ArcFace logits from cosines and one-hot targets.
pub fn aam_logits(cosines: Tensor<2>, one_hot: Tensor<2>, params: AamParams) -> Tensor<2> {
    let m = params.margin;
    let (cos_m, sin_m) = (m.cos(), m.sin());
    // Clamp away from ±1: d/dx sqrt(1 - x²) is infinite there.
    let cos = cosines.clamp(-1.0 + 1e-7, 1.0 - 1e-7);
    let sin = cos.clone().powi_scalar(2).neg().add_scalar(1.0).sqrt();
    let cos_theta_m = cos.clone().mul_scalar(cos_m) - sin.mul_scalar(sin_m);
    let threshold = (std::f64::consts::PI - m).cos();
    let fallback = cos.clone().sub_scalar(m * sin_m);
    let beyond = cos.clone().lower_equal_elem(threshold);
    let target = cos_theta_m.mask_where(beyond, fallback);
    let logits = one_hot.clone() * target + (one_hot.neg().add_scalar(1.0)) * cos;
    logits.mul_scalar(params.scale)
}

/// Mean cross-entropy of logits against one-hot targets.
pub fn cross_entropy(logits: Tensor<2>, one_hot: Tensor<2>) -> Tensor<1> {
    let [b, _] = logits.dims();
    (log_softmax(logits, 1) * one_hot)
        .sum()
        .neg()
        .div_scalar(b as f64)
}

/// One-hot matrix `[batch, classes]` built on the host (labels come from the loader).
pub fn one_hot(labels: &[usize], n_classes: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0f32; labels.len() * n_classes];
    for (i, &l) in labels.iter().enumerate() {
        v[i * n_classes + l] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), n_classes]), device)
}
