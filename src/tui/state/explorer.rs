//! Sweeps tab, explorer view: the selected sweep's jobs as a table of varied
//! hyper-parameters and results ([`Explorer`]), sorted by a chosen column, filtered with a
//! typed expression, with the selected job highlighted in the parallel-coordinates plot.

use crossterm::event::KeyCode;

use bloodshot::sweep::explore::{Explorer, Filter};

use crate::tui::action::Effect;

/// The explorer.
#[derive(Debug, Clone, Default)]
pub struct ExplorerState {
    /// Shown instead of the jobs table.
    pub shown: bool,
    /// The sweep the table belongs to, and the table as last read.
    pub table: Option<(String, Explorer)>,
    /// Sort column (index into the table's columns).
    pub sort: usize,
    /// Largest first.
    pub descending: bool,
    /// The filter as typed.
    pub filter_text: String,
    /// The filter in force (the last one that parsed).
    pub filter: Filter,
    /// Why the filter as typed does not parse.
    pub filter_error: Option<String>,
    /// The filter prompt, while open: the text typed so far.
    pub prompt: Option<String>,
    /// Selected job (index into [`ExplorerState::order`]).
    pub selected: usize,
}

impl ExplorerState {
    /// Row indices shown, in order.
    pub fn order(&self) -> Vec<usize> {
        match &self.table {
            Some((_, t)) => t.order(self.sort, self.descending, &self.filter),
            None => vec![],
        }
    }

    /// `e`: shows the explorer for sweep `id` (or hides it).
    pub fn toggle(&mut self, id: Option<String>) -> Vec<Effect> {
        self.shown = !self.shown;
        match (self.shown, id) {
            (true, Some(id)) => vec![Effect::LoadExplorer(id)],
            _ => vec![],
        }
    }

    /// A fresh table. A new sweep's table starts sorted by its first k-shot result (or its
    /// first result), best first.
    pub fn loaded(&mut self, id: String, table: Explorer) {
        let same = self.table.as_ref().is_some_and(|(old, _)| *old == id);
        if !same {
            self.sort = table
                .columns
                .iter()
                .position(|c| c.name.starts_with('k'))
                .or_else(|| table.columns.iter().position(|c| c.result))
                .unwrap_or(0);
            self.descending = true;
            self.selected = 0;
        }
        // The typed filter applies to the new columns too, if it still parses.
        if !self.filter_text.is_empty() {
            match Filter::parse(&self.filter_text, &table) {
                Ok(f) => {
                    self.filter = f;
                    self.filter_error = None;
                }
                Err(e) => self.filter_error = Some(e.to_string()),
            }
        }
        self.sort = self.sort.min(table.columns.len().saturating_sub(1));
        self.table = Some((id, table));
        self.selected = self.selected.min(self.order().len().saturating_sub(1));
    }

    /// ↑ / ↓: the previous / next job of the table.
    pub fn move_selection(&mut self, down: bool) {
        let n = self.order().len();
        self.selected = if down {
            (self.selected + 1).min(n.saturating_sub(1))
        } else {
            self.selected.saturating_sub(1)
        };
    }

    /// ← / →: sorts by the previous / next column (the largest first).
    pub fn move_sort(&mut self, right: bool) {
        let n = self.table.as_ref().map_or(0, |(_, t)| t.columns.len());
        if n == 0 {
            return;
        }
        self.sort = if right {
            (self.sort + 1) % n
        } else {
            (self.sort + n - 1) % n
        };
        self.descending = true;
        self.selected = 0;
    }

    /// `r`: reverses the order.
    pub fn reverse(&mut self) {
        self.descending = !self.descending;
        self.selected = 0;
    }

    /// `/`: opens the filter prompt with the filter in force.
    pub fn open_prompt(&mut self) {
        self.prompt = Some(self.filter_text.clone());
    }

    /// A key while the filter prompt is open: edits it; Enter applies it (an empty one keeps
    /// every job; one that does not parse keeps the old filter and says why), Esc closes it.
    pub fn prompt_key(&mut self, code: KeyCode) {
        let super::PromptKey::Submitted(typed) = super::prompt_key(&mut self.prompt, code) else {
            return;
        };
        let parsed = match &self.table {
            Some((_, t)) => Filter::parse(&typed, t).map_err(|e| e.to_string()),
            None => Err("no table yet: the sweep's jobs are still being read".to_string()),
        };
        match parsed {
            Ok(f) => {
                self.filter = f;
                self.filter_text = typed;
                self.filter_error = None;
                self.selected = 0;
            }
            Err(e) => self.filter_error = Some(e),
        }
    }

    /// The run id of the selected job.
    pub fn selected_run(&self) -> Option<String> {
        let (_, t) = self.table.as_ref()?;
        let i = *self.order().get(self.selected)?;
        Some(t.rows[i].run_id.clone())
    }
}
