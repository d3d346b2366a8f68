//! The user's console configuration: `<config dir>/config.toml` (theme, default paths,
//! device) and an optional `<config dir>/theme.toml` overriding single colours.

use std::path::PathBuf;

use serde::Deserialize;

/// `config.toml`; every field optional.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Built-in theme name: dark, light, high-contrast.
    pub theme: Option<String>,
    /// Default base dataset.
    pub base: Option<PathBuf>,
    /// Default target dataset.
    pub target: Option<PathBuf>,
    /// Default device (`cpu`, `cuda:0`, `vulkan:0`).
    pub device: Option<String>,
    /// Runs folder.
    pub runs_dir: Option<PathBuf>,
}

/// Reads the config; a missing file is the default, a broken one is a warning.
pub fn load() -> (UserConfig, Option<String>, Option<String>) {
    let dir = bloodshot::paths::config_dir();
    let path = dir.join("config.toml");
    let (cfg, warn) = match std::fs::read_to_string(&path) {
        Err(_) => (UserConfig::default(), None),
        Ok(text) => match toml::from_str(&text) {
            Ok(c) => (c, None),
            Err(e) => (
                UserConfig::default(),
                Some(format!("{} ignored: {}", path.display(), e.message())),
            ),
        },
    };
    let theme = std::fs::read_to_string(dir.join("theme.toml")).ok();
    (cfg, theme, warn)
}
