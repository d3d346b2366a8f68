//! Batches of decoded images, prepared on a background thread so that loading overlaps
//! compute: while the network works on batch n, batch n+1 is decoded or read from cache.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::cache::ImageCache;
use super::decode::push_chw;

/// One batch: images as `f32` CHW in [0, 1], concatenated.
#[derive(Debug)]
pub struct Batch {
    /// `len × 3 × size × size` values.
    pub pixels: Vec<f32>,
    /// Class of each image.
    pub labels: Vec<usize>,
    /// Index (into the list given to the loader) of each image.
    pub indices: Vec<usize>,
    /// Images that failed to decode: (path, reason). They are left out of the batch.
    pub failed: Vec<(PathBuf, String)>,
}

impl Batch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when no image of the batch could be used.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// An epoch's worth of batches, read ahead on a thread.
pub struct BatchLoader {
    rx: Receiver<Batch>,
    handle: Option<JoinHandle<()>>,
    /// Number of batches this loader yields.
    pub n_batches: usize,
}

impl BatchLoader {
    /// Starts loading `items` (path, label) in batches of `batch_size`, shuffled with
    /// `shuffle_seed` when given, reading ahead `prefetch` batches.
    pub fn start(
        items: Vec<(PathBuf, usize)>,
        batch_size: usize,
        cache: ImageCache,
        shuffle_seed: Option<u64>,
        prefetch: usize,
    ) -> Self {
        Self::start_at(items, batch_size, cache, shuffle_seed, prefetch, 0)
    }

    /// Like [`start`](Self::start), skipping the first `skip_batches` batches of the same
    /// order (resuming inside an epoch).
    pub fn start_at(
        items: Vec<(PathBuf, usize)>,
        batch_size: usize,
        cache: ImageCache,
        shuffle_seed: Option<u64>,
        prefetch: usize,
        skip_batches: usize,
    ) -> Self {
        let batch_size = batch_size.max(1);
        let mut order: Vec<usize> = (0..items.len()).collect();
        if let Some(seed) = shuffle_seed {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        }
        let skip = (skip_batches * batch_size).min(order.len());
        order.drain(..skip);
        let n_batches = order.len().div_ceil(batch_size);
        let (tx, rx) = sync_channel(prefetch.max(1));
        let handle = std::thread::Builder::new()
            .name("bloodshot-loader".into())
            .spawn(move || {
                let size = cache.size() as usize;
                for chunk in order.chunks(batch_size) {
                    let decoded: Vec<(usize, Result<Vec<u8>, super::decode::ProbeError>)> = chunk
                        .par_iter()
                        .map(|&i| (i, cache.load(&items[i].0)))
                        .collect();
                    let mut batch = Batch {
                        pixels: Vec::with_capacity(chunk.len() * 3 * size * size),
                        labels: Vec::with_capacity(chunk.len()),
                        indices: Vec::with_capacity(chunk.len()),
                        failed: Vec::new(),
                    };
                    for (i, r) in decoded {
                        match r {
                            Ok(rgb) => {
                                push_chw(&rgb, size, &mut batch.pixels);
                                batch.labels.push(items[i].1);
                                batch.indices.push(i);
                            }
                            Err(e) => batch.failed.push((items[i].0.clone(), e.to_string())),
                        }
                    }
                    if tx.send(batch).is_err() {
                        return; // receiver gone: the run stopped
                    }
                }
            })
            .ok();
        Self {
            rx,
            handle,
            n_batches,
        }
    }
}

impl Iterator for BatchLoader {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        self.rx.recv().ok()
    }
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        // Drain so the worker is not blocked on a full channel, then join it.
        while self.rx.try_recv().is_ok() {}
        let (_tx, rx) = sync_channel(0);
        let old = std::mem::replace(&mut self.rx, rx);
        drop(old);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
