//! K-shot tab: the form, the prepared session (embeddings, bank, results in every
//! classifier × normalisation cell) and the updates that the form's keys and the k-shot workers cause.

use std::sync::Arc;

use bloodshot::device::DeviceSpec;
use bloodshot::fewshot::evaluate::{Cell, KShotOptions, Prepared, Protocol, SweepPoint};
use bloodshot::fewshot::method::Method;
use bloodshot::fewshot::metrics::{DrawMetrics, KShotSummary};
use bloodshot::fewshot::paired::{self, PairedDifference};
use bloodshot::fewshot::sampler::Draw;
use bloodshot::fewshot::score::Normalization;
use bloodshot::fewshot::tta::Tta;
use bloodshot::runs::RunDir;

use super::step_in;
use crate::tui::action::Effect;
use crate::tui::event::{Evaluated, KSweep, PreparedSession, RunRow};
use crate::tui::thumb::Thumb;

const KS: [usize; 10] = [1, 2, 3, 5, 10, 15, 20, 30, 50, 100];
const DRAWS: [usize; 6] = [10, 20, 50, 100, 200, 500];
/// k values of the console's sweep.
pub const SWEEP_KS: [usize; 6] = [1, 2, 3, 5, 10, 20];

/// A field of the k-shot form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KShotField {
    /// Run.
    Run,
    /// Checkpoint.
    Checkpoint,
    /// k.
    K,
    /// Bank size.
    Draws,
    /// Protocol.
    Protocol,
    /// By subject.
    BySubject,
    /// Seed.
    Seed,
    /// Embedding normalisation (changes the view, not the bank).
    Normalize,
    /// Classifier (changes the view, not the bank).
    Method,
    /// Test-time augmentation (a view change when the session embedded it, else a new
    /// preparation).
    Tta,
}

impl KShotField {
    /// Form order.
    pub const ALL: [KShotField; 10] = [
        KShotField::Run,
        KShotField::Checkpoint,
        KShotField::K,
        KShotField::Draws,
        KShotField::Protocol,
        KShotField::BySubject,
        KShotField::Seed,
        KShotField::Normalize,
        KShotField::Method,
        KShotField::Tta,
    ];

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            KShotField::Run => "run",
            KShotField::Checkpoint => "checkpoint",
            KShotField::K => "k",
            KShotField::Draws => "draws in bank",
            KShotField::Protocol => "protocol",
            KShotField::BySubject => "by subject",
            KShotField::Seed => "seed",
            KShotField::Normalize => "normalize",
            KShotField::Method => "classifier",
            KShotField::Tta => "test-time aug",
        }
    }
}

/// 2-D PCA view: points per class and prototypes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PcaView {
    /// Points of each class.
    pub points: Vec<Vec<(f64, f64)>>,
    /// Prototype of each class in the current draw.
    pub prototypes: Vec<(f64, f64)>,
}

/// Prepared k-shot session.
#[derive(Debug, Clone)]
pub struct KShotSession {
    /// Checkpoint epoch.
    pub epoch: usize,
    /// Embedded sets (plain embeddings: the bank, the PCA and the baseline of every Δ).
    pub prep: Arc<Prepared>,
    /// The same sets with augmented embeddings, when prepared with test-time augmentation.
    pub augmented: Option<(Tta, Arc<Prepared>)>,
    /// Target dataset (paths for thumbnails).
    pub dataset: Arc<bloodshot::data::Dataset>,
    /// PCA basis of the queries.
    pub pca_basis: Arc<bloodshot::fewshot::pca::Pca>,
    /// The bank (fixed by k, draws, seed), shared with background work without copies.
    pub bank: Arc<[Draw]>,
    /// Metrics of draws evaluated so far in every cell of the classifier × normalisation
    /// grid (indexed like [`Cell::grid`]), in draw order: the same draws, so comparisons are
    /// paired.
    pub done_by_cell: Vec<Vec<DrawMetrics>>,
    /// Summary of each cell's draws (indexed like [`Cell::grid`]).
    pub summary_by_cell: Vec<Option<KShotSummary>>,
    /// Each cell's paired difference in accuracy to prototype · none on the same draws, with
    /// its 95 % bootstrap interval (the engine's [`paired::to_first`], as `kshot --method …
    /// --normalize …` prints).
    pub paired_by_cell: Vec<Option<PairedDifference>>,
    /// Metrics of draws evaluated so far in the selected cell, in order.
    pub done: Vec<DrawMetrics>,
    /// Summary of `done`.
    pub summary: Option<KShotSummary>,
    /// Cell the thumbnails' misclassifications were computed with.
    pub thumbs_cell: Cell,
    /// Thumbnails of the current support set per class, and of misclassified queries.
    pub support_thumbs: Vec<Vec<Thumb>>,
    /// Misclassified queries of the current draw: (true, predicted, thumb).
    pub miss_thumbs: Vec<(usize, usize, Thumb)>,
    /// PCA of (a sample of) the queries, with the current prototypes.
    pub pca: PcaView,
    /// The accuracy-vs-k sweep: one curve per classifier, under one normalisation.
    pub sweep: Option<KSweep>,
}

impl KSweep {
    /// Whether these curves belong to `cell`'s normalisation and augmentation.
    pub fn shows(&self, cell: Cell) -> bool {
        self.normalize == cell.normalize && self.tta == cell.tta
    }
}

impl KShotSession {
    /// The prepared sets embedded with `tta`, when this session has them.
    pub fn prep_for(&self, tta: Tta) -> Option<&Arc<Prepared>> {
        match (tta, &self.augmented) {
            (Tta::None, _) => Some(&self.prep),
            (t, Some((have, prep))) if *have == t => Some(prep),
            _ => None,
        }
    }

    /// The sweep's points in `cell` (empty when the sweep is of another normalisation).
    pub fn sweep_points(&self, cell: Cell) -> &[SweepPoint] {
        match &self.sweep {
            Some(sw) if sw.shows(cell) => sw
                .by_method
                .get(cell.method.index())
                .map_or(&[], Vec::as_slice),
            _ => &[],
        }
    }
}

/// K-shot tab.
#[derive(Debug, Clone, Default)]
pub struct KShotState {
    /// Selected form field.
    pub field: usize,
    /// Chosen run index into the runs list.
    pub run: usize,
    /// Chosen checkpoint (None = last).
    pub checkpoint: Option<usize>,
    /// Options.
    pub opts: KShotOptionsView,
    /// Preparing: (done, total) of embedding.
    pub preparing: Option<(usize, usize)>,
    /// Ready session.
    pub session: Option<KShotSession>,
    /// Sweep running.
    pub sweeping: bool,
    /// Last error or remark.
    pub message: Option<String>,
    /// Selected thumbnail of the strip (index into [`KShotSession::strip`]).
    pub thumb: usize,
    /// The selected thumbnail is shown enlarged.
    pub zoom: bool,
}

impl KShotState {
    /// Shows the session's draws in the selected cell (no recomputation: every cell was
    /// scored on the same draws); a complete bank's result in that cell is saved.
    pub fn show_cell(&mut self) -> Vec<Effect> {
        let cell = Cell::of(&self.opts.0);
        let mut effects = vec![];
        if let Some(s) = self.session.as_mut() {
            s.done = s
                .done_by_cell
                .get(cell.index())
                .cloned()
                .unwrap_or_default();
            s.summary = s.summary_by_cell.get(cell.index()).cloned().flatten();
            // A sweep under another normalisation or augmentation: drop it rather than
            // mislabel it.
            if s.sweep.as_ref().is_some_and(|sw| !sw.shows(cell)) {
                s.sweep = None;
            }
            if !s.done.is_empty() && s.done.len() == s.bank.len() {
                effects.push(Effect::SaveKShot);
            }
        }
        self.message = Some(format!(
            "{}: same draws, rescored{}",
            cell.name(),
            if cell.transductive() {
                " (* transductive: uses the unlabelled target)"
            } else {
                ""
            }
        ));
        effects
    }
}

/// The k-shot options as the form edits them.
#[derive(Debug, Clone, PartialEq)]
pub struct KShotOptionsView(pub KShotOptions);

impl Default for KShotOptionsView {
    fn default() -> Self {
        KShotOptionsView(KShotOptions::interactive())
    }
}

/// One cell of the thumbnail strip.
#[derive(Debug, Clone, Copy)]
pub enum StripItem<'a> {
    /// A support image of class `class` in the current draw.
    Support {
        /// Class index.
        class: usize,
        /// The image.
        thumb: &'a Thumb,
    },
    /// A misclassified query of the current draw.
    Miss {
        /// True class.
        truth: usize,
        /// Predicted class.
        pred: usize,
        /// The image.
        thumb: &'a Thumb,
    },
}

impl<'a> StripItem<'a> {
    /// The image.
    pub fn thumb(&self) -> &'a Thumb {
        match self {
            StripItem::Support { thumb, .. } | StripItem::Miss { thumb, .. } => thumb,
        }
    }
}

impl KShotSession {
    /// The strip's cells in order: support images class by class, then misclassified queries.
    pub fn strip(&self) -> Vec<StripItem<'_>> {
        let support = self
            .support_thumbs
            .iter()
            .enumerate()
            .flat_map(|(class, ts)| {
                ts.iter()
                    .map(move |thumb| StripItem::Support { class, thumb })
            });
        let misses = self
            .miss_thumbs
            .iter()
            .map(|(truth, pred, thumb)| StripItem::Miss {
                truth: *truth,
                pred: *pred,
                thumb,
            });
        support.chain(misses).collect()
    }
}

impl KShotState {
    /// `[` / `]`: moves the strip selection (clamped to the strip).
    pub fn select_thumb(&mut self, next: bool) {
        let n = self.session.as_ref().map_or(0, |s| s.strip().len());
        self.thumb = if next {
            (self.thumb + 1).min(n.saturating_sub(1))
        } else {
            self.thumb.saturating_sub(1)
        };
    }

    /// `z`: enlarges the selected cell, or closes it.
    pub fn toggle_zoom(&mut self) {
        let has = self
            .session
            .as_ref()
            .is_some_and(|s| self.thumb < s.strip().len());
        if self.zoom || has {
            self.zoom = !self.zoom;
        } else {
            self.message = Some("no cell to enlarge yet: draw a support set first (r)".into());
        }
    }

    /// `p`: loads the selected run's checkpoint and embeds the target (in the background).
    pub fn prepare(&mut self, row: Option<&RunRow>, device: DeviceSpec) -> Vec<Effect> {
        let Some(row) = row else {
            self.message = Some("no run yet: train one on the Train tab".into());
            return vec![];
        };
        if row.checkpoints.is_empty() {
            self.message = Some(format!("run {} has no checkpoint yet", row.id));
            return vec![];
        }
        let run = RunDir {
            path: row.path.clone(),
        };
        self.session = None;
        self.zoom = false;
        self.preparing = Some((0, 0));
        self.message = None;
        vec![Effect::Prepare {
            run,
            epoch: self.checkpoint,
            opts: self.opts.0.clone(),
            device,
        }]
    }

    /// `d` / `D`: evaluates the next draw of the bank, or all that are left.
    pub fn next_draws(&mut self, all: bool) -> Vec<Effect> {
        let Some(s) = &self.session else {
            self.message = Some("press p first: load the checkpoint and embed the target".into());
            return vec![];
        };
        let from = s.done.len();
        if from >= s.bank.len() {
            self.message = Some(format!(
                "{} of the bank done; change k, draws or seed and press p",
                match s.bank.len() {
                    1 => "the one draw".to_string(),
                    n => format!("all {n} draws"),
                }
            ));
            return vec![];
        }
        let to = if all { s.bank.len() } else { from + 1 };
        vec![Effect::Evaluate { from, to }]
    }

    /// `n`: shows the next normalisation (same draws, rescored).
    pub fn next_normalization(&mut self) -> Vec<Effect> {
        let o = &mut self.opts.0;
        let next = (o.normalize.index() + 1) % Normalization::ALL.len();
        o.normalize = Normalization::ALL[next];
        self.show_cell()
    }

    /// `v`: the other test-time augmentation.
    pub fn next_tta(&mut self) -> Vec<Effect> {
        let o = &mut self.opts.0;
        o.tta = Tta::ALL[(o.tta.index() + 1) % Tta::ALL.len()];
        self.tta_changed()
    }

    /// The form's augmentation changed: the same draws on embeddings the session has, or a
    /// new preparation for ones it does not.
    fn tta_changed(&mut self) -> Vec<Effect> {
        let tta = self.opts.0.tta;
        match &self.session {
            Some(s) if s.prep_for(tta).is_some() => self.show_cell(),
            Some(_) => {
                self.session = None;
                self.message = Some(format!(
                    "test-time augmentation {tta}: press p to embed the target with {} views per image ({}× the time, once; cached), then both grids score the same draws",
                    tta.views(),
                    tta.views()
                ));
                vec![]
            }
            None => vec![],
        }
    }

    /// `m`: shows the next classifier (same draws, rescored).
    pub fn next_method(&mut self) -> Vec<Effect> {
        let o = &mut self.opts.0;
        o.method = Method::ALL[(o.method.index() + 1) % Method::ALL.len()];
        self.show_cell()
    }

    /// `w`: the k sweep.
    pub fn start_sweep(&mut self) -> Vec<Effect> {
        if self.session.is_none() {
            self.message = Some("press p first".into());
            return vec![];
        }
        self.sweeping = true;
        vec![Effect::Sweep]
    }

    /// Changes the selected form field one choice up or down. Anything but the normalisation
    /// and the classifier changes the bank, so a prepared session is dropped.
    pub fn adjust(&mut self, runs: &[RunRow], up: bool) -> Vec<Effect> {
        let o = &mut self.opts.0;
        match KShotField::ALL[self.field] {
            KShotField::Run => {
                let n = runs.len().max(1);
                self.run = if up {
                    (self.run + 1) % n
                } else {
                    (self.run + n - 1) % n
                };
                self.checkpoint = None;
            }
            KShotField::Checkpoint => {
                let cps = runs
                    .get(self.run)
                    .map(|r| r.checkpoints.clone())
                    .unwrap_or_default();
                if let Some(&last) = cps.last() {
                    let cur = self.checkpoint.unwrap_or(last);
                    self.checkpoint = Some(step_in(&cps, cur, up));
                }
            }
            KShotField::K => o.k = step_in(&KS, o.k, up),
            KShotField::Draws => o.draws = step_in(&DRAWS, o.draws, up),
            KShotField::Protocol => {
                let ps = [Protocol::Auto, Protocol::HeldoutTest, Protocol::Pool];
                o.protocol = step_in(&ps, o.protocol, up);
            }
            KShotField::BySubject => o.by_subject = !o.by_subject,
            KShotField::Seed => {
                o.seed = if up {
                    o.seed + 1
                } else {
                    o.seed.saturating_sub(1)
                }
            }
            // Same bank, same embeddings: only the view changes.
            KShotField::Normalize => {
                o.normalize = step_in(&Normalization::ALL, o.normalize, up);
                return self.show_cell();
            }
            KShotField::Method => {
                o.method = step_in(&Method::ALL, o.method, up);
                return self.show_cell();
            }
            KShotField::Tta => {
                o.tta = step_in(&Tta::ALL, o.tta, up);
                return self.tta_changed();
            }
        }
        if self.session.is_some() {
            self.session = None;
            self.message = Some("settings changed: press p to prepare a new bank".into());
        }
        vec![]
    }

    /// A finished preparation: a fresh session with nothing evaluated yet.
    pub fn prepared(&mut self, r: Result<Box<PreparedSession>, String>) {
        self.preparing = None;
        let p = match r {
            Err(e) => {
                self.message = Some(e);
                return;
            }
            Ok(p) => p,
        };
        let opts = &self.opts.0;
        self.message = Some(format!(
            "ready: bank of {} at k = {} (seed {})",
            bloodshot::report::text::count(p.bank.len(), "draw"),
            opts.k,
            opts.seed
        ));
        self.session = Some(KShotSession {
            epoch: p.epoch,
            prep: p.prep,
            augmented: p.augmented,
            dataset: p.dataset,
            pca_basis: p.pca,
            bank: p.bank,
            done_by_cell: vec![vec![]; Cell::GRID],
            summary_by_cell: vec![None; Cell::GRID],
            paired_by_cell: vec![None; Cell::GRID],
            done: vec![],
            summary: None,
            thumbs_cell: Cell::of(opts),
            support_thumbs: vec![],
            miss_thumbs: vec![],
            pca: PcaView {
                points: p.points,
                prototypes: vec![],
            },
            sweep: None,
        });
    }

    /// Evaluated draws: appended in every cell; saved once the bank is done.
    pub fn evaluated(&mut self, r: Result<Box<Evaluated>, String>) -> Vec<Effect> {
        match (r, self.session.as_mut()) {
            (Ok(ev), Some(s)) => {
                for ((done, summary), metrics) in s
                    .done_by_cell
                    .iter_mut()
                    .zip(s.summary_by_cell.iter_mut())
                    .zip(ev.by_cell)
                {
                    done.extend(metrics);
                    *summary = KShotSummary::from_draws(done);
                }
                let summaries: Vec<_> = s.summary_by_cell.iter().map(Option::as_ref).collect();
                s.paired_by_cell = paired::to_first(&summaries);
                let cell = Cell::of(&self.opts.0).index();
                s.done = s.done_by_cell[cell].clone();
                s.summary = s.summary_by_cell[cell].clone();
                s.thumbs_cell = ev.thumbs_cell;
                s.support_thumbs = ev.support_thumbs;
                s.miss_thumbs = ev.miss_thumbs;
                s.pca.prototypes = ev.prototypes;
                self.thumb = self.thumb.min(s.strip().len().saturating_sub(1));
                if s.done.len() == s.bank.len() {
                    return vec![Effect::SaveKShot];
                }
            }
            (Err(e), _) => self.message = Some(e),
            _ => {}
        }
        vec![]
    }

    /// A finished sweep: shown and saved.
    pub fn swept(&mut self, r: Result<KSweep, String>) -> Vec<Effect> {
        self.sweeping = false;
        match (r, self.session.as_mut()) {
            (Ok(sweep), Some(s)) => {
                if let Some((ks, why)) = &sweep.left_out {
                    let ks: Vec<String> = ks.iter().map(usize::to_string).collect();
                    self.message = Some(format!("k = {} left out: {why}", ks.join(", ")));
                }
                s.sweep = Some(sweep);
                return vec![Effect::SaveKShot];
            }
            (Err(e), _) => self.message = Some(e),
            _ => {}
        }
        vec![]
    }
}
