//! Checkpoint files: a folder with `model.bpk`, `optim.bpk` and `progress.json`, written by
//! training and read back to resume it, and by evaluation and export to use the model.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

use super::RunsError;
use super::dir::RunDir;
use super::json::{read_json, write_json};
use super::records::{EpochProgress, RunInfo};
use crate::model::Classifier;

/// Test hook: `BLOODSHOT_FAULT=checkpoint-write` makes the optimizer-state write fail as a
/// full disk would, after the model file is written, to exercise the clean-up path.
fn injected_fault() -> Option<String> {
    (std::env::var("BLOODSHOT_FAULT").as_deref() == Ok("checkpoint-write"))
        .then(|| "No space left on device (os error 28) [simulated by BLOODSHOT_FAULT]".to_string())
}

/// Writes model, optimizer state and progress into `final_dir` through a `.partial`
/// sibling and a rename: a kill or a full disk never leaves a folder that looks complete.
pub fn save_checkpoint(
    final_dir: &Path,
    model: &Classifier,
    optim: &ModuleOptimizer,
    progress: &EpochProgress,
) -> Result<PathBuf, RunsError> {
    let parent = final_dir.parent().map(PathBuf::from).unwrap_or_default();
    let name = final_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = parent.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(crate::files::IoError::at(
        "create checkpoint folder",
        &partial,
    ))?;
    let res = (|| {
        model
            .clone()
            .save_file(partial.join("model.bpk"))
            .map_err(|e| {
                RunsError::Checkpoint(format!(
                    "cannot write model checkpoint in {}: {e:?}",
                    partial.display()
                ))
            })?;
        if let Some(e) = injected_fault() {
            return Err(RunsError::Checkpoint(format!(
                "cannot write optimizer state in {}: {e}",
                partial.display()
            )));
        }
        optim.save(partial.join("optim.bpk")).map_err(|e| {
            RunsError::Checkpoint(format!(
                "cannot write optimizer state in {}: {e:?}",
                partial.display()
            ))
        })?;
        let recorded = EpochProgress {
            model_bytes: std::fs::metadata(partial.join("model.bpk"))
                .ok()
                .map(|m| m.len()),
            ..progress.clone()
        };
        write_json(&partial.join("progress.json"), &recorded)?;
        if final_dir.exists() {
            std::fs::remove_dir_all(final_dir)
                .map_err(crate::files::IoError::at("replace", final_dir))?;
        }
        // The rename is what makes the checkpoint exist: a kill before it leaves only the
        // `.partial` folder, which is ignored and cleaned on resume.
        std::fs::rename(&partial, final_dir)
            .map_err(crate::files::IoError::at("finish checkpoint", final_dir))?;
        Ok(())
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    Ok(final_dir.to_path_buf())
}

/// Loads the model of a complete checkpoint onto `device`.
pub fn load_model(
    run: &RunDir,
    epoch: usize,
    device: &Device,
) -> Result<(RunInfo, Classifier), RunsError> {
    let info = run.info()?;
    let dir = run.checkpoint_dir(epoch);
    let file = dir.join("model.bpk");
    let model = Classifier::new(info.config.objective, info.classes.len(), device)
        .try_load_file(&file)
        .map_err(|e| {
            // Whether the file is shorter than when it was written, from the length the
            // checkpoint recorded (not from the decoder's message).
            let written = read_json::<EpochProgress>(&dir.join("progress.json"))
                .ok()
                .and_then(|p| p.model_bytes);
            let length = std::fs::metadata(&file).ok().map(|m| m.len());
            let why = match (length, written) {
                (None, _) => "is missing".to_string(),
                (Some(now), Some(then)) if now < then => {
                    "is truncated (cut short while it was written or copied)".to_string()
                }
                _ => format!("is not a bloodshot checkpoint of this run ({e:?})"),
            };
            RunsError::Checkpoint(format!("checkpoint {} {why}", file.display()))
        })?;
    Ok((info, model))
}

/// Loads the model and optimizer state saved in checkpoint folder `dir`, to go on training.
pub fn load_training_state(
    dir: &Path,
    model: Classifier,
    optim: ModuleOptimizer,
) -> Result<(Classifier, ModuleOptimizer), RunsError> {
    let model = model.try_load_file(dir.join("model.bpk")).map_err(|e| {
        RunsError::Checkpoint(format!("cannot load checkpoint {}: {e:?}", dir.display()))
    })?;
    let optim = optim.load(dir.join("optim.bpk")).map_err(|e| {
        RunsError::Checkpoint(format!(
            "cannot load optimizer state in {}: {e:?}",
            dir.display()
        ))
    })?;
    Ok((model, optim))
}

/// Cleans up a checkpoint that a kill left half-written: the `.partial` folders that
/// [`save_checkpoint`] never renamed.
pub fn remove_partial_checkpoints(run: &RunDir) {
    if let Ok(rd) = std::fs::read_dir(run.path.join("checkpoints")) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().ends_with(".partial") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}
