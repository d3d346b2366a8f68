//! Where a new run's embedder starts: random, the last checkpoint of another run, or a
//! PyTorch / safetensors weights file (through the import path). The head is always fresh,
//! for the base classes of the new run.

use super::TrainError;
use std::path::Path;

use burn::prelude::Device;

use crate::interop::{ImportOptions, load_weights};
use crate::model::{Classifier, EfficientNetB0};
use crate::runs::{RunDir, load_model};

/// The embedder stored at `source`: a run folder's last checkpoint, or a weights file.
pub fn embedder_from(source: &Path, device: &Device) -> Result<EfficientNetB0, TrainError> {
    if source.is_dir() {
        let run = RunDir::open(source)?;
        let epoch = run.checkpoint_or_last(None)?;
        let (_, model) = load_model(&run, epoch, device)?;
        return Ok(model.embedder);
    }
    let loaded = load_weights(source, &ImportOptions::default(), device)?;
    Ok(loaded.model.embedder)
}

/// A new run's model: a fresh head for `n_classes` on the embedder `init` names (random
/// when `None`).
pub fn initial_model(
    objective: crate::model::Objective,
    n_classes: usize,
    init: Option<&Path>,
    device: &Device,
) -> Result<Classifier, TrainError> {
    let mut model = Classifier::new(objective, n_classes, device);
    if let Some(source) = init {
        model.embedder =
            embedder_from(source, device).map_err(|e| format!("cannot start from --init: {e}"))?;
    }
    Ok(model)
}
