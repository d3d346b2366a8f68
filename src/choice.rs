//! The error of a setting typed as a word (`--protocol`, `--normalize`, `--method`, `--tta`,
//! `--objective`) that names none of its choices.

/// A word that names none of a setting's choices; the message lists them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`: use {choices}")]
pub struct UnknownChoice {
    /// The setting (`protocol`, `normalisation`, …).
    pub what: &'static str,
    /// What was typed.
    pub value: String,
    /// The choices, in words.
    pub choices: &'static str,
}

impl UnknownChoice {
    /// `value` is not a `what`; `choices` in words.
    pub fn new(what: &'static str, value: &str, choices: &'static str) -> Self {
        UnknownChoice {
            what,
            value: value.to_string(),
            choices,
        }
    }
}
