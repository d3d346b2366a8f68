//! Why a run did not train to its end. The message is the one sentence users see; callers
//! decide on the variant (the console offers the CPU for [`TrainError::Device`]).

use crate::device::DeviceError;

/// A run that failed, or never started.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// The device could not be used; nothing was created.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Anything else (the configuration, the data, the run folder, a non-finite loss…), as
    /// one sentence; whatever was written before it stays valid.
    #[error("{0}")]
    Run(String),
}

impl From<String> for TrainError {
    fn from(sentence: String) -> Self {
        Self::Run(sentence)
    }
}

impl From<&str> for TrainError {
    fn from(sentence: &str) -> Self {
        Self::Run(sentence.to_string())
    }
}

/// The front ends and the sweep runner still report errors as one sentence.
impl From<TrainError> for String {
    fn from(e: TrainError) -> String {
        e.to_string()
    }
}

/// A run-folder error ends the run with its sentence.
impl From<crate::runs::RunsError> for TrainError {
    fn from(e: crate::runs::RunsError) -> Self {
        Self::Run(e.to_string())
    }
}

/// Weights that cannot start a run end it with their sentence.
impl From<crate::interop::InteropError> for TrainError {
    fn from(e: crate::interop::InteropError) -> Self {
        Self::Run(e.to_string())
    }
}
