//! Embedding target images once per (checkpoint, dataset, image size) and caching the
//! result in the run folder, so that draws never run the network again.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::classify::Embeddings;
use super::tta::{Tta, dihedral_view};
use crate::data::cache::ImageCache;
use crate::data::loader::BatchLoader;
use crate::files::write_atomic;
use crate::model::EfficientNetB0;

/// Index stored next to the embedding matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EmbeddingIndex {
    paths: Vec<PathBuf>,
    ok: Vec<bool>,
    dim: usize,
    image_size: u32,
    epoch: usize,
}

/// Embeddings of a list of images; rows of images that failed to decode are zero and
/// marked `false` in `ok`.
#[derive(Debug, Clone)]
pub struct EmbeddedImages {
    /// One row per input path.
    pub embeddings: Embeddings,
    /// Whether each image could be decoded.
    pub ok: Vec<bool>,
    /// True when read from the cache.
    pub from_cache: bool,
}

/// Cache key: checkpoint epoch, image size, the test-time augmentation, and the identity
/// (path, length, mtime) of every file, so a changed dataset is embedded again.
fn key(paths: &[PathBuf], epoch: usize, image_size: u32, tta: Tta) -> String {
    let mut h = Sha256::new();
    h.update(epoch.to_le_bytes());
    h.update(image_size.to_le_bytes());
    // Plain embeddings keep the keys they had before test-time augmentation existed.
    if tta != Tta::None {
        h.update(tta.as_str().as_bytes());
    }
    h.update(crate::data::decode::PREPROCESSING.as_bytes());
    for p in paths {
        h.update(p.to_string_lossy().as_bytes());
        if let Ok(m) = std::fs::metadata(p) {
            h.update(m.len().to_le_bytes());
            if let Ok(t) = m.modified()
                && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
            {
                h.update(d.as_nanos().to_le_bytes());
            }
        }
    }
    h.finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read_cached(dir: &Path, key: &str, n: usize) -> Option<EmbeddedImages> {
    let index: EmbeddingIndex =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{key}.json"))).ok()?)
            .ok()?;
    let bytes = std::fs::read(dir.join(format!("{key}.f32"))).ok()?;
    if index.paths.len() != n || bytes.len() != n * index.dim * 4 {
        return None;
    }
    let rows = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some(EmbeddedImages {
        embeddings: Embeddings {
            dim: index.dim,
            rows,
        },
        ok: index.ok,
        from_cache: true,
    })
}

/// Images per embedding batch on `device`. On the CPU a batch of 16 keeps a layer's
/// activations (≈77 MB at 224 px) closer to the caches than 64 (≈300 MB): 40 images/s
/// against 23 on the 2-core reference machine (`BENCH_EMBED_BATCH=16|64 cargo bench --bench
/// throughput`). GPUs want the larger batch.
pub fn batch_size(device: &Device) -> usize {
    if crate::device::compute(device) == crate::device::Compute::CpuInference {
        16
    } else {
        64
    }
}

/// Embeds `paths` with `model` (in inference mode), each as the mean over the views of
/// `tta`, using and filling the cache in `cache_dir`. `progress(done, total)` follows the
/// images.
#[allow(clippy::too_many_arguments)]
pub fn embed_images(
    model: &EfficientNetB0,
    paths: &[PathBuf],
    epoch: usize,
    image_size: u32,
    tta: Tta,
    batch_size: usize,
    device: &Device,
    cache_dir: Option<&Path>,
    progress: &mut dyn FnMut(usize, usize),
    warn: &mut dyn FnMut(String),
) -> EmbeddedImages {
    // Batch norm folded into the convolutions: the same embeddings (within 1e-5 relative),
    // fewer passes over the activations.
    let _phase = crate::memory::Phase::start("embedding");
    let model = crate::model::inference::InferenceB0::new(model);
    let _memory = crate::memory::Hold::for_device(device);
    let k = key(paths, epoch, image_size, tta);
    if let Some(dir) = cache_dir
        && let Some(hit) = read_cached(dir, &k, paths.len())
    {
        progress(paths.len(), paths.len());
        return hit;
    }
    let dim = crate::model::EMBEDDING_DIM;
    let mut rows = vec![0f32; paths.len() * dim];
    let mut ok = vec![false; paths.len()];
    let items: Vec<(PathBuf, usize)> = paths.iter().map(|p| (p.clone(), 0)).collect();
    let image_cache = ImageCache::new(Some(crate::paths::cache_dir().as_path()), image_size);
    let loader = BatchLoader::start(items, batch_size.max(1), image_cache, None, 2);
    let s = image_size as usize;
    let mut done = 0;
    progress(0, paths.len());
    for batch in loader {
        for (p, why) in &batch.failed {
            warn(format!("skipped {}: {why}", p.display()));
        }
        done += batch.len() + batch.failed.len();
        if !batch.is_empty() {
            let x = Tensor::<4>::from_data(
                TensorData::new(batch.pixels, [batch.labels.len(), 3, s, s]),
                device,
            );
            let values = embed_batch(&model, x, tta);
            for (j, &i) in batch.indices.iter().enumerate() {
                rows[i * dim..(i + 1) * dim].copy_from_slice(&values[j * dim..(j + 1) * dim]);
                ok[i] = true;
            }
        }
        progress(done, paths.len());
    }
    if let Some(dir) = cache_dir {
        let index = EmbeddingIndex {
            paths: paths.to_vec(),
            ok: ok.clone(),
            dim,
            image_size,
            epoch,
        };
        write_cached(dir, &k, &index, &rows);
    }
    EmbeddedImages {
        embeddings: Embeddings { dim, rows },
        ok,
        from_cache: false,
    }
}

/// One batch's embeddings, row after row: of the images, or with `Tta::Dihedral` the mean
/// over their 8 views (one view of the batch at a time).
fn embed_batch(model: &crate::model::inference::InferenceB0, x: Tensor<4>, tta: Tta) -> Vec<f32> {
    match tta {
        Tta::None => model.embed(x).into_data().iter::<f32>().collect(),
        Tta::Dihedral => {
            // The mean over the 8 views, one view of the batch at a time.
            let views = tta.views();
            let sum = (0..views)
                .map(|i| model.embed(dihedral_view(x.clone(), i)))
                .reduce(|a, b| a + b)
                .map(|sum| sum / views as f32);
            sum.map_or_else(Vec::new, |m| m.into_data().iter::<f32>().collect())
        }
    }
}

/// Writes an embedding matrix and its index to the cache under `key`: matrix first, index
/// last, because the index is what makes an entry visible. A cache that cannot be written
/// only costs the next run the embedding.
fn write_cached(dir: &Path, key: &str, index: &EmbeddingIndex, rows: &[f32]) {
    let mut bytes = Vec::with_capacity(rows.len() * 4);
    for v in rows {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let _ = write_atomic(&dir.join(format!("{key}.f32")), &bytes).and_then(|_| {
        write_atomic(
            &dir.join(format!("{key}.json")),
            serde_json::to_string(index).unwrap_or_default().as_bytes(),
        )
    });
}
