//! Markdown reports of runs and comparisons of objectives.

pub mod compare;
pub mod csv;
mod error;
pub mod markdown;
pub mod table1;
pub mod text;

pub use error::ReportError;
pub use markdown::{RunReport, collect, render};

use std::path::{Path, PathBuf};

use crate::runs::RunDir;

/// Writes the markdown report of `run` (with the comparison against the runs beside it) to
/// `out`, or to `report.md` in the run folder; returns the file written.
pub fn write(run: &RunDir, out: Option<&Path>) -> Result<PathBuf, ReportError> {
    let rep = collect(run)?;
    let cmp = markdown::collect_comparable(run);
    let out = out.map_or_else(|| run.path.join("report.md"), Path::to_path_buf);
    std::fs::write(&out, render(&rep, &cmp)).map_err(|source| {
        ReportError::from(crate::files::IoError {
            action: "write",
            path: out.clone(),
            source,
        })
    })?;
    Ok(out)
}
