//! Following a run that another process trains (`bloodshot train` under nohup, a sweep, a
//! node of a cluster sharing the runs folder): what appears in its folder becomes the same
//! [`TrainEvent`]s the trainer emits, so a front end shows it with the same dashboard.
//!
//! Only reads: `config.json` once, `metrics.jsonl` from where the last poll stopped (a line
//! still being written is kept until its newline arrives), the checkpoint list and
//! `status.json`. The writer is never disturbed.

use std::io::{Read, Seek, SeekFrom};

use crate::runs::{MetricRecord, RunDir, RunState, read_json};

use super::base_test::BaseTestReport;
use super::events::TrainEvent;

/// Follows one run folder.
#[derive(Debug)]
pub struct Follower {
    run: RunDir,
    offset: u64,
    partial: String,
    steps_per_epoch: usize,
    started: bool,
    checkpoints: Vec<usize>,
    ended: bool,
}

impl Follower {
    /// Starts following `run` from the beginning of its history.
    pub fn new(run: RunDir) -> Self {
        Follower {
            run,
            offset: 0,
            partial: String::new(),
            steps_per_epoch: 0,
            started: false,
            checkpoints: Vec::new(),
            ended: false,
        }
    }

    /// True once the run finished, stopped or failed (nothing more will come).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Events for everything written since the last poll.
    pub fn poll(&mut self) -> Vec<TrainEvent> {
        let mut events = Vec::new();
        if self.ended {
            return events;
        }
        if !self.started {
            let Some(started) = self.started_event() else {
                return events; // Not written yet: the trainer is still loading data.
            };
            events.push(started);
            self.started = true;
        }
        let steps_per_epoch = self.steps_per_epoch;
        events.extend(
            self.new_records()
                .into_iter()
                .map(|r| record_event(r, steps_per_epoch)),
        );
        for epoch in self.run.checkpoints() {
            if !self.checkpoints.contains(&epoch) {
                self.checkpoints.push(epoch);
                events.push(TrainEvent::Checkpoint {
                    epoch,
                    path: self.run.checkpoint_dir(epoch),
                });
            }
        }
        if let Some(end) = self.end_event(&mut events) {
            // Records written just before the status changed are read first.
            events.extend(self.new_records().into_iter().filter_map(|r| match r {
                MetricRecord::Epoch(e) => Some(TrainEvent::Epoch(e)),
                _ => None,
            }));
            events.push(end);
            self.ended = true;
        }
        events
    }

    /// `Started`, once the run's `config.json` is there.
    fn started_event(&mut self) -> Option<TrainEvent> {
        let info = self.run.info().ok()?;
        self.steps_per_epoch = info.steps_per_epoch();
        Some(TrainEvent::Started {
            run_id: info.id.clone(),
            run_dir: self.run.path.clone(),
            device: info.device.clone(),
            classes: info.classes.clone(),
            split_sizes: info.split_sizes,
            steps_per_epoch: self.steps_per_epoch,
            first_epoch: 1,
            epochs: info.config.epochs,
        })
    }

    /// The event that ends following, from `status.json` (a finished run's base-test report
    /// goes into `events` first); `None` while it trains.
    fn end_event(&self, events: &mut Vec<TrainEvent>) -> Option<TrainEvent> {
        let status = self.run.status();
        match status.state {
            RunState::Running if self.run.interrupted() => Some(TrainEvent::Failed {
                error: super::TrainError::Run(format!(
                    "the process training {} is gone (killed?); resume it from the Runs tab (R)",
                    self.run.id()
                )),
            }),
            RunState::Running => None,
            RunState::Finished | RunState::Stopped => {
                if let Ok(b) = read_json::<BaseTestReport>(&self.run.base_test_path()) {
                    events.push(TrainEvent::BaseTest {
                        accuracy: b.metrics.accuracy,
                        macro_f1: b.metrics.macro_f1,
                    });
                }
                Some(TrainEvent::Finished {
                    run_dir: self.run.path.clone(),
                    last_epoch: status.last_epoch,
                    stopped_early: status.state == RunState::Stopped,
                })
            }
            RunState::Failed => Some(TrainEvent::Failed {
                error: super::TrainError::Run(
                    status.message.unwrap_or_else(|| "training failed".into()),
                ),
            }),
        }
    }

    /// Complete lines appended to `metrics.jsonl` since the last read.
    fn new_records(&mut self) -> Vec<MetricRecord> {
        let Ok(mut f) = std::fs::File::open(self.run.metrics_path()) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Truncated (a repair after a crash cut a torn last line): read it again.
            self.offset = 0;
            self.partial.clear();
        }
        let mut bytes = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        self.offset += bytes.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let Some(last_newline) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let complete: String = self.partial.drain(..=last_newline).collect();
        complete
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The event of one `metrics.jsonl` record (`steps_per_epoch` for steps logged before the
/// count was recorded).
fn record_event(record: MetricRecord, steps_per_epoch: usize) -> TrainEvent {
    match record {
        MetricRecord::Step {
            epoch,
            step,
            loss,
            metric_loss,
            consistency_loss,
            accuracy,
            images_per_sec,
            steps,
            seconds,
        } => TrainEvent::Step {
            epoch,
            step,
            steps: if steps > 0 { steps } else { steps_per_epoch },
            loss,
            metric_loss,
            consistency_loss,
            accuracy,
            images_per_sec,
            seconds,
        },
        MetricRecord::Epoch(e) => TrainEvent::Epoch(e),
        MetricRecord::Resumed { after_epoch, .. } => {
            TrainEvent::Warning(format!("resumed after epoch {after_epoch}"))
        }
    }
}
