//! Markdown reports of runs and comparisons of objectives.

pub mod markdown;

pub use markdown::{RunReport, collect, render};
