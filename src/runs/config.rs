//! The training configuration a run is defined by (saved in `config.json`).

use std::path::PathBuf;

use super::RunsError;
use serde::{Deserialize, Serialize};

use crate::device::DeviceSpec;
use crate::model::{AamParams, Objective};

/// Everything that defines a training run (saved as `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Base dataset folder.
    pub base: PathBuf,
    /// Objective.
    pub objective: Objective,
    /// Epochs (BloodShot: 6; more overfit the base domain).
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Square image side fed to the network.
    pub image_size: u32,
    /// ArcFace margin and scale.
    pub aam: AamParams,
    /// Weight λ of the rotation-consistency loss.
    pub lambda: f64,
    /// Seed of the split, shuffling, rotations and initialisation.
    pub seed: u64,
    /// Keep at most this many images per class (quick experiments).
    pub limit_per_class: Option<usize>,
    /// Drop classes with fewer images.
    pub min_class_size: usize,
    /// Compute device.
    pub device: DeviceSpec,
    /// Use the on-disk decoded-image cache.
    pub use_cache: bool,
    /// Training-mode forward passes (no backward) over training batches after each epoch,
    /// so that batch-norm running statistics catch up with the weights before validation,
    /// checkpointing and embedding. 0 reproduces the original exactly; it matters for short
    /// runs (a few steps per epoch), where stale statistics make every image look alike.
    #[serde(default = "default_bn_recalibration")]
    pub bn_recalibration: usize,
    /// Where the embedder starts: a run folder (its last checkpoint) or a weights file
    /// (torchvision `.pth`, Lightning `.ckpt`, `.safetensors`); `None` is a random start.
    /// The head is always fresh, for the base classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
}

fn default_bn_recalibration() -> usize {
    20
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            base: crate::paths::default_base(),
            objective: Objective::AamConsistency,
            epochs: 6,
            batch_size: 32,
            lr: 1e-3,
            image_size: 224,
            aam: AamParams::default(),
            lambda: 1.0,
            seed: 0,
            limit_per_class: None,
            min_class_size: crate::data::DEFAULT_MIN_CLASS_SIZE,
            device: DeviceSpec::Cpu,
            use_cache: true,
            bn_recalibration: default_bn_recalibration(),
            init: None,
        }
    }
}

impl TrainConfig {
    /// Quick settings for the bundled sample on a small CPU, which the console's Train form
    /// starts from there: 64 px, batch 16, 2 epochs, 16 images per class, and margin 0.2 with
    /// scale 16 (the seed's 0.5 and 64 do not move a fresh network in a few dozen steps).
    pub fn sample_preset(self) -> TrainConfig {
        TrainConfig {
            image_size: 64,
            batch_size: 16,
            epochs: 2,
            limit_per_class: Some(16),
            aam: AamParams {
                margin: 0.2,
                scale: 16.0,
            },
            ..self
        }
    }

    /// Checks every value a user can type; the error names the value.
    pub fn validate(&self) -> Result<(), RunsError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(RunsError::Config(format!(
                "learning rate {} must be a positive finite number",
                self.lr
            )));
        }
        if self.epochs == 0 {
            return Err(RunsError::Config("epochs must be at least 1".into()));
        }
        if self.batch_size < 2 {
            return Err(RunsError::Config(format!(
                "batch size {} is too small: batch normalisation needs at least 2 images per step",
                self.batch_size
            )));
        }
        if !(32..=1024).contains(&self.image_size) {
            return Err(RunsError::Config(format!(
                "image size {} px is outside 32..=1024 (EfficientNet downsamples by 32)",
                self.image_size
            )));
        }
        let m = self.aam.margin;
        if !(m.is_finite() && (0.0..std::f64::consts::FRAC_PI_2).contains(&m)) {
            return Err(RunsError::Config(format!(
                "margin {m} must be in [0, π/2) radians"
            )));
        }
        if !(self.aam.scale.is_finite() && self.aam.scale > 0.0) {
            return Err(RunsError::Config(format!(
                "scale {} must be positive",
                self.aam.scale
            )));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(RunsError::Config(format!(
                "lambda {} must be a finite number ≥ 0",
                self.lambda
            )));
        }
        if self.limit_per_class == Some(0) {
            return Err(RunsError::Config(
                "limit per class must be at least 1".into(),
            ));
        }
        if let Some(init) = &self.init
            && !init.exists()
        {
            return Err(RunsError::Config(format!(
                "--init {}: no such run folder or weights file",
                init.display()
            )));
        }
        Ok(())
    }
}
