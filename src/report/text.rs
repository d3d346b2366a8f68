//! Text that the CLI and the markdown report share: tables written as markdown or as aligned
//! plain text, the confusion matrix, and the sentence that summarises a bank of draws.

use std::fmt::Write as _;

use crate::fewshot::metrics::{ConfusionMatrix, KShotSummary, Summary};

/// `n` and the noun, plural unless `n` is 1: "1 draw", "100 draws", "1 epoch".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// "the 20 draws", or "the one draw".
pub fn the_draws(n: usize) -> String {
    if n == 1 {
        "the one draw".into()
    } else {
        format!("the {n} draws")
    }
}

/// "the same 20 draws", or "the same draw".
pub fn the_same_draws(n: usize) -> String {
    if n == 1 {
        "the same draw".into()
    } else {
        format!("the same {n} draws")
    }
}

/// A table: a header and rows of cells; the first column names the rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTable {
    /// Column headings.
    pub header: Vec<String>,
    /// Rows of cells, as many as headings.
    pub rows: Vec<Vec<String>>,
}

impl TextTable {
    /// As a markdown table: row names bold, the other columns right-aligned.
    pub fn markdown(&self) -> String {
        let mut out = format!("| {} |\n|---|", self.header.join(" | "));
        for _ in 1..self.header.len() {
            out.push_str("---:|");
        }
        out.push('\n');
        for row in &self.rows {
            let _ = write!(out, "| **{}** |", row.first().map_or("", String::as_str));
            for cell in row.iter().skip(1) {
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }
        out
    }

    /// As plain text: each column as wide as its widest cell, the first left-aligned and the
    /// others right-aligned, every line after `indent`.
    pub fn plain(&self, indent: &str) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| -> String {
            let mut l = indent.to_string();
            for (c, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                if c == 0 {
                    let _ = write!(l, "{cell:<w$}");
                } else {
                    let _ = write!(l, "  {cell:>w$}");
                }
            }
            l.trim_end().to_string() + "\n"
        };
        std::iter::once(&self.header)
            .chain(&self.rows)
            .map(|r| line(r))
            .collect()
    }
}

/// The confusion matrix: rows the true classes, columns the predicted ones.
pub fn confusion(classes: &[String], cm: &ConfusionMatrix) -> TextTable {
    TextTable {
        header: std::iter::once("true \\ predicted".to_string())
            .chain(classes.iter().cloned())
            .collect(),
        rows: classes
            .iter()
            .enumerate()
            .map(|(t, name)| {
                std::iter::once(name.clone())
                    .chain((0..classes.len()).map(|p| cm.get(t, p).to_string()))
                    .collect()
            })
            .collect(),
    }
}

/// `0.780 ± 0.075`.
pub fn pm(s: &Summary) -> String {
    format!("{:.3} ± {:.3}", s.mean, s.std)
}

/// "accuracy 0.780 ± 0.075 (95 % CI 0.759–0.802), balanced accuracy …, macro F1 …, weighted
/// F1 …"; the accuracy in markdown bold when `bold`.
pub fn summary_sentence(s: &KShotSummary, bold: bool) -> String {
    let b = if bold { "**" } else { "" };
    format!(
        "accuracy {b}{}{b} (95 % CI {:.3}–{:.3}), balanced accuracy {}, macro F1 {}, weighted F1 {}",
        pm(&s.accuracy),
        s.accuracy.ci95_low,
        s.accuracy.ci95_high,
        pm(&s.balanced_accuracy),
        pm(&s.macro_f1),
        pm(&s.weighted_f1)
    )
}

/// A duration in words short enough for a table cell: `1h02m`, `3m05s`, `12s`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
