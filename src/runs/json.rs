//! The JSON files of a run (`config.json`, `status.json`, reports): read with an error that
//! names the file, written atomically so a kill never leaves half a file.

use std::path::Path;

use serde::Serialize;

use super::RunsError;
use crate::files::write_atomic;

/// Reads a JSON file with a one-sentence error naming it.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunsError> {
    let text = std::fs::read_to_string(path).map_err(crate::files::IoError::at("read", path))?;
    serde_json::from_str(&text).map_err(|source| RunsError::Json {
        path: path.into(),
        source,
    })
}

/// Writes pretty JSON atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunsError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| RunsError::Json {
        path: path.into(),
        source,
    })?;
    write_atomic(path, text.as_bytes()).map_err(crate::files::IoError::at("write", path))?;
    Ok(())
}
