//! Training the embedder on the base set: the loop, typed events, checkpoints, resume and
//! the base-test report.

pub mod base_test;
pub mod diagnose;
mod epoch;
mod error;
pub mod events;
pub mod follow;
pub mod init;
mod inputs;
pub mod loss;
pub mod optimizer;
mod step;
pub mod system;
pub mod trainer;
mod validate;

pub use error::TrainError;
pub use events::{StopMode, StopSignal, TrainEvent};
pub use follow::Follower;
pub use inputs::load_base;
pub use trainer::{Start, TrainOutcome, train};
