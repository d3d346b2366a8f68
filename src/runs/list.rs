//! Finding runs in a runs folder: all of them, or the one a user names.

use std::path::Path;

use super::RunsError;
use super::dir::RunDir;

/// Resolves `RUN`: a run folder path, a run id in `runs_dir`, or `latest`.
pub fn resolve(runs_dir: &Path, run: &str) -> Result<RunDir, RunsError> {
    let as_path = Path::new(run);
    if as_path.join("config.json").is_file() {
        return RunDir::open(as_path);
    }
    if run == "latest" {
        let runs = list_runs(runs_dir);
        return runs
            .into_iter()
            .last()
            .ok_or_else(|| RunsError::NoRuns(runs_dir.into()));
    }
    let p = runs_dir.join(run);
    if p.join("config.json").is_file() {
        return RunDir::open(&p);
    }
    Err(RunsError::NotFound {
        run: run.into(),
        runs_dir: runs_dir.into(),
    })
}

/// All runs in `runs_dir`, oldest first (by creation time, then id).
pub fn list_runs(runs_dir: &Path) -> Vec<RunDir> {
    let mut runs: Vec<(u64, RunDir)> = std::fs::read_dir(runs_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| RunDir::open(&e.path()).ok())
                .map(|r| (r.info().map(|i| i.created_unix).unwrap_or(0), r))
                .collect()
        })
        .unwrap_or_default();
    runs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(&b.1.path)));
    runs.into_iter().map(|(_, r)| r).collect()
}
