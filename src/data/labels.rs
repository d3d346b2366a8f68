//! The C-NMC preliminary-test labels CSV: `Patient_ID,new_names,labels` (1 = all, 0 = hem).

use std::collections::BTreeMap;
use std::path::Path;

/// One row of the labels file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRow {
    /// Original training-style name, carrying the subject id (`UID_57_29_1_all.bmp`).
    pub patient_id: String,
    /// File name inside the test folder (`1.bmp`).
    pub new_name: String,
    /// true = `all` (cancer), false = `hem` (normal).
    pub is_all: bool,
}

/// A labels file that cannot be used: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelsError {
    /// The CSV file.
    pub file: std::path::PathBuf,
    /// The line (1-based), when the problem is on one.
    pub line: Option<usize>,
    /// What is wrong.
    pub problem: LabelsProblem,
}

impl std::fmt::Display for LabelsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(n) => write!(f, "{} line {n}: {}", self.file.display(), self.problem),
            None => write!(f, "{}: {}", self.file.display(), self.problem),
        }
    }
}

impl std::error::Error for LabelsError {}

/// What is wrong with a labels file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsProblem {
    /// No line at all.
    #[error("the labels CSV is empty")]
    Empty,
    /// A header without the three columns (as found).
    #[error("header must have the columns Patient_ID,new_names,labels (found `{0}`)")]
    Header(String),
    /// A line with too few fields.
    #[error("expected {expected} fields, found {found} (`{text}`)")]
    Fields {
        /// Fields of the header.
        expected: usize,
        /// Fields on the line.
        found: usize,
        /// The line.
        text: String,
    },
    /// A label that is neither 0 nor 1.
    #[error("label `{0}` is not 0 (hem) or 1 (all)")]
    Label(String),
    /// An empty file name or one with a path separator.
    #[error("file name `{0}` is empty or contains a path separator")]
    FileName(String),
    /// A file listed twice.
    #[error("`{name}` is listed twice (first on line {first})")]
    Twice {
        /// The file name.
        name: String,
        /// The line it was first on.
        first: usize,
    },
}

/// Parses the labels CSV text. Tolerates a UTF-8 BOM, CRLF line ends, surrounding spaces,
/// quoted fields and columns in any order; every error names the file and line.
pub fn parse(text: &str, origin: &Path) -> Result<Vec<LabelRow>, LabelsError> {
    let fail = |line: Option<usize>, problem| LabelsError {
        file: origin.to_path_buf(),
        line,
        problem,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| fail(None, LabelsProblem::Empty))?;
    let cols: Vec<String> = split_fields(header)
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let find = |name: &str| cols.iter().position(|c| c == name);
    let (Some(pid), Some(new), Some(lab)) = (find("patient_id"), find("new_names"), find("labels"))
    else {
        return Err(fail(None, LabelsProblem::Header(header.trim().to_string())));
    };
    let mut rows = Vec::new();
    let mut seen = BTreeMap::new();
    for (line_no, line) in lines {
        let f = split_fields(line);
        let need = pid.max(new).max(lab);
        if f.len() <= need {
            return Err(fail(
                Some(line_no),
                LabelsProblem::Fields {
                    expected: cols.len(),
                    found: f.len(),
                    text: line.trim().to_string(),
                },
            ));
        }
        let is_all = match f[lab].as_str() {
            "1" => true,
            "0" => false,
            other => {
                return Err(fail(Some(line_no), LabelsProblem::Label(other.to_string())));
            }
        };
        let new_name = f[new].clone();
        if new_name.is_empty() || new_name.contains('/') || new_name.contains('\\') {
            return Err(fail(Some(line_no), LabelsProblem::FileName(new_name)));
        }
        if let Some(prev) = seen.insert(new_name.clone(), line_no) {
            return Err(fail(
                Some(line_no),
                LabelsProblem::Twice {
                    name: new_name,
                    first: prev,
                },
            ));
        }
        rows.push(LabelRow {
            patient_id: f[pid].clone(),
            new_name,
            is_all,
        });
    }
    Ok(rows)
}

/// Splits one CSV line on commas, honouring double quotes (no multi-line fields).
fn split_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Subject id of a C-NMC file name: `UID_53_4_8_all.bmp` → `53`, `UID_H6_5_1_hem.bmp` and
/// `UID_h6_…` → `H6` (36 fold_2 files use a lower-case `h` for the same subjects).
pub fn subject_of(name: &str) -> Option<String> {
    let rest = name.strip_prefix("UID_")?;
    let id = rest.split('_').next()?;
    if id.is_empty() {
        return None;
    }
    let id = if let Some(n) = id.strip_prefix('h') {
        format!("H{n}")
    } else {
        id.to_string()
    };
    let digits = id.strip_prefix('H').unwrap_or(&id);
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then_some(id)
}
