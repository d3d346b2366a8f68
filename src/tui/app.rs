//! Console state and its one-way update: input → action → state change (+ effects to run in
//! the background) → redraw. Nothing here touches the terminal, the clock or the disk.

use std::path::PathBuf;
use std::sync::Arc;

use bloodshot::data::stats::DatasetStats;
use bloodshot::device::DeviceSpec;
use bloodshot::fewshot::evaluate::{KShotOptions, Prepared, Protocol, SweepPoint};
use bloodshot::fewshot::metrics::{DrawMetrics, KShotSummary};
use bloodshot::fewshot::sampler::Draw;
use bloodshot::fewshot::score::Normalization;
use bloodshot::model::{AamParams, Objective};
use bloodshot::runs::{EpochSummary, RunDir, RunState, TrainConfig};
use bloodshot::train::{StopMode, StopSignal, TrainEvent};

use super::theme::Theme;
use super::thumb::Thumb;

/// The tabs, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    /// Dataset statistics.
    Data,
    /// Training form and dashboard.
    Train,
    /// K-shot playground.
    KShot,
    /// Runs, comparison, export.
    Runs,
}

impl Tab {
    /// All tabs in display order.
    pub const ALL: [Tab; 4] = [Tab::Data, Tab::Train, Tab::KShot, Tab::Runs];

    /// Title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Data => "Data",
            Tab::Train => "Train",
            Tab::KShot => "K-shot",
            Tab::Runs => "Runs",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Quit (asks while training).
    Quit,
    /// Help overlay.
    ToggleHelp,
    /// Next tab.
    NextTab,
    /// Previous tab.
    PrevTab,
    /// Data tab.
    GoData,
    /// Train tab.
    GoTrain,
    /// K-shot tab.
    GoKShot,
    /// Runs tab.
    GoRuns,
    /// Next theme.
    CycleTheme,
    /// Up.
    Up,
    /// Down.
    Down,
    /// Decrease.
    Left,
    /// Increase.
    Right,
    /// Rescan datasets / reload runs.
    Rescan,
    /// Start training.
    Start,
    /// Stop training after the epoch.
    Stop,
    /// Prepare the k-shot evaluation.
    Prepare,
    /// Next draw.
    Draw,
    /// All remaining draws.
    DrawAll,
    /// k sweep.
    Sweep,
    /// Next embedding normalisation of the k-shot view.
    NextNormalization,
    /// Mark a run.
    Mark,
    /// Export markdown.
    Export,
    /// Resume the selected run.
    Resume,
    /// Open the import prompt.
    Import,
    /// Export the selected run's weights as safetensors.
    ExportWeights,
    /// Quit dialog: stop after epoch.
    StopAfterEpoch,
    /// Quit dialog: stop now.
    StopNow,
    /// Quit dialog: cancel.
    Cancel,
}

impl Action {
    /// Every action (for the help-coverage test).
    #[cfg_attr(not(test), allow(dead_code))]
    pub const ALL: [Action; 29] = [
        Action::Quit,
        Action::ToggleHelp,
        Action::NextTab,
        Action::PrevTab,
        Action::GoData,
        Action::GoTrain,
        Action::GoKShot,
        Action::GoRuns,
        Action::CycleTheme,
        Action::Up,
        Action::Down,
        Action::Left,
        Action::Right,
        Action::Rescan,
        Action::Start,
        Action::Stop,
        Action::Prepare,
        Action::Draw,
        Action::DrawAll,
        Action::Sweep,
        Action::NextNormalization,
        Action::Mark,
        Action::Export,
        Action::Resume,
        Action::Import,
        Action::ExportWeights,
        Action::StopAfterEpoch,
        Action::StopNow,
        Action::Cancel,
    ];
}

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Base (training) set.
    Base,
    /// Target (few-shot) set.
    Target,
}

/// Scan state of one dataset.
#[derive(Debug, Clone, Default)]
pub enum ScanState {
    /// Not scanned yet.
    #[default]
    Idle,
    /// Scanning: (phase, done, total).
    Running(String, usize, usize),
    /// Done.
    Done(Box<DatasetStats>, Vec<(String, Thumb)>),
    /// Failed with a sentence.
    Failed(String),
}

/// Data tab.
#[derive(Debug, Clone, Default)]
pub struct DataState {
    /// Base set.
    pub base: ScanState,
    /// Target set.
    pub target: ScanState,
}

/// A field of the training form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainField {
    /// Objective.
    Objective,
    /// Epochs.
    Epochs,
    /// Batch size.
    BatchSize,
    /// Learning rate.
    Lr,
    /// Image size.
    ImageSize,
    /// Margin.
    Margin,
    /// Scale.
    Scale,
    /// λ.
    Lambda,
    /// Seed.
    Seed,
    /// Images per class.
    Limit,
    /// Device.
    Device,
}

impl TrainField {
    /// Form order.
    pub const ALL: [TrainField; 11] = [
        TrainField::Objective,
        TrainField::Epochs,
        TrainField::BatchSize,
        TrainField::Lr,
        TrainField::ImageSize,
        TrainField::Margin,
        TrainField::Scale,
        TrainField::Lambda,
        TrainField::Seed,
        TrainField::Limit,
        TrainField::Device,
    ];

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            TrainField::Objective => "objective",
            TrainField::Epochs => "epochs",
            TrainField::BatchSize => "batch size",
            TrainField::Lr => "learning rate",
            TrainField::ImageSize => "image size",
            TrainField::Margin => "margin (rad)",
            TrainField::Scale => "scale",
            TrainField::Lambda => "λ consistency",
            TrainField::Seed => "seed",
            TrainField::Limit => "images/class",
            TrainField::Device => "device",
        }
    }
}

const LRS: [f64; 7] = [1e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 1e-2];
const SIZES: [u32; 7] = [32, 48, 64, 96, 128, 160, 224];
const SCALES: [f64; 6] = [8.0, 16.0, 30.0, 32.0, 48.0, 64.0];
const LIMITS: [Option<usize>; 8] = [
    None,
    Some(4),
    Some(8),
    Some(16),
    Some(32),
    Some(64),
    Some(128),
    Some(256),
];
const KS: [usize; 10] = [1, 2, 3, 5, 10, 15, 20, 30, 50, 100];
const DRAWS: [usize; 6] = [10, 20, 50, 100, 200, 500];
/// k values of the console's sweep.
pub const SWEEP_KS: [usize; 6] = [1, 2, 3, 5, 10, 20];

fn step_in<T: PartialEq + Copy>(list: &[T], cur: T, up: bool) -> T {
    let i = list.iter().position(|v| *v == cur).unwrap_or(0);
    let j = if up {
        (i + 1).min(list.len() - 1)
    } else {
        i.saturating_sub(1)
    };
    list[j]
}

fn step_f64(list: &[f64], cur: f64, up: bool) -> f64 {
    let i = list
        .iter()
        .position(|v| (*v - cur).abs() < 1e-12)
        .unwrap_or_else(|| list.iter().position(|v| *v > cur).unwrap_or(list.len() - 1));
    let j = if up {
        (i + 1).min(list.len() - 1)
    } else {
        i.saturating_sub(1)
    };
    list[j]
}

/// Live training state, built only from engine events.
#[derive(Debug, Clone, Default)]
pub struct TrainView {
    /// Run id.
    pub run_id: Option<String>,
    /// Device in use.
    pub device: String,
    /// Base classes.
    pub classes: Vec<String>,
    /// Train/val/test sizes.
    pub split_sizes: [usize; 3],
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// First and last epoch of this session.
    pub epochs: (usize, usize),
    /// Current epoch and step.
    pub at: (usize, usize),
    /// Loss per step.
    pub loss: Vec<f64>,
    /// Metric loss per step.
    pub metric_loss: Vec<f64>,
    /// Consistency loss per step.
    pub consistency: Vec<f64>,
    /// Batch accuracy per step.
    pub accuracy: Vec<f64>,
    /// Seconds of each step.
    pub step_seconds: Vec<f64>,
    /// Last images/s.
    pub images_per_sec: f64,
    /// Epoch summaries.
    pub epoch_table: Vec<EpochSummary>,
    /// Checkpoints written: (epoch, folder).
    pub checkpoints: Vec<(usize, PathBuf)>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Base test accuracy and macro F1.
    pub base_test: Option<(f64, f64)>,
    /// Last GPU reading (NVML), or why there is none; `None` on the CPU.
    pub gpu: Option<Result<super::gpu::GpuStats, String>>,
    /// Phase.
    pub phase: TrainPhase,
}

/// Phase of the training view.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum TrainPhase {
    /// No run in this session.
    #[default]
    Idle,
    /// Run asked for, nothing heard yet.
    Starting,
    /// First step: cache build / kernel compilation.
    WarmingUp(String),
    /// Steps running.
    Running,
    /// Validation after an epoch.
    Validating(usize),
    /// Ended (normally, or stopped by request).
    Finished {
        /// Last complete epoch.
        last_epoch: usize,
        /// Stopped early.
        stopped: bool,
    },
    /// Failed.
    Failed(String),
}

impl TrainView {
    /// True while a run is in progress.
    pub fn active(&self) -> bool {
        matches!(
            self.phase,
            TrainPhase::Starting
                | TrainPhase::WarmingUp(_)
                | TrainPhase::Running
                | TrainPhase::Validating(_)
        )
    }

    /// Seconds left, from the mean step time after the first (warm-up) step.
    pub fn eta_seconds(&self) -> Option<f64> {
        if self.step_seconds.len() < 3 || self.steps_per_epoch == 0 {
            return None;
        }
        let recent = &self.step_seconds[1..];
        let mean = recent.iter().sum::<f64>() / recent.len() as f64;
        let (epoch, step) = self.at;
        let left_this = self.steps_per_epoch.saturating_sub(step);
        let left_epochs = self.epochs.1.saturating_sub(epoch);
        Some(mean * (left_this + left_epochs * self.steps_per_epoch) as f64)
    }

    fn apply(&mut self, ev: TrainEvent) {
        match ev {
            TrainEvent::Started {
                run_id,
                device,
                classes,
                split_sizes,
                steps_per_epoch,
                first_epoch,
                epochs,
                ..
            } => {
                *self = TrainView {
                    run_id: Some(run_id),
                    device,
                    classes,
                    split_sizes,
                    steps_per_epoch,
                    epochs: (first_epoch, epochs),
                    at: (first_epoch, 0),
                    phase: TrainPhase::Starting,
                    ..Default::default()
                }
            }
            TrainEvent::WarmingUp { what } => self.phase = TrainPhase::WarmingUp(what),
            TrainEvent::Step {
                epoch,
                step,
                loss,
                metric_loss,
                consistency_loss,
                accuracy,
                images_per_sec,
                seconds,
                ..
            } => {
                self.phase = TrainPhase::Running;
                self.at = (epoch, step);
                self.loss.push(loss);
                self.metric_loss.push(metric_loss);
                self.consistency.push(consistency_loss);
                self.accuracy.push(accuracy);
                self.step_seconds.push(seconds);
                self.images_per_sec = images_per_sec;
            }
            TrainEvent::Validating { epoch } => self.phase = TrainPhase::Validating(epoch),
            TrainEvent::Epoch(e) => {
                self.phase = TrainPhase::Running;
                self.epoch_table.push(e)
            }
            TrainEvent::Checkpoint { epoch, path } => self.checkpoints.push((epoch, path)),
            TrainEvent::Warning(w) => self.warnings.push(w),
            TrainEvent::BaseTest { accuracy, macro_f1 } => {
                self.base_test = Some((accuracy, macro_f1))
            }
            TrainEvent::Finished {
                last_epoch,
                stopped_early,
                ..
            } => {
                self.phase = TrainPhase::Finished {
                    last_epoch,
                    stopped: stopped_early,
                }
            }
            TrainEvent::Failed { message } => self.phase = TrainPhase::Failed(message),
        }
    }
}

/// A run in the Runs tab (read from its folder).
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    /// Folder.
    pub path: PathBuf,
    /// Id.
    pub id: String,
    /// Objective.
    pub objective: Objective,
    /// Last complete epoch / configured epochs.
    pub epochs: (usize, usize),
    /// Best validation accuracy.
    pub best_val: Option<f64>,
    /// Last k-shot result: (k, protocol and normalisation when not `none`, accuracy mean, std).
    pub kshot: Option<(usize, String, f64, f64)>,
    /// State.
    pub state: RunState,
    /// `Running` on disk but its process is gone (killed): resumable.
    pub interrupted: bool,
    /// Checkpoints available.
    pub checkpoints: Vec<usize>,
}

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
}

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
}

impl KShotField {
    /// Form order.
    pub const ALL: [KShotField; 8] = [
        KShotField::Run,
        KShotField::Checkpoint,
        KShotField::K,
        KShotField::Draws,
        KShotField::Protocol,
        KShotField::BySubject,
        KShotField::Seed,
        KShotField::Normalize,
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
    /// Embedded sets.
    pub prep: Arc<Prepared>,
    /// Target dataset (paths for thumbnails).
    pub dataset: Arc<bloodshot::data::Dataset>,
    /// PCA basis of the queries.
    pub pca_basis: Arc<bloodshot::fewshot::pca::Pca>,
    /// The bank (fixed by k, draws, seed), shared with background work without copies.
    pub bank: Arc<[Draw]>,
    /// Metrics of draws evaluated so far under every normalisation (indexed like
    /// [`Normalization::ALL`]), in draw order: the same draws, so comparisons are paired.
    pub done_by_mode: Vec<Vec<DrawMetrics>>,
    /// Summary of each mode's draws (indexed like [`Normalization::ALL`]).
    pub summary_by_mode: Vec<Option<KShotSummary>>,
    /// Metrics of draws evaluated so far under the selected normalisation, in order.
    pub done: Vec<DrawMetrics>,
    /// Summary of `done`.
    pub summary: Option<KShotSummary>,
    /// Normalisation the thumbnails' misclassifications were computed with.
    pub thumbs_mode: Normalization,
    /// Thumbnails of the current support set per class, and of misclassified queries.
    pub support_thumbs: Vec<Vec<Thumb>>,
    /// Misclassified queries of the current draw: (true, predicted, thumb).
    pub miss_thumbs: Vec<(usize, usize, Thumb)>,
    /// PCA of (a sample of) the queries, with the current prototypes.
    pub pca: PcaView,
    /// Sweep result.
    pub sweep: Vec<SweepPoint>,
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
}

impl KShotState {
    /// Shows the session's draws under the selected normalisation (no recomputation: every
    /// mode was scored on the same draws).
    pub fn show_mode(&mut self) {
        let mode = self.opts.0.normalize;
        if let Some(s) = self.session.as_mut() {
            s.done = s
                .done_by_mode
                .get(mode.index())
                .cloned()
                .unwrap_or_default();
            s.summary = s.summary_by_mode.get(mode.index()).cloned().flatten();
            // A sweep was computed under another mode: drop it rather than mislabel it.
            s.sweep.clear();
        }
        self.message = Some(format!(
            "normalisation {}: same draws, rescored{}",
            mode.as_str(),
            if mode.transductive() {
                " (transductive: uses the unlabelled target)"
            } else {
                ""
            }
        ));
    }
}

/// The k-shot options as the form edits them.
#[derive(Debug, Clone, PartialEq)]
pub struct KShotOptionsView(pub KShotOptions);

impl Default for KShotOptionsView {
    fn default() -> Self {
        KShotOptionsView(KShotOptions {
            draws: 50,
            ..Default::default()
        })
    }
}

/// Work to start outside the state update.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Scan both datasets.
    Scan,
    /// Train a new run.
    Train(Box<TrainConfig>),
    /// Resume a run.
    Resume(RunDir),
    /// Import a checkpoint file as a run.
    Import(PathBuf),
    /// Write a run's weights as safetensors.
    ExportWeights(PathBuf),
    /// Reload the runs list.
    LoadRuns,
    /// Load a checkpoint and embed the target.
    Prepare {
        /// Run.
        run: RunDir,
        /// Checkpoint (None = last).
        epoch: Option<usize>,
        /// Options.
        opts: KShotOptions,
        /// Device to embed on.
        device: DeviceSpec,
    },
    /// Evaluate draws `from..to` of the session's bank.
    Evaluate {
        /// First draw.
        from: usize,
        /// End (exclusive).
        to: usize,
    },
    /// Run a sweep.
    Sweep,
    /// Export these runs.
    Export(Vec<PathBuf>),
    /// Save the session's results (bank summary and sweep) in the run, like `bloodshot kshot`.
    SaveKShot,
}

/// The whole console state.
#[derive(Debug, Clone)]
pub struct App {
    /// Current tab.
    pub tab: Tab,
    /// Help overlay shown.
    pub help: bool,
    /// Quit-while-training dialog shown.
    pub quit_dialog: bool,
    /// Leave the loop.
    pub should_quit: bool,
    /// Theme index in the built-ins.
    pub theme_index: usize,
    /// Theme in use.
    pub theme: Theme,
    /// User theme overrides, re-applied when cycling.
    pub user_theme: Option<String>,
    /// Base folder.
    pub base: PathBuf,
    /// Target folder.
    pub target: PathBuf,
    /// Runs folder.
    pub runs_dir: PathBuf,
    /// Data tab.
    pub data: DataState,
    /// Training form.
    pub form: TrainConfig,
    /// Selected form field.
    pub form_field: usize,
    /// Live training view.
    pub train: TrainView,
    /// Stop signal of the running training.
    pub stop: Option<StopSignal>,
    /// Keeps the GPU poller going while a GPU run trains.
    pub gpu_poll: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// K-shot tab.
    pub kshot: KShotState,
    /// Runs tab.
    pub runs: RunsState,
    /// Last status message.
    pub status: Option<String>,
}

impl App {
    /// A fresh console state.
    pub fn new(
        base: PathBuf,
        target: PathBuf,
        runs_dir: PathBuf,
        device: DeviceSpec,
        theme: Theme,
        theme_index: usize,
    ) -> Self {
        let form = TrainConfig {
            base: base.clone(),
            device,
            epochs: 6,
            ..Default::default()
        };
        App {
            tab: Tab::Data,
            help: false,
            quit_dialog: false,
            should_quit: false,
            theme_index,
            theme,
            user_theme: None,
            base,
            target,
            runs_dir,
            data: DataState::default(),
            form,
            form_field: 0,
            train: TrainView::default(),
            stop: None,
            gpu_poll: None,
            kshot: KShotState::default(),
            runs: RunsState::default(),
            status: None,
        }
    }

    /// The run selected on the K-shot tab.
    pub fn kshot_run(&self) -> Option<&RunRow> {
        self.runs.rows.get(self.kshot.run)
    }

    /// Applies an action; returns the background work it asks for.
    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        if self.quit_dialog {
            match action {
                Action::StopAfterEpoch | Action::StopNow => {
                    if let Some(s) = &self.stop {
                        // "Stop now" still saves the current state: it costs a second.
                        s.request(if action == Action::StopNow {
                            StopMode::Checkpoint
                        } else {
                            StopMode::AfterEpoch
                        });
                    }
                    self.quit_dialog = false;
                    self.should_quit = true;
                }
                Action::Cancel => self.quit_dialog = false,
                _ => {}
            }
            return vec![];
        }
        match action {
            Action::Quit => {
                if self.train.active() {
                    self.quit_dialog = true;
                } else {
                    self.should_quit = true;
                }
            }
            Action::ToggleHelp => self.help = !self.help,
            Action::NextTab => self.tab = Tab::ALL[(self.tab.index() + 1) % 4],
            Action::PrevTab => self.tab = Tab::ALL[(self.tab.index() + 3) % 4],
            Action::GoData => self.tab = Tab::Data,
            Action::GoTrain => self.tab = Tab::Train,
            Action::GoKShot => self.tab = Tab::KShot,
            Action::GoRuns => self.tab = Tab::Runs,
            Action::CycleTheme => {
                self.theme_index = (self.theme_index + 1) % super::theme::BUILT_IN.len();
                let t = Theme::built_in(self.theme_index);
                self.theme = match &self.user_theme {
                    Some(u) => t.clone().overlay(u, "user theme").unwrap_or(t),
                    None => t,
                };
                self.status = Some(format!("theme: {}", self.theme.name));
            }
            Action::Up | Action::Down => self.move_selection(action == Action::Down),
            Action::Left | Action::Right => self.adjust(action == Action::Right),
            Action::Rescan => {
                if self.tab == Tab::Runs {
                    return vec![Effect::LoadRuns];
                }
                self.data = DataState::default();
                return vec![Effect::Scan];
            }
            Action::Start => {
                if self.train.active() {
                    self.status = Some("a run is already training; stop it first (x)".into());
                    return vec![];
                }
                let mut cfg = self.form.clone();
                cfg.base = self.base.clone();
                if let Err(e) = cfg.validate() {
                    self.status = Some(e);
                    return vec![];
                }
                self.train = TrainView {
                    phase: TrainPhase::Starting,
                    ..Default::default()
                };
                return vec![Effect::Train(Box::new(cfg))];
            }
            Action::Stop => {
                if let (Some(s), true) = (&self.stop, self.train.active()) {
                    s.request(StopMode::AfterEpoch);
                    self.status = Some("stopping after this epoch (checkpoint kept)".into());
                }
            }
            Action::Prepare => {
                let Some(row) = self.kshot_run() else {
                    self.kshot.message = Some("no run yet: train one on the Train tab".into());
                    return vec![];
                };
                if row.checkpoints.is_empty() {
                    self.kshot.message = Some(format!("run {} has no checkpoint yet", row.id));
                    return vec![];
                }
                let run = RunDir {
                    path: row.path.clone(),
                };
                self.kshot.session = None;
                self.kshot.preparing = Some((0, 0));
                self.kshot.message = None;
                return vec![Effect::Prepare {
                    run,
                    epoch: self.kshot.checkpoint,
                    opts: self.kshot.opts.0.clone(),
                    device: self.form.device,
                }];
            }
            Action::Draw | Action::DrawAll => {
                let Some(s) = &self.kshot.session else {
                    self.kshot.message =
                        Some("press p first: load the checkpoint and embed the target".into());
                    return vec![];
                };
                let from = s.done.len();
                if from >= s.bank.len() {
                    self.kshot.message = Some(format!(
                        "all {} draws of the bank done; change k, draws or seed and press p",
                        s.bank.len()
                    ));
                    return vec![];
                }
                let to = if action == Action::DrawAll {
                    s.bank.len()
                } else {
                    from + 1
                };
                return vec![Effect::Evaluate { from, to }];
            }
            Action::NextNormalization => {
                let o = &mut self.kshot.opts.0;
                let next = (o.normalize.index() + 1) % Normalization::ALL.len();
                o.normalize = Normalization::ALL[next];
                self.kshot.show_mode();
            }
            Action::Sweep => {
                if self.kshot.session.is_none() {
                    self.kshot.message = Some("press p first".into());
                    return vec![];
                }
                self.kshot.sweeping = true;
                return vec![Effect::Sweep];
            }
            Action::Mark => {
                if let Some(r) = self.runs.rows.get(self.runs.selected) {
                    let id = r.id.clone();
                    if let Some(i) = self.runs.marked.iter().position(|m| *m == id) {
                        self.runs.marked.remove(i);
                    } else {
                        self.runs.marked.push(id);
                    }
                }
            }
            Action::Export => {
                let paths: Vec<PathBuf> = if self.runs.marked.is_empty() {
                    self.runs
                        .rows
                        .get(self.runs.selected)
                        .map(|r| r.path.clone())
                        .into_iter()
                        .collect()
                } else {
                    self.runs
                        .rows
                        .iter()
                        .filter(|r| self.runs.marked.contains(&r.id))
                        .map(|r| r.path.clone())
                        .collect()
                };
                if paths.is_empty() {
                    self.status = Some("no run to export".into());
                    return vec![];
                }
                return vec![Effect::Export(paths)];
            }
            Action::Resume => {
                if self.train.active() {
                    self.status = Some("a run is already training".into());
                    return vec![];
                }
                if let Some(r) = self.runs.rows.get(self.runs.selected) {
                    if r.state == RunState::Finished {
                        self.status = Some(format!("run {} is finished; nothing to resume", r.id));
                        return vec![];
                    }
                    if r.state == RunState::Running && !r.interrupted {
                        self.status =
                            Some(format!("run {} is being trained by another process", r.id));
                        return vec![];
                    }
                    self.train = TrainView {
                        phase: TrainPhase::Starting,
                        ..Default::default()
                    };
                    self.tab = Tab::Train;
                    return vec![Effect::Resume(RunDir {
                        path: r.path.clone(),
                    })];
                }
            }
            Action::Import => {
                self.runs.prompt = Some(String::new());
            }
            Action::ExportWeights => {
                let Some(r) = self.runs.rows.get(self.runs.selected) else {
                    self.status = Some("no run to export".into());
                    return vec![];
                };
                if r.checkpoints.is_empty() {
                    self.status = Some(format!("run {} has no checkpoint yet", r.id));
                    return vec![];
                }
                return vec![Effect::ExportWeights(r.path.clone())];
            }
            Action::StopAfterEpoch | Action::StopNow | Action::Cancel => {}
        }
        vec![]
    }

    /// A key while the import prompt is open: edit the path, Enter imports, Esc cancels.
    pub fn on_prompt_key(&mut self, code: crossterm::event::KeyCode) -> Vec<Effect> {
        use crossterm::event::KeyCode;
        let Some(text) = self.runs.prompt.as_mut() else {
            return vec![];
        };
        match code {
            KeyCode::Char(c) => text.push(c),
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Esc => self.runs.prompt = None,
            KeyCode::Enter => {
                let path = text.trim().to_string();
                self.runs.prompt = None;
                if path.is_empty() {
                    return vec![];
                }
                let path = match path.strip_prefix("~/") {
                    Some(rest) => directories::BaseDirs::new()
                        .map_or_else(|| PathBuf::from(&path), |d| d.home_dir().join(rest)),
                    None => PathBuf::from(path),
                };
                self.status = Some(format!("importing {}…", path.display()));
                return vec![Effect::Import(path)];
            }
            _ => {}
        }
        vec![]
    }

    fn move_selection(&mut self, down: bool) {
        let step = |i: usize, n: usize| {
            if down {
                (i + 1).min(n.saturating_sub(1))
            } else {
                i.saturating_sub(1)
            }
        };
        match self.tab {
            Tab::Train => self.form_field = step(self.form_field, TrainField::ALL.len()),
            Tab::KShot => self.kshot.field = step(self.kshot.field, KShotField::ALL.len()),
            Tab::Runs => self.runs.selected = step(self.runs.selected, self.runs.rows.len()),
            Tab::Data => {}
        }
    }

    fn adjust(&mut self, up: bool) {
        match self.tab {
            Tab::Train => {
                if self.train.active() {
                    return;
                }
                let f = &mut self.form;
                match TrainField::ALL[self.form_field] {
                    TrainField::Objective => {
                        let i = Objective::ALL
                            .iter()
                            .position(|o| *o == f.objective)
                            .unwrap_or(0);
                        f.objective = Objective::ALL[if up { (i + 1) % 3 } else { (i + 2) % 3 }];
                    }
                    TrainField::Epochs => {
                        f.epochs = if up {
                            f.epochs + 1
                        } else {
                            f.epochs.saturating_sub(1).max(1)
                        }
                    }
                    TrainField::BatchSize => {
                        f.batch_size = if up {
                            (f.batch_size * 2).min(512)
                        } else {
                            (f.batch_size / 2).max(2)
                        }
                    }
                    TrainField::Lr => f.lr = step_f64(&LRS, f.lr, up),
                    TrainField::ImageSize => f.image_size = step_in(&SIZES, f.image_size, up),
                    TrainField::Margin => {
                        f.aam.margin =
                            ((f.aam.margin + if up { 0.05 } else { -0.05 }).clamp(0.0, 1.5) * 100.0)
                                .round()
                                / 100.0
                    }
                    TrainField::Scale => f.aam.scale = step_f64(&SCALES, f.aam.scale, up),
                    TrainField::Lambda => {
                        f.lambda = ((f.lambda + if up { 0.25 } else { -0.25 }).max(0.0) * 100.0)
                            .round()
                            / 100.0
                    }
                    TrainField::Seed => {
                        f.seed = if up {
                            f.seed + 1
                        } else {
                            f.seed.saturating_sub(1)
                        }
                    }
                    TrainField::Limit => {
                        f.limit_per_class = step_in(&LIMITS, f.limit_per_class, up)
                    }
                    TrainField::Device => {
                        use bloodshot::device::Adapter;
                        let devices = [
                            DeviceSpec::Cpu,
                            DeviceSpec::Cuda(0),
                            DeviceSpec::Vulkan(Adapter::Best),
                            DeviceSpec::Wgpu(Adapter::Best),
                            DeviceSpec::Wgpu(Adapter::Cpu),
                        ];
                        f.device = step_in(&devices, f.device, up);
                    }
                }
            }
            Tab::KShot => {
                let changed_session = true;
                let o = &mut self.kshot.opts.0;
                match KShotField::ALL[self.kshot.field] {
                    KShotField::Run => {
                        let n = self.runs.rows.len().max(1);
                        self.kshot.run = if up {
                            (self.kshot.run + 1) % n
                        } else {
                            (self.kshot.run + n - 1) % n
                        };
                        self.kshot.checkpoint = None;
                    }
                    KShotField::Checkpoint => {
                        let cps = self
                            .runs
                            .rows
                            .get(self.kshot.run)
                            .map(|r| r.checkpoints.clone())
                            .unwrap_or_default();
                        if !cps.is_empty() {
                            let cur = self.kshot.checkpoint.unwrap_or(*cps.last().unwrap_or(&0));
                            self.kshot.checkpoint = Some(step_in(&cps, cur, up));
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
                    KShotField::Normalize => {
                        o.normalize = step_in(&Normalization::ALL, o.normalize, up);
                        // Same bank, same embeddings: only the view changes.
                        self.kshot.show_mode();
                        return;
                    }
                }
                if changed_session && self.kshot.session.is_some() {
                    self.kshot.session = None;
                    self.kshot.message =
                        Some("settings changed: press p to prepare a new bank".into());
                }
            }
            Tab::Runs | Tab::Data => {}
        }
    }

    /// Applies a training event from the background run.
    pub fn on_train_event(&mut self, ev: TrainEvent) -> Vec<Effect> {
        let ended = matches!(
            ev,
            TrainEvent::Finished { .. } | TrainEvent::Failed { .. } | TrainEvent::Checkpoint { .. }
        );
        if let TrainEvent::Failed { message } = &ev {
            self.status = Some(format!("training failed: {message}"));
            // A GPU that is missing or not compiled in: offer the CPU.
            if message.contains("device `") && self.form.device != DeviceSpec::Cpu {
                self.form.device = DeviceSpec::Cpu;
                self.status = Some(format!(
                    "{message} — the form now says cpu: press s to train there"
                ));
            }
        }
        let gpu = self.train.gpu.take();
        self.train.apply(ev);
        // `Started` resets the view; keep the GPU reading across it.
        if self.train.gpu.is_none() {
            self.train.gpu = gpu;
        }
        if !self.train.active() {
            self.stop = None;
            if let Some(flag) = self.gpu_poll.take() {
                flag.store(false, std::sync::atomic::Ordering::SeqCst);
            }
        }
        if ended {
            vec![Effect::LoadRuns]
        } else {
            vec![]
        }
    }
}

/// Quick form defaults for the console on small CPUs: tiny settings when the base set is the
/// bundled sample, the seed's settings otherwise.
pub fn sample_friendly(form: &mut TrainConfig, is_sample: bool) {
    if is_sample {
        form.image_size = 64;
        form.batch_size = 16;
        form.epochs = 2;
        form.limit_per_class = Some(16);
        form.aam = AamParams {
            margin: 0.2,
            scale: 16.0,
        };
    }
}

impl App {
    /// Applies a background event; returns follow-up work.
    pub fn on_event(&mut self, ev: super::event::AppEvent) -> Vec<Effect> {
        use super::event::AppEvent as E;
        match ev {
            E::Input(_) => {}
            E::ScanProgress(w, phase, d, n) => *self.scan_slot(w) = ScanState::Running(phase, d, n),
            E::Scanned(w, r) => {
                *self.scan_slot(w) = match r {
                    Ok((stats, thumbs)) => ScanState::Done(stats, thumbs),
                    Err(e) => ScanState::Failed(e),
                }
            }
            E::Train(ev) => return self.on_train_event(ev),
            E::Runs(rows) => {
                self.runs.selected = self.runs.selected.min(rows.len().saturating_sub(1));
                self.kshot.run = self.kshot.run.min(rows.len().saturating_sub(1));
                // Follow the newest run when it appears.
                if rows.len() > self.runs.rows.len() && !self.runs.rows.is_empty() {
                    self.kshot.run = rows.len() - 1;
                }
                self.runs.rows = rows;
            }
            E::PrepareProgress(d, n) => self.kshot.preparing = Some((d, n)),
            E::PrepareWarning(w) => self.kshot.message = Some(w),
            E::Prepared(r) => {
                self.kshot.preparing = None;
                match r {
                    Err(e) => self.kshot.message = Some(e),
                    Ok(p) => {
                        let opts = self.kshot.opts.0.clone();
                        let bank = Arc::clone(&p.bank);
                        self.kshot.message = Some(format!(
                            "ready: bank of {} draws at k = {} (seed {})",
                            bank.len(),
                            opts.k,
                            opts.seed
                        ));
                        self.kshot.session = Some(KShotSession {
                            epoch: p.epoch,
                            prep: p.prep,
                            dataset: p.dataset,
                            pca_basis: p.pca,
                            bank,
                            done_by_mode: vec![vec![]; Normalization::ALL.len()],
                            summary_by_mode: vec![None; Normalization::ALL.len()],
                            done: vec![],
                            summary: None,
                            thumbs_mode: opts.normalize,
                            support_thumbs: vec![],
                            miss_thumbs: vec![],
                            pca: PcaView {
                                points: p.points,
                                prototypes: vec![],
                            },
                            sweep: vec![],
                        });
                    }
                }
            }
            E::Evaluated(r) => match (r, self.kshot.session.as_mut()) {
                (Ok(ev), Some(s)) => {
                    for ((done, summary), metrics) in s
                        .done_by_mode
                        .iter_mut()
                        .zip(s.summary_by_mode.iter_mut())
                        .zip(ev.by_mode)
                    {
                        done.extend(metrics);
                        *summary = KShotSummary::from_draws(done);
                    }
                    let mode = self.kshot.opts.0.normalize.index();
                    s.done = s.done_by_mode[mode].clone();
                    s.summary = s.summary_by_mode[mode].clone();
                    s.thumbs_mode = ev.thumbs_mode;
                    s.support_thumbs = ev.support_thumbs;
                    s.miss_thumbs = ev.miss_thumbs;
                    s.pca.prototypes = ev.prototypes;
                    if s.done.len() == s.bank.len() {
                        return vec![Effect::SaveKShot];
                    }
                }
                (Err(e), _) => self.kshot.message = Some(e),
                _ => {}
            },
            E::Swept(r) => {
                self.kshot.sweeping = false;
                match (r, self.kshot.session.as_mut()) {
                    (Ok(points), Some(s)) => {
                        s.sweep = points;
                        return vec![Effect::SaveKShot];
                    }
                    (Err(e), _) => self.kshot.message = Some(e),
                    _ => {}
                }
            }
            E::Gpu(r) => self.train.gpu = Some(r),
            E::Interop(r) => {
                self.status = Some(match &r {
                    Ok(m) => m.clone(),
                    Err(e) => format!("failed: {e}"),
                });
                self.runs.last_interop = Some(r);
                self.runs.last_export = None;
            }
            E::Exported(r) => {
                self.status = Some(match &r {
                    Ok(p) => format!("exported {} report(s)", p.len()),
                    Err(e) => format!("export failed: {e}"),
                });
                self.runs.last_export = Some(r);
                self.runs.last_interop = None;
            }
        }
        vec![]
    }

    fn scan_slot(&mut self, w: Which) -> &mut ScanState {
        match w {
            Which::Base => &mut self.data.base,
            Which::Target => &mut self.data.target,
        }
    }
}
