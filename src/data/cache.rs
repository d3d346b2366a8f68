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
    pub fn load(&self, path: &Path) -> Result<Vec<u8>, super::decode::ProbeError> {
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
            let _ = crate::files::write_atomic(&e, &rgb);
        }
        Ok(rgb)
    }
}
