//! Run folders and what is written in them: the configuration and status records, the
//! metrics log, checkpoints, and finding runs by id. Training writes these, evaluation,
//! reports and the front ends read them; nothing here trains or evaluates.

mod checkpoint;
mod config;
mod dir;
mod error;
mod json;
mod jsonl;
mod list;
mod records;
mod setting;
mod time;

pub use checkpoint::{
    load_model, load_training_state, remove_partial_checkpoints, save_checkpoint,
};
pub use config::TrainConfig;
pub use dir::{RunDir, STALE_SECONDS};
pub use error::RunsError;
pub use json::{read_json, write_json};
pub use jsonl::{MetricsWriter, read_metrics, read_metrics_tail, repair_jsonl};
pub use list::{fingerprint, fingerprints, list_runs, resolve, run_fingerprint};
pub use records::{
    EpochProgress, EpochSummary, MetricRecord, RunInfo, RunState, RunStatus, host_name,
};
pub use setting::{Setting, SettingValue};
pub use time::{timestamp, unix_now};
