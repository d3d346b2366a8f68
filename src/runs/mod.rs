//! Run folders and what is written in them: the configuration and status records, the
//! metrics log, checkpoints, and finding runs by id. Training writes these, evaluation,
//! reports and the front ends read them; nothing here trains or evaluates.

mod config;
mod dir;

pub use config::TrainConfig;
pub use dir::{
    EpochProgress, EpochSummary, MetricRecord, MetricsWriter, RunDir, RunInfo, RunState, RunStatus,
    list_runs, read_json, read_metrics, repair_jsonl, resolve, timestamp, unix_now, write_json,
};
