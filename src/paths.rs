//! Where bloodshot keeps runs, caches and logs (XDG directories via `directories`).

use std::path::{Path, PathBuf};

/// Environment variable that overrides every default directory (tests, CI, shared servers).
pub const HOME_ENV: &str = "BLOODSHOT_HOME";

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("org", "bloodshot", "bloodshot")
}

fn under_home(sub: &str) -> Option<PathBuf> {
    std::env::var_os(HOME_ENV).map(|h| PathBuf::from(h).join(sub))
}

/// Default folder holding one sub-folder per training run.
pub fn default_runs_dir() -> PathBuf {
    under_home("runs")
        .or_else(|| project_dirs().map(|d| d.data_dir().join("runs")))
        .unwrap_or_else(|| PathBuf::from(".bloodshot/runs"))
}

/// Folder for decoded-image caches (safe to delete).
pub fn cache_dir() -> PathBuf {
    under_home("cache")
        .or_else(|| project_dirs().map(|d| d.cache_dir().to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(".bloodshot/cache"))
}

/// Folder for log files.
pub fn state_dir() -> PathBuf {
    under_home("state")
        .or_else(|| project_dirs().and_then(|d| d.state_dir().map(Path::to_path_buf)))
        .or_else(|| project_dirs().map(|d| d.cache_dir().join("state")))
        .unwrap_or_else(|| PathBuf::from(".bloodshot/state"))
}

/// User configuration folder (`config.toml`, user themes).
pub fn config_dir() -> PathBuf {
    under_home("config")
        .or_else(|| project_dirs().map(|d| d.config_dir().to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(".bloodshot/config"))
}

/// The bundled sample data, found next to the crate (development) or the current directory.
pub fn sample_data_dir() -> PathBuf {
    let here = PathBuf::from("sample-data");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data")
}

/// Default base dataset: the bundled synthetic AML imitation.
pub fn default_base() -> PathBuf {
    sample_data_dir().join("aml")
}

/// Default target dataset: the bundled synthetic C-NMC imitation.
pub fn default_target() -> PathBuf {
    sample_data_dir().join("cnmc")
}
