//! On-disk cache of decoded, resized images, so that epoch 2 and later runs do not decode
//! again. Keyed by file identity (canonical path, length, modification time) and size;
//! a changed file gets a new key. Entries are written atomically (temp file + rename).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A cache of `size`×`size` RGB8 images.
#[derive(Debug, Clone)]
pub struct ImageCache {
    dir: Option<PathBuf>,
    size: u32,
}

impl ImageCache {
    /// Cache under `root/images/<size>`; `None` disables it (always decode).
    pub fn new(root: Option<&Path>, size: u32) -> Self {
        Self {
            dir: root.map(|r| r.join("images").join(size.to_string())),
            size,
        }
    }

    /// Image side.
    pub fn size(&self) -> u32 {
        self.size
    }

    fn key(&self, path: &Path) -> Option<String> {
        let meta = std::fs::metadata(path).ok()?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut h = Sha256::new();
        h.update(canon.to_string_lossy().as_bytes());
        h.update(meta.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
        h.update(self.size.to_le_bytes());
        h.update(crate::data::decode::PREPROCESSING.as_bytes());
        let d = h.finalize();
        Some(d.iter().take(16).map(|b| format!("{b:02x}")).collect())
    }

    /// The decoded image, from the cache or decoded now (and stored). A cache that cannot
    /// be written is not an error: the image is still returned.
    pub fn load(&self, path: &Path) -> Result<Vec<u8>, String> {
        let expected = (self.size as usize).pow(2) * 3;
        let entry = self.dir.as_ref().and_then(|d| {
            self.key(path)
                .map(|k| d.join(&k[..2]).join(format!("{k}.rgb")))
        });
        if let Some(e) = &entry
            && let Ok(bytes) = std::fs::read(e)
            && bytes.len() == expected
        {
            return Ok(bytes);
        }
        let rgb = super::decode::load_rgb(path, self.size)?;
        if let Some(e) = entry {
            let _ = write_atomic(&e, &rgb);
        }
        Ok(rgb)
    }
}

/// Writes `bytes` to `path` through a temp file in the same folder and a rename, so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    // A temporary name no other writer can hold: this process's counter, its pid and a random
    // part (processes on other machines sharing the folder may have the same pid), created
    // with `create_new` so a clash is an error to retry rather than two writers in one file.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let (tmp, mut f) = loop {
        let tmp = path.with_extension(format!(
            "tmp-{}-{}-{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let res = f.write_all(bytes).and_then(|_| f.sync_all());
    drop(f);
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // rename() replaces atomically: a reader sees the old file or the new one, never a mix;
    // two writers of the same key write the same bytes, so the last rename wins harmlessly.
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
