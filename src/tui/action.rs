//! What input asks for ([`Action`]), which tab is shown ([`Tab`]), and the background work an
//! update asks for ([`Effect`]). Plain data: the update logic lives in `app.rs` and `state/`.

use std::path::PathBuf;

use std::sync::Arc;

use bloodshot::device::DeviceSpec;
use bloodshot::fewshot::evaluate::KShotOptions;
use bloodshot::runs::{RunDir, TrainConfig};
use bloodshot::sweep::{Control, SweepSpec};

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
    /// Sweeps: jobs, progress, start / pause / cancel.
    Sweeps,
}

impl Tab {
    /// All tabs in display order.
    pub const ALL: [Tab; 5] = [Tab::Data, Tab::Train, Tab::KShot, Tab::Runs, Tab::Sweeps];

    /// Title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Data => "Data",
            Tab::Train => "Train",
            Tab::KShot => "K-shot",
            Tab::Runs => "Runs",
            Tab::Sweeps => "Sweeps",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The tab to the right (wrapping).
    pub fn next(self) -> Tab {
        Tab::ALL[(self.index() + 1) % Tab::ALL.len()]
    }

    /// The tab to the left (wrapping).
    pub fn prev(self) -> Tab {
        Tab::ALL[(self.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
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
    /// Sweeps tab.
    GoSweeps,
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
    /// Next classifier of the k-shot view.
    NextMethod,
    /// The other test-time augmentation of the k-shot view.
    NextTta,
    /// Previous item: thumbnail of the k-shot strip, or sweep.
    PrevItem,
    /// Next item: thumbnail of the k-shot strip, or sweep.
    NextItem,
    /// Enlarge the selected thumbnail (or close the enlarged view).
    Zoom,
    /// Logarithmic / linear loss axis on the Train tab.
    ToggleLogY,
    /// More smoothing of the Train tab's loss curves.
    Smoother,
    /// Less smoothing of the Train tab's loss curves.
    Rougher,
    /// Score on the target folder the selected run's saved k-shot results used.
    UseSavedTarget,
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
    /// Follow the selected run (or the selected sweep's training job) live on the Train tab.
    Watch,
    /// Create a sweep from the forms and run it.
    NewSweep,
    /// Run (resume) the selected sweep.
    RunSweep,
    /// Start no new job of the running sweep.
    PauseSweep,
    /// Stop the running sweep (trainings save their state).
    CancelSweep,
    /// Overlay runs on the Train tab: the marked runs (Runs tab), a sweep's jobs (Sweeps
    /// tab); on the Train tab, show or hide the overlay.
    Overlay,
    /// Pin (or unpin) a run as the baseline drawn on the Train tab's charts.
    Baseline,
    /// The overlay's next curve.
    NextMetric,
    /// The overlay's runs as seed groups (mean ± sd band) or one line each.
    SeedBands,
    /// Sweeps tab: the explorer (results table and parallel coordinates) or the jobs.
    Explore,
    /// Explorer: reverse the sort order.
    ReverseSort,
    /// Explorer: open the filter prompt.
    Filter,
    /// Runs tab: Table 1 from its next group (PgDn).
    NextGroup,
    /// Runs tab: Table 1 from its previous group (PgUp).
    PrevGroup,
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
    pub const ALL: [Action; 53] = [
        Action::Quit,
        Action::ToggleHelp,
        Action::NextTab,
        Action::PrevTab,
        Action::GoData,
        Action::GoTrain,
        Action::GoKShot,
        Action::GoRuns,
        Action::GoSweeps,
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
        Action::NextMethod,
        Action::NextTta,
        Action::PrevItem,
        Action::NextItem,
        Action::Zoom,
        Action::ToggleLogY,
        Action::Smoother,
        Action::Rougher,
        Action::UseSavedTarget,
        Action::Mark,
        Action::Export,
        Action::Resume,
        Action::Import,
        Action::ExportWeights,
        Action::Watch,
        Action::NewSweep,
        Action::RunSweep,
        Action::PauseSweep,
        Action::CancelSweep,
        Action::Overlay,
        Action::Baseline,
        Action::NextMetric,
        Action::SeedBands,
        Action::Explore,
        Action::ReverseSort,
        Action::Filter,
        Action::NextGroup,
        Action::PrevGroup,
        Action::StopAfterEpoch,
        Action::StopNow,
        Action::Cancel,
    ];
}

/// Work to start outside the state update.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Scan both datasets.
    Scan,
    /// Read the system history (`system.jsonl`) of the run in this folder.
    LoadSystem(std::path::PathBuf),
    /// List the devices this binary can use here (`bloodshot devices`).
    ScanDevices,
    /// Train a new run. The update made its stop signal and the flag that keeps the GPU
    /// poller going, and holds both.
    Train {
        /// The run's settings.
        config: Box<TrainConfig>,
        /// Stops the run.
        stop: bloodshot::train::StopSignal,
        /// Cleared when the run ends.
        gpu_poll: Arc<std::sync::atomic::AtomicBool>,
    },
    /// Resume a run (handles as for [`Effect::Train`]).
    Resume {
        /// The run.
        run: RunDir,
        /// Stops the run.
        stop: bloodshot::train::StopSignal,
        /// Cleared when the run ends.
        gpu_poll: Arc<std::sync::atomic::AtomicBool>,
    },
    /// Import a checkpoint file as a run.
    Import(PathBuf),
    /// Write a run's weights as safetensors.
    ExportWeights(PathBuf),
    /// Follow a run's files (trained by another process) on the Train tab, while `flag` (held
    /// by the update) is set.
    Watch {
        /// The run folder.
        path: PathBuf,
        /// Cleared to stop following.
        flag: Arc<std::sync::atomic::AtomicBool>,
    },
    /// Run a sweep in the background with this control.
    RunSweep {
        /// A new sweep, or the id of one to resume.
        sweep: SweepStart,
        /// Devices, one job each at a time.
        devices: Vec<DeviceSpec>,
        /// Pause and cancel.
        control: Arc<Control>,
    },
    /// Reload the sweeps list.
    LoadSweeps,
    /// Reload the runs list.
    LoadRuns,
    /// Reload the runs list when the runs folder's fingerprint differs from `unless` (the
    /// rows shown were read at that fingerprint).
    RefreshRuns {
        /// The fingerprint of the rows shown; `None` reloads.
        unless: Option<u64>,
    },
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
    /// Read these runs' curves for the overlay.
    LoadCurves(Vec<PathBuf>),
    /// Read the pinned baseline's curves.
    LoadBaseline(PathBuf),
    /// Read the explorer table of the sweep with this id.
    LoadExplorer(String),
    /// Save the session's results (bank summary and sweep) in the run, like `bloodshot kshot`.
    SaveKShot,
}

/// Which sweep to run.
#[derive(Debug, Clone)]
pub enum SweepStart {
    /// Create this one.
    New(Box<SweepSpec>),
    /// Resume the sweep with this id.
    Resume(String),
}
