//! Data tab: the scan state of both datasets.

use bloodshot::data::stats::DatasetStats;

use crate::tui::event::{ScanResult, Which};
use crate::tui::thumb::Thumb;

/// Scan state of one dataset.
#[derive(Debug, Clone, Default)]
pub enum ScanState {
    /// Not scanned yet.
    #[default]
    Idle,
    /// Scanning: (phase, done, total).
    Running(String, usize, usize),
    /// Done.
    Done(Box<DatasetStats>, Vec<(String, Thumb)>),
    /// Failed with a sentence.
    Failed(String),
}

/// Data tab.
#[derive(Debug, Clone, Default)]
pub struct DataState {
    /// Base set.
    pub base: ScanState,
    /// Target set.
    pub target: ScanState,
}

impl DataState {
    /// The slot of one dataset.
    pub fn slot(&mut self, w: Which) -> &mut ScanState {
        match w {
            Which::Base => &mut self.base,
            Which::Target => &mut self.target,
        }
    }

    /// Records a finished scan.
    pub fn scanned(&mut self, w: Which, r: ScanResult) {
        *self.slot(w) = match r {
            Ok((stats, thumbs)) => ScanState::Done(stats, thumbs),
            Err(e) => ScanState::Failed(e),
        }
    }
}
