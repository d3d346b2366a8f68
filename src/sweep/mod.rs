//! Sweeps: a grid of training configurations × training seeds, every run trained and then
//! evaluated on one shared seeded bank of k-shot draws, run on the devices given (or printed
//! as commands for GNU parallel or a Slurm array), and resumable after a kill. The plan lives
//! in `sweeps/<id>/` of the runs folder; the state of each job is read from the run folders,
//! so every process sharing the folder sees the same sweep.

pub mod command;
mod error;
pub mod explore;
pub mod plan;
pub mod runner;
pub mod status;

pub use error::SweepError;
pub use plan::{Grid, Job, KShotSpec, Sweep, SweepSpec};
pub use runner::{Control, Outcome, SweepEvent};
pub use status::{JobState, JobStatus};
