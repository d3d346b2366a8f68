//! Reading PyTorch weights — torchvision `efficientnet_b0` state dicts, BloodShot Lightning
//! checkpoints and our own safetensors exports — into a [`Classifier`], through burn's own
//! readers (`burn::store`), and turning them into an ordinary run folder.

use super::InteropError;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleSnapshot, ModuleStore, PytorchStore, SafetensorsStore, bridge};

use super::keys::{
    BLOODSHOT_AAM_W, BLOODSHOT_CLASSES, BURN_AAM_WEIGHT, BURN_LINEAR_BIAS, BURN_LINEAR_WEIGHT,
    TORCH_CLASSIFIER_BIAS, TORCH_CLASSIFIER_WEIGHT, embedder_keys, transposed,
};
use crate::model::{Classifier, EMBEDDING_DIM, Objective};
use crate::runs::{EpochProgress, RunDir, RunInfo, RunState, RunStatus, TrainConfig, write_json};

/// What kind of file the weights came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A torchvision `efficientnet_b0` state dict (`.pth` / `.pt`).
    TorchvisionStateDict,
    /// A BloodShot PyTorch Lightning checkpoint (`.ckpt`, `state_dict.backbone.*`).
    LightningCheckpoint,
    /// A safetensors file with torchvision names (what `bloodshot export-weights` writes).
    Safetensors,
}

impl SourceKind {
    /// Words for messages and the run's `source` line.
    pub fn describe(self) -> &'static str {
        match self {
            SourceKind::TorchvisionStateDict => "torchvision efficientnet_b0 state dict",
            SourceKind::LightningCheckpoint => "BloodShot Lightning checkpoint",
            SourceKind::Safetensors => "safetensors with torchvision names",
        }
    }
}

/// What the caller knows that the file may not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Run id to create (default: `<time>-<objective>-import`).
    pub name: Option<String>,
    /// Class names of the head, in its order (default: the file's metadata, BloodShot's 11
    /// AML classes for an 11-class `metric_loss.W`, else `class-0`, `class-1`, …).
    pub classes: Option<Vec<String>>,
    /// Objective (default: inferred — `aam` for AAM class centres, `softmax` for a linear
    /// classifier; AAM centres cannot tell `aam` from `aam-consistency`).
    pub objective: Option<Objective>,
    /// Image side the model was trained at (default 224).
    pub image_size: Option<u32>,
}

/// A model read from a file, before it becomes a run.
#[derive(Debug)]
pub struct LoadedWeights {
    /// The model, on the device it was loaded on.
    pub model: Classifier,
    /// What the file was.
    pub kind: SourceKind,
    /// Objective of the head.
    pub objective: Objective,
    /// Class names, in head order.
    pub classes: Vec<String>,
    /// Parameters applied.
    pub applied: usize,
    /// Entries of the file that are not weights of the model (ignored).
    pub ignored: Vec<String>,
}

/// The outcome of `bloodshot import`.
#[derive(Debug)]
pub struct Imported {
    /// The new run.
    pub run: RunDir,
    /// What the file was.
    pub kind: SourceKind,
    /// Objective of the run.
    pub objective: Objective,
    /// Class names.
    pub classes: Vec<String>,
    /// Parameters applied.
    pub applied: usize,
    /// Entries of the file left out (not weights of EfficientNet-B0 or its head).
    pub ignored: Vec<String>,
}

/// The tensors of a checkpoint file, by name, with what kind of file it was.
fn read_tensors(path: &Path) -> Result<(SourceKind, BTreeMap<String, PackTensor>), InteropError> {
    let mut head = Vec::with_capacity(16);
    {
        use std::io::Read;
        std::fs::File::open(path)
            .and_then(|f| f.take(16).read_to_end(&mut head))
            .map_err(|e| InteropError::file(path, format!("cannot read: {e}")))?;
    }
    let n = head.len();
    if n >= 2 && &head[..2] == b"PK" {
        // A PyTorch zip archive: a Lightning checkpoint keeps its weights under `state_dict`
        // (beside a pickled module object and training state, which are not read as weights).
        // Keys stay exactly as written (burn would otherwise renumber `classifier.1` to
        // `classifier.0`, since torchvision's dropout at index 0 has no weights).
        let mut lightning = PytorchStore::from_file(path)
            .with_top_level_key("state_dict")
            .map_indices_contiguous(false);
        if let Ok(tensors) = lightning.get_all_tensors() {
            return Ok((SourceKind::LightningCheckpoint, tensors.clone()));
        }
        let mut plain = PytorchStore::from_file(path).map_indices_contiguous(false);
        let tensors = plain.get_all_tensors().map_err(|e| {
            InteropError::file(path, format!("not a readable PyTorch checkpoint ({e})"))
        })?;
        return Ok((SourceKind::TorchvisionStateDict, tensors.clone()));
    }
    if n >= 9 && head[8] == b'{' {
        let mut store = SafetensorsStore::from_file(path).map_indices_contiguous(false);
        let tensors = store.get_all_tensors().map_err(|e| {
            InteropError::file(path, format!("not a readable safetensors file ({e})"))
        })?;
        return Ok((SourceKind::Safetensors, tensors.clone()));
    }
    Err(InteropError::file(
        path,
        "neither a PyTorch checkpoint (.pth/.pt/.ckpt zip archive) nor a safetensors file",
    ))
}

/// The header metadata of a safetensors file (what `export-weights` stores: classes,
/// objective), reading only the header, not the tensors.
fn safetensors_metadata(path: &Path) -> Option<HashMap<String, String>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let len = usize::try_from(u64::from_le_bytes(len)).ok()?;
    // A header is small; a huge length is a broken file, not a reason to allocate.
    if len > 100 << 20 {
        return None;
    }
    let mut header = vec![0u8; len];
    f.read_exact(&mut header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    let meta = header.get("__metadata__")?.as_object()?;
    Some(
        meta.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
    )
}

fn shape_of(t: &PackTensor) -> Vec<usize> {
    t.shape.as_slice().to_vec()
}

fn f32_data(name: &str, t: &PackTensor) -> Result<TensorData, InteropError> {
    let data = bridge::to_data(t)
        .map_err(|e| InteropError::Tensor(format!("`{name}` cannot be read: {e}")))?;
    Ok(data.convert::<f32>())
}

/// A 2-D tensor transposed (`[r, c]` → `[c, r]`).
fn transpose(data: TensorData) -> Result<TensorData, InteropError> {
    let [r, c] = [data.shape()[0], data.shape()[1]];
    let v: Vec<f32> = data
        .try_to_vec::<f32>()
        .map_err(|e| InteropError::Tensor(format!("cannot read values: {e:?}")))?;
    Ok(TensorData::new(transposed(&v, r, c), [c, r]))
}

/// The checkpoint's tensors with the `backbone.` prefix of BloodShot's Lightning module
/// dropped, after checking they are EfficientNet-B0's (no weight missing, none of a larger
/// network).
fn embedder_tensors(
    path: &Path,
    raw: BTreeMap<String, PackTensor>,
    table: &[super::keys::KeyPair],
) -> Result<BTreeMap<String, PackTensor>, InteropError> {
    // The original BloodShot module wraps torchvision's network as `backbone`.
    let tensors: BTreeMap<String, PackTensor> =
        if raw.keys().any(|k| k.starts_with("backbone.features.")) {
            raw.into_iter()
                .map(|(k, v)| {
                    (
                        k.strip_prefix("backbone.").map_or(k.clone(), String::from),
                        v,
                    )
                })
                .collect()
        } else {
            raw
        };
    let known: HashMap<&str, usize> = table
        .iter()
        .enumerate()
        .map(|(i, p)| (p.torch.as_str(), i))
        .collect();
    if !tensors.keys().any(|k| k.starts_with("features.")) {
        let some: Vec<&String> = tensors.keys().take(5).collect();
        return Err(InteropError::file(
            path,
            format!(
                "holds no EfficientNet `features.*` weights (first keys: {some:?}); bloodshot reads torchvision efficientnet_b0 state dicts and BloodShot Lightning checkpoints"
            ),
        ));
    }
    // A key of torchvision's `features` that B0 does not have means another network.
    if let Some(extra) = tensors.keys().find(|k| {
        k.starts_with("features.")
            && !known.contains_key(k.as_str())
            && !k.ends_with("num_batches_tracked")
    }) {
        return Err(InteropError::file(
            path,
            format!(
                "`{extra}` is not a weight of EfficientNet-B0: the file holds another network (EfficientNet-B1 or larger?)"
            ),
        ));
    }
    if let Some(missing) = table.iter().find(|p| !tensors.contains_key(&p.torch)) {
        return Err(InteropError::file(
            path,
            format!("has no `{}`, which EfficientNet-B0 needs", missing.torch),
        ));
    }

    Ok(tensors)
}

/// The head a checkpoint holds, as the import will use it.
struct Head<'a> {
    objective: Objective,
    /// Its tensor's name in the file, and the tensor.
    name: &'static str,
    tensor: &'a PackTensor,
    n_classes: usize,
    classes: Vec<String>,
    is_aam: bool,
}

/// The head: AAM class centres or a linear classifier (as `--objective` or the file's
/// metadata asks), its class count, and the class names (`--classes`, the metadata, the
/// original's eight names, or `class-N`).
fn choose_head<'a>(
    path: &Path,
    opts: &ImportOptions,
    kind: SourceKind,
    tensors: &'a BTreeMap<String, PackTensor>,
) -> Result<Head<'a>, InteropError> {
    let aam = tensors.get(BLOODSHOT_AAM_W);
    let linear = tensors.get(TORCH_CLASSIFIER_WEIGHT);
    let inferred = if aam.is_some() {
        Objective::Aam
    } else if linear.is_some() {
        Objective::Softmax
    } else {
        return Err(InteropError::file(
            path,
            format!(
                "has neither `{BLOODSHOT_AAM_W}` (AAMSoftmax class centres) nor `{TORCH_CLASSIFIER_WEIGHT}` (a linear classifier): no head to import"
            ),
        ));
    };
    let metadata = (kind == SourceKind::Safetensors)
        .then(|| safetensors_metadata(path))
        .flatten()
        .unwrap_or_default();
    let objective = opts
        .objective
        .or_else(|| metadata.get("objective")?.parse().ok())
        .unwrap_or(inferred);
    let is_aam = matches!(objective, Objective::Aam | Objective::AamConsistency);
    let head_tensor = match (is_aam, aam, linear) {
        (true, Some(w), _) => (BLOODSHOT_AAM_W, w),
        (false, _, Some(w)) => (TORCH_CLASSIFIER_WEIGHT, w),
        (true, None, _) => {
            return Err(InteropError::file(
                path,
                format!(
                    "--objective {objective} needs AAMSoftmax class centres `{BLOODSHOT_AAM_W}`, but the file only has a linear classifier `{TORCH_CLASSIFIER_WEIGHT}`"
                ),
            ));
        }
        (false, Some(_), None) => {
            return Err(InteropError::file(
                path,
                format!(
                    "--objective softmax needs a linear classifier `{TORCH_CLASSIFIER_WEIGHT}`, but the file holds AAMSoftmax class centres `{BLOODSHOT_AAM_W}`"
                ),
            ));
        }
        (false, None, None) => unreachable!("checked above"),
    };
    let head_shape = shape_of(head_tensor.1);
    let n_classes = match (is_aam, head_shape.as_slice()) {
        (true, &[EMBEDDING_DIM, c]) if c > 0 => c,
        (false, &[c, EMBEDDING_DIM]) if c > 0 => c,
        _ => {
            return Err(InteropError::file(
                path,
                format!(
                    "`{}` has shape {head_shape:?}, but an EfficientNet-B0 head needs {}",
                    head_tensor.0,
                    if is_aam {
                        "[1280, classes]"
                    } else {
                        "[classes, 1280]"
                    }
                ),
            ));
        }
    };
    let classes = head_classes(path, opts, &metadata, (head_tensor.0, n_classes), is_aam)?;
    Ok(Head {
        objective,
        name: head_tensor.0,
        tensor: head_tensor.1,
        n_classes,
        classes,
        is_aam,
    })
}

/// The class names of a head holding `n_classes` (`head.1`) in tensor `head.0`: `--classes`
/// (which must match), the file's metadata, the original BloodShot's eight AML classes for
/// its AAM head, or `class-N`; none empty or named twice.
fn head_classes(
    path: &Path,
    opts: &ImportOptions,
    metadata: &HashMap<String, String>,
    head: (&str, usize),
    is_aam: bool,
) -> Result<Vec<String>, InteropError> {
    let (head_name, n_classes) = head;
    let classes: Vec<String> = match &opts.classes {
        Some(c) if c.len() != n_classes => {
            return Err(InteropError::file(
                path,
                format!(
                    "--classes names {} classes but `{}` holds {n_classes}",
                    c.len(),
                    head_name
                ),
            ));
        }
        Some(c) => c.clone(),
        None => metadata
            .get("classes")
            .and_then(|c| serde_json::from_str::<Vec<String>>(c).ok())
            .filter(|c| c.len() == n_classes)
            .unwrap_or_else(|| {
                if is_aam && n_classes == BLOODSHOT_CLASSES.len() {
                    BLOODSHOT_CLASSES.iter().map(|c| c.to_string()).collect()
                } else {
                    (0..n_classes).map(|i| format!("class-{i}")).collect()
                }
            }),
    };
    if let Some(dup) = classes
        .iter()
        .enumerate()
        .find(|(i, c)| classes[..*i].contains(c) || c.is_empty())
    {
        return Err(InteropError::Option(format!(
            "--classes: `{}` is empty or named twice",
            dup.1
        )));
    }

    Ok(classes)
}

/// Every tensor renamed to its path in our model, as f32, the head transposed to burn's
/// layout (and the linear head's bias checked).
fn weight_pack(
    path: &Path,
    table: &[super::keys::KeyPair],
    tensors: &BTreeMap<String, PackTensor>,
    head_tensor: (&'static str, &PackTensor),
    n_classes: usize,
    is_aam: bool,
) -> Result<Vec<PackTensor>, InteropError> {
    let mut pack = Vec::with_capacity(table.len() + 2);
    for p in table {
        let data = f32_data(&p.torch, &tensors[&p.torch])?;
        pack.push(bridge::from_data(data, p.burn.clone(), None));
    }
    let head_data = transpose(f32_data(head_tensor.0, head_tensor.1)?)?;
    if is_aam {
        pack.push(bridge::from_data(head_data, BURN_AAM_WEIGHT.into(), None));
    } else {
        pack.push(bridge::from_data(
            head_data,
            BURN_LINEAR_WEIGHT.into(),
            None,
        ));
        match tensors.get(TORCH_CLASSIFIER_BIAS) {
            Some(b) if shape_of(b) == [n_classes] => {
                let data = f32_data(TORCH_CLASSIFIER_BIAS, b)?;
                pack.push(bridge::from_data(data, BURN_LINEAR_BIAS.into(), None));
            }
            Some(b) => {
                return Err(InteropError::file(
                    path,
                    format!(
                        "`{TORCH_CLASSIFIER_BIAS}` has shape {:?}, expected [{n_classes}]",
                        shape_of(b)
                    ),
                ));
            }
            None => {
                return Err(InteropError::file(
                    path,
                    format!("has `{TORCH_CLASSIFIER_WEIGHT}` but no `{TORCH_CLASSIFIER_BIAS}`"),
                ));
            }
        }
    }
    Ok(pack)
}

/// A new model with every weight of `pack` applied; a shape that does not fit is one
/// sentence naming the torchvision key, and a weight that lands nowhere (or a parameter left
/// without one) is a key-table bug, never silently random. Returns the model and the number
/// of weights applied.
fn apply_checked(
    path: &Path,
    table: &[super::keys::KeyPair],
    pack: Vec<PackTensor>,
    objective: Objective,
    n_classes: usize,
    device: &Device,
) -> Result<(Classifier, usize), InteropError> {
    let applied_names: Vec<String> = pack.iter().map(|t| t.name.clone()).collect();
    let mut model = Classifier::new(objective, n_classes, device);
    let result = model.apply(pack, None, None, true);
    let torch_name = |burn: &str| -> String {
        table
            .iter()
            .find(|p| p.burn == burn)
            .map(|p| p.torch.clone())
            .unwrap_or_else(|| match burn {
                BURN_AAM_WEIGHT => BLOODSHOT_AAM_W.to_string(),
                BURN_LINEAR_WEIGHT => TORCH_CLASSIFIER_WEIGHT.to_string(),
                BURN_LINEAR_BIAS => TORCH_CLASSIFIER_BIAS.to_string(),
                other => other.to_string(),
            })
    };
    if let Some(e) = result.errors.first() {
        let message = match e {
            burn::store::ApplyError::ShapeMismatch {
                path: p,
                expected,
                found,
            } => format!(
                "`{}` has shape {:?}, but EfficientNet-B0 needs {:?}",
                torch_name(p),
                found.as_slice(),
                expected.as_slice()
            ),
            other => format!("cannot apply a weight: {other}"),
        };
        return Err(InteropError::file(path, message));
    }
    // Everything we provided must have landed; parameters we did not provide (none for B0)
    // would keep random values, which must never pass silently.
    if let Some(unused) = result.unused.first() {
        return Err(InteropError::Tensor(format!(
            "internal: weight `{unused}` matched no parameter of the model (a key-table bug)"
        )));
    }
    let mut not_loaded: Vec<&(String, String)> = result
        .missing
        .iter()
        .filter(|(p, _)| !applied_names.contains(p))
        .collect();
    not_loaded.retain(|(p, _)| {
        p.ends_with("weight")
            || p.ends_with("bias")
            || p.contains("running_")
            || p.ends_with("gamma")
            || p.ends_with("beta")
    });
    if let Some((p, _)) = not_loaded.first() {
        return Err(InteropError::Tensor(format!(
            "internal: parameter `{p}` of the model has no weight in the file (a key-table bug)"
        )));
    }
    Ok((model, result.applied.len()))
}

/// Reads the weights of `path` into a model on `device` (no run is created).
pub fn load_weights(
    path: &Path,
    opts: &ImportOptions,
    device: &Device,
) -> Result<LoadedWeights, InteropError> {
    let (kind, raw) = read_tensors(path)?;
    let table = embedder_keys();
    let tensors = embedder_tensors(path, raw, &table)?;
    let Head {
        objective,
        name: head_name,
        tensor: head_tensor,
        n_classes,
        classes,
        is_aam,
    } = choose_head(path, opts, kind, &tensors)?;
    let pack = weight_pack(
        path,
        &table,
        &tensors,
        (head_name, head_tensor),
        n_classes,
        is_aam,
    )?;
    let (model, applied) = apply_checked(path, &table, pack, objective, n_classes, device)?;
    let used: std::collections::HashSet<&str> = table
        .iter()
        .map(|p| p.torch.as_str())
        .chain([head_name])
        .chain((!is_aam).then_some(TORCH_CLASSIFIER_BIAS))
        .collect();
    let ignored = tensors
        .keys()
        .filter(|k| !used.contains(k.as_str()))
        .cloned()
        .collect();
    Ok(LoadedWeights {
        model,
        kind,
        objective,
        classes,
        applied,
        ignored,
    })
}

/// Imports the weights of `path` as a new run under `runs_dir` with one checkpoint (epoch 1),
/// so that `kshot`, the console and `export` work on it unchanged. Nothing is left behind
/// when it fails.
pub fn import_checkpoint(
    path: &Path,
    runs_dir: &Path,
    opts: &ImportOptions,
    device: &Device,
) -> Result<Imported, InteropError> {
    let image_size = opts.image_size.unwrap_or(224);
    if !(16..=1024).contains(&image_size) {
        return Err(InteropError::Option(format!(
            "--image-size {image_size}: use a side between 16 and 1024 pixels"
        )));
    }
    if let Some(name) = &opts.name
        && (name.is_empty()
            || name.contains(['/', '\\'])
            || name.starts_with('.')
            || name == "latest")
    {
        return Err(InteropError::Option(format!(
            "--name `{name}`: a run id cannot be empty, `latest`, start with a dot or contain a slash"
        )));
    }
    let loaded = load_weights(path, opts, device)?;
    let run = match &opts.name {
        Some(name) => {
            std::fs::create_dir_all(runs_dir)
                .map_err(crate::files::IoError::at("create runs folder", runs_dir))?;
            let dir = runs_dir.join(name);
            std::fs::create_dir(&dir).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => InteropError::Exists {
                    name: name.clone(),
                    runs_dir: runs_dir.to_path_buf(),
                },
                _ => crate::files::IoError::at("create run folder", &dir)(e).into(),
            })?;
            RunDir { path: dir }
        }
        None => RunDir::create(runs_dir, &format!("{}-import", loaded.objective.as_str()))?,
    };
    let written = write_run(&run, path, image_size, &loaded);
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&run.path);
        return Err(e);
    }
    Ok(Imported {
        run,
        kind: loaded.kind,
        objective: loaded.objective,
        classes: loaded.classes,
        applied: loaded.applied,
        ignored: loaded.ignored,
    })
}

fn write_run(
    run: &RunDir,
    source: &Path,
    image_size: u32,
    loaded: &LoadedWeights,
) -> Result<(), InteropError> {
    let absolute = std::fs::canonicalize(source).unwrap_or_else(|_| PathBuf::from(source));
    let config = TrainConfig {
        objective: loaded.objective,
        base: absolute.clone(),
        epochs: 1,
        image_size,
        ..Default::default()
    };
    let info = RunInfo {
        id: run.id(),
        config,
        classes: loaded.classes.clone(),
        split_sizes: [0, 0, 0],
        device: "imported".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        burn_version: "0.22.1".into(),
        git_commit: None,
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        source: Some(format!(
            "imported from {} ({}; {} weights read{})",
            absolute.display(),
            loaded.kind.describe(),
            loaded.applied,
            if loaded.ignored.is_empty() {
                String::new()
            } else {
                format!(", {} entries not used", loaded.ignored.len())
            }
        )),
    };
    // Owned by this process before `config.json` makes it a run: a status-less run reads as
    // interrupted, which another console would offer to resume.
    run.write_status(&RunStatus::running(0))?;
    run.write_info(&info)?;
    let final_dir = run.checkpoint_dir(1);
    let partial = final_dir.with_file_name(".epoch-001.partial");
    std::fs::create_dir_all(&partial).map_err(crate::files::IoError::at(
        "create checkpoint folder",
        &partial,
    ))?;
    loaded
        .model
        .clone()
        .save_file(partial.join("model.bpk"))
        .map_err(|e| {
            InteropError::Tensor(format!(
                "cannot write checkpoint in {}: {e:?}",
                partial.display()
            ))
        })?;
    write_json(
        &partial.join("progress.json"),
        &EpochProgress {
            epoch: 1,
            complete: true,
            model_bytes: std::fs::metadata(partial.join("model.bpk"))
                .ok()
                .map(|m| m.len()),
            ..Default::default()
        },
    )?;
    std::fs::rename(&partial, &final_dir)
        .map_err(crate::files::IoError::at("finish checkpoint", &final_dir))?;
    Ok(run.write_status(&RunStatus::ended(
        RunState::Finished,
        1,
        Some(info.source.clone().unwrap_or_default()),
    ))?)
}
