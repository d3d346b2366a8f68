//! Training the embedder on the base set: the loop, typed events, checkpoints, resume and
//! the base-test report.

pub mod base_test;
pub mod diagnose;
mod epoch;
pub mod events;
mod inputs;
pub mod loss;
mod step;
pub mod trainer;
mod validate;

pub use events::{StopMode, StopSignal, TrainEvent};
pub use inputs::load_base;
pub use trainer::{Start, TrainOutcome, train};
