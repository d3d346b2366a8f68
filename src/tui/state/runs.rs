//! Runs tab: the run list, marks, the import prompt and the outcome of exports.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crossterm::event::KeyCode;

use crate::tui::event::RunRow;

/// What the Runs tab last read of each run folder, by path: the run's fingerprint then, its
/// row and its report. A reload reads again only the runs whose folder changed.
#[derive(Debug, Default)]
pub struct RunsCache(pub HashMap<PathBuf, (u64, RunRow, bloodshot::report::RunReport)>);

/// Runs tab.
#[derive(Debug, Clone, Default)]
pub struct RunsState {
    /// Runs, oldest first.
    pub rows: Vec<RunRow>,
    /// Selected row.
    pub selected: usize,
    /// Marked rows (by id).
    pub marked: Vec<String>,
    /// Comparison markdown of the marked runs (same rendering as the export).
    pub last_export: Option<Result<Vec<PathBuf>, String>>,
    /// The import prompt, while open: the path typed so far.
    pub prompt: Option<String>,
    /// Outcome of the last import or weights export (one line).
    pub last_interop: Option<Result<String, String>>,
    /// Table 1 over every run of the folder (objectives over training seeds).
    pub table1: bloodshot::report::table1::Table1,
    /// The group of Table 1 shown first (PgDn / PgUp), when they do not all fit.
    pub first_group: usize,
    /// The runs folder's fingerprint when the rows were read: the tab re-reads the folder
    /// when it moves (runs of other processes appear and grow).
    pub fingerprint: Option<u64>,
    /// The rows' sources, shared with the loads in the background.
    pub cache: Arc<Mutex<RunsCache>>,
}

impl RunsState {
    /// A reloaded Table 1; the first group shown stays, within the new table.
    pub fn set_table1(&mut self, table1: bloodshot::report::table1::Table1) {
        self.table1 = table1;
        self.first_group = self
            .first_group
            .min(self.table1.groups.len().saturating_sub(1));
    }

    /// PgDn / PgUp: Table 1 from the next or previous group (the last group at most).
    pub fn step_group(&mut self, next: bool) {
        let last = self.table1.groups.len().saturating_sub(1);
        self.first_group = if next {
            (self.first_group + 1).min(last)
        } else {
            self.first_group.saturating_sub(1)
        };
    }

    /// An import or weights export ended: kept for the footer; the status line's sentence.
    pub fn interop_done(&mut self, r: Result<String, String>) -> String {
        let status = match &r {
            Ok(m) => m.clone(),
            Err(e) => format!("failed: {e}"),
        };
        self.last_interop = Some(r);
        self.last_export = None;
        status
    }

    /// A markdown export ended: kept for the footer; the status line's sentence.
    pub fn exported(&mut self, r: Result<Vec<PathBuf>, String>) -> String {
        let status = match &r {
            Ok(p) => format!("exported {} report(s)", p.len()),
            Err(e) => format!("export failed: {e}"),
        };
        self.last_export = Some(r);
        self.last_interop = None;
        status
    }

    /// The selected run.
    pub fn selected_row(&self) -> Option<&RunRow> {
        self.rows.get(self.selected)
    }

    /// Marks or unmarks the selected run.
    pub fn toggle_mark(&mut self) {
        if let Some(r) = self.rows.get(self.selected) {
            let id = r.id.clone();
            if let Some(i) = self.marked.iter().position(|m| *m == id) {
                self.marked.remove(i);
            } else {
                self.marked.push(id);
            }
        }
    }

    /// The folders to export: the marked runs, or the selected one when none is marked.
    pub fn export_paths(&self) -> Vec<PathBuf> {
        if self.marked.is_empty() {
            self.selected_row()
                .map(|r| r.path.clone())
                .into_iter()
                .collect()
        } else {
            self.rows
                .iter()
                .filter(|r| self.marked.contains(&r.id))
                .map(|r| r.path.clone())
                .collect()
        }
    }

    /// A fresh list from disk; the selection stays in range.
    pub fn replace_rows(&mut self, rows: Vec<RunRow>) {
        self.selected = self.selected.min(rows.len().saturating_sub(1));
        self.rows = rows;
    }

    /// A key while the import prompt is open: edits the path; Enter returns the path to
    /// import (`~/` expanded), Esc closes the prompt.
    pub fn prompt_key(&mut self, code: KeyCode) -> Option<PathBuf> {
        let super::PromptKey::Submitted(path) = super::prompt_key(&mut self.prompt, code) else {
            return None;
        };
        if path.is_empty() {
            return None;
        }
        Some(match path.strip_prefix("~/") {
            Some(rest) => directories::BaseDirs::new()
                .map_or_else(|| PathBuf::from(&path), |d| d.home_dir().join(rest)),
            None => PathBuf::from(path),
        })
    }
}
