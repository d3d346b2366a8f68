//! What can go wrong with run folders, as a type: front ends print the one-sentence
//! messages; code that must decide (is it missing? is it the user's value?) matches the
//! variant.

use std::path::PathBuf;

/// An error of the run-folder layer.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// A file or folder could not be read, written or created.
    #[error(transparent)]
    Io(#[from] crate::files::IoError),
    /// A JSON file that does not parse, or a value that does not serialise.
    #[error("{} is not valid: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A folder without `config.json`.
    #[error("{} is not a run folder (no config.json)", .0.display())]
    NotARun(PathBuf),
    /// No run by that name or path.
    #[error("run `{run}` not found: not a run folder, and no run with that id in {}", runs_dir.display())]
    NotFound {
        /// What the user typed.
        run: String,
        /// Where it was looked for.
        runs_dir: PathBuf,
    },
    /// `latest` in an empty runs folder.
    #[error("no runs in {} yet: train one with `bloodshot train`", .0.display())]
    NoRuns(PathBuf),
    /// A run id with characters a folder name should not have.
    #[error("run id `{0}` must be letters, digits, '-', '_' or '.' (and not start with '.')")]
    BadId(String),
    /// A run id taken already.
    #[error("run {id} already exists in {}", runs_dir.display())]
    Exists {
        /// The id.
        id: String,
        /// The runs folder.
        runs_dir: PathBuf,
    },
    /// A thousand runs created in the same second with the same objective.
    #[error("too many runs named {base} in {}", runs_dir.display())]
    TooMany {
        /// The time-and-objective name.
        base: String,
        /// The runs folder.
        runs_dir: PathBuf,
    },
    /// The checkpoint asked for is not there.
    #[error("run {run} has no complete checkpoint for epoch {epoch} (have: {have:?})")]
    NoSuchCheckpoint {
        /// Run id.
        run: String,
        /// The epoch asked for.
        epoch: usize,
        /// The complete checkpoints it has.
        have: Vec<usize>,
    },
    /// The run has no checkpoint at all yet.
    #[error("run {0} has no checkpoint yet: let it finish an epoch first")]
    NoCheckpoint(String),
    /// A checkpoint that cannot be written or loaded (the sentence names the file and why).
    #[error("{0}")]
    Checkpoint(String),
    /// A training setting out of range (the sentence names the value).
    #[error("{0}")]
    Config(String),
}

/// Modules that still speak in sentences take the message.
impl From<RunsError> for String {
    fn from(e: RunsError) -> String {
        e.to_string()
    }
}
