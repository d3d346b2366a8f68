//! Training the embedder on the base set: the loop, typed events, checkpoints, resume and
//! the base-test report.

pub mod base_test;
pub mod diagnose;
pub mod events;
pub mod trainer;

pub use events::{StopMode, StopSignal, TrainEvent};
pub use trainer::{Start, TrainOutcome, load_base, train};
