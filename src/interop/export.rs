//! Writing a run's weights as safetensors with torchvision's key names, so that
//! `torchvision.models.efficientnet_b0().load_state_dict(safetensors.torch.load_file(F),
//! strict=False)` loads the embedder (and the softmax head as `classifier.1.*`; AAMSoftmax
//! class centres go to `metric_loss.W`, `[1280, classes]`, as in BloodShot's checkpoints).

use super::InteropError;
use std::collections::HashMap;
use std::path::Path;

use burn::store::{ModuleSnapshot, bridge};

use super::keys::{
    BLOODSHOT_AAM_W, BURN_AAM_WEIGHT, BURN_LINEAR_BIAS, BURN_LINEAR_WEIGHT, TORCH_CLASSIFIER_BIAS,
    TORCH_CLASSIFIER_WEIGHT, embedder_keys, transposed,
};
use crate::model::Classifier;

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    /// Tensors written.
    pub tensors: usize,
    /// Bytes of the file.
    pub bytes: u64,
}

/// Writes `model` to `out` (through a `.partial` file and a rename). `metadata` is stored in
/// the file's header (bloodshot stores the classes and the objective there).
pub fn write_safetensors(
    model: &Classifier,
    metadata: HashMap<String, String>,
    out: &Path,
) -> Result<ExportSummary, InteropError> {
    let named = torch_named(model)?;
    write_file(&named, metadata, out)?;
    let bytes = std::fs::metadata(out).map_or(0, |m| m.len());
    Ok(ExportSummary {
        tensors: named.len(),
        bytes,
    })
}

/// One weight under its torchvision (or BloodShot) name: name, shape, values.
type Named = (String, Vec<usize>, Vec<f32>);

/// The model's weights under torchvision's names, the heads' matrices transposed to their
/// PyTorch layouts; refused when the embedder's are not exactly the key table's.
fn torch_named(model: &Classifier) -> Result<Vec<Named>, InteropError> {
    let names: HashMap<String, String> = embedder_keys()
        .into_iter()
        .map(|p| (p.burn, p.torch))
        .chain([(
            BURN_LINEAR_BIAS.to_string(),
            TORCH_CLASSIFIER_BIAS.to_string(),
        )])
        .collect();
    let mut named: Vec<Named> = Vec::new();
    for t in model.collect(None, None, true) {
        let data = bridge::to_data(&t)
            .map_err(|e| InteropError::Tensor(format!("cannot read weight `{}`: {e}", t.name)))?
            .convert::<f32>();
        let shape = data.shape().to_vec();
        let values: Vec<f32> = data
            .try_to_vec::<f32>()
            .map_err(|e| InteropError::Tensor(format!("cannot read weight `{}`: {e:?}", t.name)))?;
        match t.name.as_str() {
            // Ours [1280, classes] → torch Linear [classes, 1280].
            BURN_LINEAR_WEIGHT => named.push((
                TORCH_CLASSIFIER_WEIGHT.into(),
                vec![shape[1], shape[0]],
                transposed(&values, shape[0], shape[1]),
            )),
            // Ours [classes, 1280] → BloodShot's [1280, classes].
            BURN_AAM_WEIGHT => named.push((
                BLOODSHOT_AAM_W.into(),
                vec![shape[1], shape[0]],
                transposed(&values, shape[0], shape[1]),
            )),
            other => {
                // Anything else that is not a weight (e.g. the stochastic-depth flag) stays.
                if let Some(torch) = names.get(other) {
                    named.push((torch.clone(), shape, values));
                }
            }
        }
    }
    let expected = embedder_keys().len();
    let embedder = named
        .iter()
        .filter(|(n, ..)| n.starts_with("features."))
        .count();
    if embedder != expected {
        return Err(InteropError::Tensor(format!(
            "internal: {embedder} embedder weights collected, {expected} expected (a key-table bug)"
        )));
    }
    Ok(named)
}

/// Writes `named` with `metadata` to `out` through a `.partial` file and a rename.
fn write_file(
    named: &[Named],
    metadata: HashMap<String, String>,
    out: &Path,
) -> Result<(), InteropError> {
    let bytes: Vec<Vec<u8>> = named
        .iter()
        .map(|(_, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = named
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| InteropError::Tensor(format!("cannot encode `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let partial = out.with_file_name(format!(
        ".{}.partial",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "weights".into())
    ));
    safetensors::serialize_to_file(views, Some(metadata), &partial)
        .map_err(|e| InteropError::Tensor(format!("cannot write {}: {e}", partial.display())))?;
    std::fs::rename(&partial, out).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        crate::files::IoError::at("write", out)(e)
    })?;
    Ok(())
}

/// Writes checkpoint `epoch` (default: the last) of `run` to `out` as safetensors with
/// torchvision key names; the run's classes and objective go into the file's metadata.
pub fn export_run(
    run: &crate::runs::RunDir,
    epoch: Option<usize>,
    out: &Path,
    device: &burn::prelude::Device,
) -> Result<ExportSummary, InteropError> {
    let epoch = run.checkpoint_or_last(epoch)?;
    let (info, model) = crate::runs::load_model(run, epoch, device)?;
    let metadata: HashMap<String, String> = [
        ("format", "pt".to_string()),
        (
            "producer",
            format!("bloodshot {}", env!("CARGO_PKG_VERSION")),
        ),
        ("run", info.id.clone()),
        ("epoch", epoch.to_string()),
        ("objective", info.config.objective.as_str().to_string()),
        (
            "classes",
            serde_json::to_string(&info.classes).unwrap_or_default(),
        ),
        ("image_size", info.config.image_size.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    write_safetensors(&model, metadata, out)
}
