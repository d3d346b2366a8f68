//! Train tab overlays: several runs on one chart (the marked runs of the Runs tab, or a
//! sweep's jobs), optionally as seed groups (mean ± sd band), and the pinned baseline that
//! stays drawn while other runs are browsed. Curves come from the run folders
//! ([`Curves::load`]), re-read every two seconds while shown, so running jobs grow.

use std::path::PathBuf;

use bloodshot::report::compare::{Curves, Metric};

use crate::tui::action::Effect;

/// Where the overlaid runs came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Runs marked on the Runs tab.
    Marked,
    /// The jobs of a sweep (its id).
    Sweep(String),
}

impl Source {
    /// In words, for the title.
    pub fn describe(&self) -> String {
        match self {
            Source::Marked => "marked runs".into(),
            Source::Sweep(id) => format!("sweep {id}"),
        }
    }
}

/// The overlay and the baseline.
#[derive(Debug, Clone)]
pub struct CompareState {
    /// The overlay replaces the live run's charts on the Train tab.
    pub shown: bool,
    /// What is overlaid: where from, and the run folders.
    pub source: Option<(Source, Vec<PathBuf>)>,
    /// The runs' curves as last read, in the order of the folders.
    pub curves: Vec<Curves>,
    /// Curves asked for and not read yet.
    pub pending: bool,
    /// Folders that could not be read, with why (a job not started yet is not an error).
    pub unreadable: Vec<String>,
    /// The curve drawn.
    pub metric: Metric,
    /// Runs that differ only in the training seed drawn as one mean line with a ±1 sd band.
    pub seed_bands: bool,
    /// The pinned baseline's folder.
    pub baseline_path: Option<PathBuf>,
    /// Its curves, once read.
    pub baseline: Option<Curves>,
}

impl Default for CompareState {
    fn default() -> Self {
        CompareState {
            shown: false,
            source: None,
            curves: vec![],
            pending: false,
            unreadable: vec![],
            metric: Metric::StepLoss,
            seed_bands: false,
            baseline_path: None,
            baseline: None,
        }
    }
}

impl CompareState {
    /// Overlays these runs (replacing what was overlaid) and asks for their curves.
    pub fn open(&mut self, source: Source, paths: Vec<PathBuf>) -> Vec<Effect> {
        self.shown = true;
        if self.source.as_ref().map(|s| &s.1) != Some(&paths) {
            self.curves.clear();
            self.unreadable.clear();
        }
        self.source = Some((source, paths.clone()));
        self.pending = self.curves.is_empty();
        vec![Effect::LoadCurves(paths)]
    }

    /// `o` on the Train tab: hides the overlay, or shows the last one again. `Err` says why
    /// there is nothing to show.
    pub fn toggle(&mut self) -> Result<Vec<Effect>, String> {
        if self.shown {
            self.shown = false;
            return Ok(vec![]);
        }
        match &self.source {
            Some((_, paths)) => {
                self.shown = true;
                Ok(vec![Effect::LoadCurves(paths.clone())])
            }
            None => Err(
                "nothing to overlay yet: mark runs on the Runs tab (Space) and press o there, or o on a sweep"
                    .into(),
            ),
        }
    }

    /// Fresh curves for `paths`; ignored when the overlay has changed since they were asked.
    pub fn loaded(&mut self, paths: &[PathBuf], curves: Vec<Curves>, unreadable: Vec<String>) {
        if self.source.as_ref().map(|s| s.1.as_slice()) == Some(paths) {
            self.curves = curves;
            self.unreadable = unreadable;
            self.pending = false;
        }
    }

    /// Pins `path` as the baseline, or unpins it when it is the baseline already. Returns a
    /// remark for the status line and the work to do.
    pub fn toggle_baseline(&mut self, path: PathBuf) -> (String, Vec<Effect>) {
        if self.baseline_path.as_ref() == Some(&path) {
            self.baseline_path = None;
            self.baseline = None;
            return ("baseline unpinned".into(), vec![]);
        }
        let name = path
            .file_name()
            .map_or(path.display().to_string(), |n| n.to_string_lossy().into());
        self.baseline_path = Some(path.clone());
        self.baseline = None;
        (
            format!("baseline: {name} (stays on the Train tab's charts; b again unpins)"),
            vec![Effect::LoadBaseline(path)],
        )
    }

    /// The baseline's curves (or why they could not be read).
    pub fn baseline_loaded(&mut self, curves: Result<Curves, String>) -> Option<String> {
        match curves {
            Ok(c) if self.baseline_path.as_ref() == Some(&c.path) => {
                self.baseline = Some(c);
                None
            }
            Ok(_) => None,
            Err(e) => {
                self.baseline_path = None;
                self.baseline = None;
                Some(format!("baseline not pinned: {e}"))
            }
        }
    }

    /// What the two-second refresh re-reads.
    pub fn refresh(&self) -> Vec<Effect> {
        let mut out = vec![];
        if self.shown
            && let Some((_, paths)) = &self.source
        {
            out.push(Effect::LoadCurves(paths.clone()));
        }
        if let Some(p) = &self.baseline_path {
            out.push(Effect::LoadBaseline(p.clone()));
        }
        out
    }
}
