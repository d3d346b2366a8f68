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

/// A number that changes when anything a run listing shows may have changed: a run folder
/// added or removed, or one of them changed ([`run_fingerprint`]). Cheap (no file is parsed
/// but `config.json` and `status.json`), so a view can poll it and re-read the runs only when
/// it moves.
pub fn fingerprint(runs_dir: &Path) -> u64 {
    fingerprints(runs_dir).0
}

/// The runs folder's [`fingerprint`], and each run (in [`list_runs`] order) with its own
/// [`run_fingerprint`], so a reader can re-read only the runs that changed.
pub fn fingerprints(runs_dir: &Path) -> (u64, Vec<(RunDir, u64)>) {
    use std::hash::{Hash, Hasher};
    let runs: Vec<(RunDir, u64)> = list_runs(runs_dir)
        .into_iter()
        .map(|r| {
            let f = run_fingerprint(&r);
            (r, f)
        })
        .collect();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (run, f) in &runs {
        run.path.hash(&mut h);
        f.hash(&mut h);
    }
    (h.finish(), runs)
}

/// A number that changes when a file of the run is written: the name, size and modification
/// time of each entry of the run folder and of its `kshot/` and `checkpoints/` folders, and
/// whether a run of another machine turned stale.
pub fn run_fingerprint(run: &RunDir) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    hash_entries(&run.path, &mut h);
    hash_entries(&run.path.join("kshot"), &mut h);
    hash_entries(&run.path.join("checkpoints"), &mut h);
    run.interrupted().hash(&mut h);
    h.finish()
}

/// Hashes each entry of `dir` (name, size, modification time), in name order; nothing when
/// `dir` cannot be read.
fn hash_entries(dir: &Path, h: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    let mut seen: Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)> =
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| {
                        let meta = e.metadata().ok();
                        let len = meta.as_ref().map_or(0, |m| m.len());
                        (e.file_name(), len, meta.and_then(|m| m.modified().ok()))
                    })
                    .collect()
            })
            .unwrap_or_default();
    seen.sort();
    seen.hash(h);
}
