//! The JSON files of a run (`config.json`, `status.json`, reports): read with an error that
//! names the file, written atomically so a kill never leaves half a file.

use std::path::Path;

use serde::Serialize;

use crate::files::write_atomic;

/// Reads a JSON file with a one-sentence error naming it.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))
}

/// Writes pretty JSON atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    write_atomic(path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
