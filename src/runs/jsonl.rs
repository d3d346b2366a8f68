//! `metrics.jsonl`, one [`MetricRecord`] a line: appending, reading, and repairing the torn
//! last line a kill can leave.

use std::io::Write;
use std::path::Path;

use super::RunsError;
use super::records::MetricRecord;
use crate::files::write_atomic;

/// Appends metric lines, flushing each so a kill loses at most the line being written.
pub struct MetricsWriter {
    file: std::fs::File,
}

impl MetricsWriter {
    /// Opens for append, first repairing a torn last line left by a kill.
    pub fn open(path: &Path) -> Result<Self, RunsError> {
        repair_jsonl(path).map_err(crate::files::IoError::at("repair", path))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(crate::files::IoError::at("open", path))?;
        Ok(Self { file })
    }

    /// Writes one record as one line and flushes it.
    pub fn write(&mut self, record: &MetricRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }
}

/// Keeps only the complete, parseable lines of a JSON-lines file (rewritten atomically,
/// only when something must go).
pub fn repair_jsonl(path: &Path) -> std::io::Result<usize> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(0);
    };
    let (records, dropped) = parse_metrics(&text);
    if dropped == 0 && (text.is_empty() || text.ends_with('\n')) {
        return Ok(0);
    }
    let mut out = String::new();
    for r in records {
        out.push_str(&serde_json::to_string(&r).map_err(std::io::Error::other)?);
        out.push('\n');
    }
    write_atomic(path, out.as_bytes())?;
    Ok(dropped.max(1))
}

fn parse_metrics(text: &str) -> (Vec<MetricRecord>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<MetricRecord>(line) {
            Ok(r) => out.push(r),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

/// The records in the last `bytes` of a metrics file (the first, cut line is dropped): the
/// newest steps without reading a long log.
pub fn read_metrics_tail(path: &Path, bytes: u64) -> Vec<MetricRecord> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(bytes);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let whole = match (start, text.find('\n')) {
        (0, _) => &text[..],
        (_, Some(i)) => &text[i + 1..],
        (_, None) => "",
    };
    parse_metrics(whole).0
}

/// Parses a metrics file; the count is of lines that were not valid records.
pub fn read_metrics(path: &Path) -> (Vec<MetricRecord>, usize) {
    std::fs::read_to_string(path)
        .map(|t| parse_metrics(&t))
        .unwrap_or_default()
}
