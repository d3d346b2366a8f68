//! What can go wrong planning, opening and running sweeps.

use std::path::PathBuf;

use crate::runs::RunsError;

/// An error of the sweep layer.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A run or sweep file could not be read or written, or a training setting is out of
    /// range.
    #[error(transparent)]
    Runs(#[from] RunsError),
    /// A file or folder could not be read, written or created.
    #[error(transparent)]
    Io(#[from] crate::files::IoError),
    /// The k-shot options of the spec.
    #[error(transparent)]
    KShot(#[from] crate::fewshot::evaluate::KShotError),
    /// A grid axis naming a value twice.
    #[error(transparent)]
    Repeated(#[from] crate::choice::Repeated),
    /// A value of the sweep's spec a user gave (the sentence names it).
    #[error("{0}")]
    Invalid(String),
    /// `latest` with no sweep yet.
    #[error("no sweeps in {} yet: start one with `bloodshot sweep`", .0.display())]
    NoSweeps(PathBuf),
    /// No sweep with that id.
    #[error("no sweep {id} in {} (no {})", runs_dir.display(), file.display())]
    NotFound {
        /// The id asked for.
        id: String,
        /// The runs folder.
        runs_dir: PathBuf,
        /// The plan file looked for.
        file: PathBuf,
    },
    /// A thousand sweeps created in the same second.
    #[error("too many sweeps named {0}")]
    TooMany(String),
}

/// Front ends print the sentence.
impl From<SweepError> for String {
    fn from(e: SweepError) -> String {
        e.to_string()
    }
}
