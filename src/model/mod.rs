//! The image embedder (EfficientNet-B0), the classification heads of the three objectives,
//! and the on-device random rotation used by the consistency loss.

pub mod cpu;
pub mod efficientnet;
pub mod fast;
pub mod heads;
pub mod inference;
pub mod recalibrate;
pub mod rotate;

use crate::choice::UnknownChoice;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use efficientnet::{EMBEDDING_DIM, EfficientNetB0};
pub use heads::{AamHead, AamParams, SoftmaxHead};

/// The training objectives BloodShot compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Linear head + cross-entropy.
    Softmax,
    /// ArcFace additive angular margin softmax on the embedding.
    Aam,
    /// AAMSoftmax + λ·MSE(emb(x), emb(rotate(x))).
    AamConsistency,
}

impl Objective {
    /// Name as used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Softmax => "softmax",
            Objective::Aam => "aam",
            Objective::AamConsistency => "aam-consistency",
        }
    }

    /// Name as in the seed's tables.
    pub fn title(self) -> &'static str {
        match self {
            Objective::Softmax => "softmax",
            Objective::Aam => "AAMSoftmax",
            Objective::AamConsistency => "AAMSoftmax + consistency",
        }
    }

    /// All objectives, in the seed's order.
    pub const ALL: [Objective; 3] = [
        Objective::Softmax,
        Objective::Aam,
        Objective::AamConsistency,
    ];
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Objective {
    type Err = UnknownChoice;
    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "softmax" => Ok(Objective::Softmax),
            "aam" | "arcface" | "aamsoftmax" => Ok(Objective::Aam),
            "aam-consistency" | "aam+consistency" | "consistency" => Ok(Objective::AamConsistency),
            other => Err(UnknownChoice::new(
                "objective",
                other,
                "softmax, aam or aam-consistency",
            )),
        }
    }
}

/// The head that turns an embedding into class scores (and a loss).
#[derive(Module, Debug)]
pub enum Head {
    /// Linear layer for the softmax objective.
    Softmax(SoftmaxHead),
    /// ArcFace class centres for both AAM objectives.
    Aam(AamHead),
}

/// Embedder plus head: what a checkpoint stores.
#[derive(Module, Debug)]
pub struct Classifier {
    /// EfficientNet-B0 feature extractor; its pooled output is the embedding.
    pub embedder: EfficientNetB0,
    /// Objective-specific head.
    pub head: Head,
}

impl Classifier {
    /// A fresh, randomly initialised model for `n_classes` base classes.
    pub fn new(objective: Objective, n_classes: usize, device: &Device) -> Self {
        let embedder = EfficientNetB0::new(device);
        let head = match objective {
            Objective::Softmax => Head::Softmax(SoftmaxHead::new(EMBEDDING_DIM, n_classes, device)),
            Objective::Aam | Objective::AamConsistency => {
                Head::Aam(AamHead::new(EMBEDDING_DIM, n_classes, device))
            }
        };
        Self { embedder, head }
    }

    /// Plain class scores (no margin): used for accuracy and the base-test report.
    pub fn scores(&self, embeddings: Tensor<2>) -> Tensor<2> {
        match &self.head {
            Head::Softmax(h) => h.logits(embeddings),
            Head::Aam(h) => h.cosines(embeddings),
        }
    }
}
