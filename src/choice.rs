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

/// A list option (`--seed 0,0`, `--normalize cl2n,cl2n`) that names a value twice: the
/// message names the option, the value and what the repeat would do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--{flag} lists {value} twice: {why}")]
pub struct Repeated {
    /// The option, without its dashes (`seed`, `image-size`).
    pub flag: String,
    /// The repeated value as typed.
    pub value: String,
    /// What a repeat would do, in words.
    pub why: &'static str,
}

impl Repeated {
    /// `Err` naming the first value of `values` that an earlier one equals (`text` writes
    /// it as typed), `Ok` when every value is different.
    pub fn check<T: PartialEq>(
        flag: &str,
        values: &[T],
        text: impl Fn(&T) -> String,
        why: &'static str,
    ) -> Result<(), Repeated> {
        match values
            .iter()
            .enumerate()
            .find(|&(i, v)| values[..i].contains(v))
        {
            Some((_, v)) => Err(Repeated {
                flag: flag.into(),
                value: text(v),
                why,
            }),
            None => Ok(()),
        }
    }
}
