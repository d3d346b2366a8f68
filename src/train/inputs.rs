//! What training reads: the base set scanned and split, lists of images, the decoded-image
//! cache, and batches as tensors.

use super::TrainError;
use std::path::PathBuf;

use burn::prelude::*;

use crate::data::cache::ImageCache;
use crate::data::loader::Batch;
use crate::data::{Dataset, ScanOptions, scan, split};
use crate::runs::TrainConfig;

/// Loads the data the run trains on and splits it (deterministic from the config).
pub fn load_base(config: &TrainConfig) -> Result<(Dataset, crate::data::split::Split), TrainError> {
    let opts = ScanOptions {
        min_class_size: config.min_class_size,
        limit_per_class: config.limit_per_class,
    };
    let ds = scan(&config.base, &opts, &mut |_, _| {}).map_err(|e| e.to_string())?;
    if ds.classes.len() < 2 {
        return Err(format!(
            "{}: only one class ({}) has enough images; training needs at least two",
            config.base.display(),
            ds.classes.join(", ")
        )
        .into());
    }
    let sp = split::split(&ds.labels(), ds.classes.len(), config.seed);
    if sp.train.len() < 2 {
        return Err(format!(
            "{}: only {} training images after the split",
            config.base.display(),
            sp.train.len()
        )
        .into());
    }
    Ok((ds, sp))
}

/// `(path, label)` of the samples at `idx`.
pub(super) fn items(ds: &Dataset, idx: &[usize]) -> Vec<(PathBuf, usize)> {
    idx.iter()
        .map(|&i| (ds.samples[i].path.clone(), ds.samples[i].class))
        .collect()
}

/// The decoded-image cache, on disk when the configuration asks for it.
pub(super) fn image_cache(config: &TrainConfig) -> ImageCache {
    let root = crate::paths::cache_dir();
    ImageCache::new(
        config.use_cache.then_some(root.as_path()),
        config.image_size,
    )
}

/// A batch's pixels as an `[images, 3, size, size]` tensor.
pub(super) fn batch_tensor(batch: &Batch, size: u32, device: &Device) -> Tensor<4> {
    let s = size as usize;
    Tensor::from_data(
        TensorData::new(batch.pixels.clone(), [batch.len(), 3, s, s]),
        device,
    )
}
