//! What can go wrong importing or exporting weights.

use std::path::{Path, PathBuf};

use crate::runs::RunsError;

/// An error of the interop layer.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    /// A weights file that cannot be used: its path and what is wrong, on one line.
    #[error("{}: {what}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong (folded onto one line).
        what: String,
    },
    /// An option value the user gave (`--classes`, `--image-size`, `--name`).
    #[error("{0}")]
    Option(String),
    /// A tensor that cannot be read, written or matched (the sentence names it).
    #[error("{0}")]
    Tensor(String),
    /// A run named so exists already.
    #[error("a run named `{name}` already exists in {}", runs_dir.display())]
    Exists {
        /// The name asked for.
        name: String,
        /// The runs folder.
        runs_dir: PathBuf,
    },
    /// A file or folder could not be read, written or created.
    #[error(transparent)]
    Io(#[from] crate::files::IoError),
    /// The run folder could not be read or written.
    #[error(transparent)]
    Runs(#[from] RunsError),
}

impl InteropError {
    /// A problem with the weights file at `path`, its lines folded onto one.
    pub fn file(path: &Path, what: impl std::fmt::Display) -> InteropError {
        let what = what.to_string();
        let folded: Vec<&str> = what
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        InteropError::File {
            path: path.to_path_buf(),
            what: folded.join(" "),
        }
    }
}

/// Front ends print the sentence.
impl From<InteropError> for String {
    fn from(e: InteropError) -> String {
        e.to_string()
    }
}
