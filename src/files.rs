//! Files written so that a reader never sees half of one, and the error of a file operation
//! that every engine layer reports the same way.

use std::path::{Path, PathBuf};

/// A file or folder operation that failed: what was being done, on which path, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct IoError {
    /// What was being done (`read`, `create runs folder`, …).
    pub action: &'static str,
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// For `map_err`: an I/O error while doing `action` on `path`.
    pub fn at(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> IoError {
        let path = path.into();
        move |source| IoError {
            action,
            path,
            source,
        }
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
