//! The base-test report: how the trained head classifies the 20 % test split of the base
//! set (per-class precision, recall, F1, support and the confusion matrix).

use serde::{Deserialize, Serialize};

use crate::fewshot::metrics::{ConfusionMatrix, DrawMetrics};

/// Saved as `base_test.json` in the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaseTestReport {
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// Epoch of the model evaluated.
    pub epoch: usize,
    /// Scores and confusion matrix.
    pub metrics: DrawMetrics,
}

impl BaseTestReport {
    /// Builds the report from true and predicted labels.
    pub fn from_predictions(
        classes: Vec<String>,
        epoch: usize,
        truth: &[usize],
        predicted: &[usize],
    ) -> Self {
        let mut cm = ConfusionMatrix::new(classes.len());
        for (&t, &p) in truth.iter().zip(predicted) {
            cm.add(t, p);
        }
        Self {
            classes,
            epoch,
            metrics: DrawMetrics::from_confusion(cm),
        }
    }
}
