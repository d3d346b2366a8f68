//! What can go wrong writing reports and exports.

use std::path::PathBuf;

use crate::runs::RunsError;

/// An error of the report layer.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A run folder could not be read.
    #[error(transparent)]
    Runs(#[from] RunsError),
    /// A file or folder could not be read, written or created.
    #[error(transparent)]
    Io(#[from] crate::files::IoError),
    /// Nothing to export.
    #[error("no run in {} to export: train one first (bloodshot train)", .0.display())]
    NoRuns(PathBuf),
}

/// Front ends print the sentence.
impl From<ReportError> for String {
    fn from(e: ReportError) -> String {
        e.to_string()
    }
}
