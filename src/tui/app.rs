//! Console state and its one-way update: input → action → state change (+ effects to run in
//! the background) → redraw. Nothing here touches the terminal, the clock or the disk. Each
//! tab's state and the updates that belong to it live in [`super::state`]; this file holds
//! the [`App`] and sends actions and events to them.

use std::path::PathBuf;
use std::sync::Arc;

use bloodshot::device::DeviceSpec;
use bloodshot::runs::{RunDir, RunState, TrainConfig};
use bloodshot::train::{StopMode, TrainEvent};

use super::action::{Action, Effect, Tab};
use super::event::{AppEvent, RunRow};
use super::state::compare::{CompareState, Source};
use super::state::data::DataState;
use super::state::explorer::ExplorerState;
use super::state::kshot::{KShotField, KShotState};
use super::state::runs::RunsState;
use super::state::sweeps::{SweepField, SweepsState};
use super::state::train::{TrainField, TrainPhase, TrainTab, TrainView};
use super::theme::Theme;

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
    /// Train tab: the form, the run shown and the handles of a run trained or followed here.
    pub train: TrainTab,
    /// K-shot tab.
    pub kshot: KShotState,
    /// Runs tab.
    pub runs: RunsState,
    /// Sweeps tab.
    pub sweeps: SweepsState,
    /// Train tab overlays and the pinned baseline.
    pub compare: CompareState,
    /// Sweeps tab explorer.
    pub explorer: ExplorerState,
    /// Last status message.
    pub status: Option<String>,
    /// The devices the forms offer: what `bloodshot devices` lists here (the CPU until the
    /// scan at start answers).
    pub devices: Vec<DeviceSpec>,
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
            train: TrainTab::new(form),
            kshot: KShotState::default(),
            runs: RunsState::default(),
            sweeps: SweepsState::default(),
            compare: CompareState::default(),
            explorer: ExplorerState::default(),
            status: None,
            devices: vec![DeviceSpec::Cpu],
        }
    }

    /// The device scan answered: the forms offer these devices from now on. A Train-form
    /// device this machine lacks (from the config or `--device`) becomes the CPU, with a note.
    pub fn set_devices(&mut self, usable: Vec<DeviceSpec>) {
        let usable = if usable.is_empty() {
            vec![DeviceSpec::Cpu]
        } else {
            usable
        };
        if !usable.contains(&self.train.form.device) && !self.train.view.active() {
            self.status = Some(format!(
                "device `{}` is not on this machine (`bloodshot devices` lists what is): the form now says cpu",
                self.train.form.device
            ));
            self.train.form.device = DeviceSpec::Cpu;
        }
        self.sweeps.set_device_sets(&usable);
        self.devices = usable;
    }

    /// The run selected on the K-shot tab.
    pub fn kshot_run(&self) -> Option<&RunRow> {
        self.runs.rows.get(self.kshot.run)
    }

    /// The target folder the K-shot tab's run last saved a result on, when it is not the one
    /// this console scores on.
    pub fn other_saved_target(&self) -> Option<&std::path::Path> {
        self.kshot_run()?
            .kshot_target
            .as_deref()
            .filter(|t| *t != self.target)
    }

    /// `T` on the K-shot tab: score on the target the run's saved results used (the Data tab
    /// rescans; the checkpoint must be embedded again).
    fn use_saved_target(&mut self) -> Vec<Effect> {
        let Some(saved) = self.other_saved_target().map(std::path::Path::to_path_buf) else {
            self.kshot.message = Some(match self.kshot_run() {
                Some(r) if r.kshot_target.is_some() => {
                    "the run's saved results used this target already".into()
                }
                _ => "the selected run has no saved k-shot result".into(),
            });
            return vec![];
        };
        self.kshot.message = Some(format!(
            "scoring on {} now: press p to embed it",
            saved.display()
        ));
        self.target = saved;
        self.kshot.session = None;
        self.kshot.zoom = false;
        self.data = DataState::default();
        vec![Effect::Scan]
    }

    /// Applies an action; returns the background work it asks for. (Longer than 80 lines on
    /// purpose: one short arm per action, the whole key map readable in one place.)
    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        if self.quit_dialog {
            self.on_quit_dialog(action);
            return vec![];
        }
        match action {
            Action::Quit => {
                // A watched run trains elsewhere: quitting here does not touch it.
                if (self.train.view.active() && !self.train.view.watched) || self.sweeps.running() {
                    self.quit_dialog = true;
                } else {
                    self.should_quit = true;
                }
            }
            Action::ToggleHelp => self.help = !self.help,
            Action::NextTab => self.tab = self.tab.next(),
            Action::PrevTab => self.tab = self.tab.prev(),
            Action::GoData => self.tab = Tab::Data,
            Action::GoTrain => self.tab = Tab::Train,
            Action::GoKShot => self.tab = Tab::KShot,
            Action::GoRuns => self.tab = Tab::Runs,
            Action::GoSweeps => self.tab = Tab::Sweeps,
            Action::CycleTheme => self.cycle_theme(),
            Action::Up | Action::Down => self.move_selection(action == Action::Down),
            Action::Left | Action::Right => return self.adjust(action == Action::Right),
            Action::Rescan => return self.rescan(),
            Action::Start => return self.start_training(),
            Action::Stop => {
                if let Some(remark) = self.train.stop_after_epoch() {
                    self.status = Some(remark);
                }
            }
            Action::Prepare => {
                let row = self.runs.rows.get(self.kshot.run);
                return self.kshot.prepare(row, self.train.form.device);
            }
            Action::Draw | Action::DrawAll => {
                return self.kshot.next_draws(action == Action::DrawAll);
            }
            Action::NextNormalization => return self.kshot.next_normalization(),
            Action::NextMethod => return self.kshot.next_method(),
            Action::NextTta => return self.kshot.next_tta(),
            Action::PrevItem | Action::NextItem if self.tab == Tab::Sweeps => {
                self.sweeps.select(action == Action::NextItem);
                if self.explorer.shown
                    && let Some(r) = self.sweeps.selected_row()
                {
                    return vec![Effect::LoadExplorer(r.sweep.id.clone())];
                }
            }
            Action::PrevItem | Action::NextItem => {
                self.kshot.select_thumb(action == Action::NextItem)
            }
            Action::NewSweep => return self.new_sweep(),
            Action::RunSweep => return self.run_sweep(),
            Action::PauseSweep | Action::CancelSweep => {
                self.pause_or_cancel_sweep(action == Action::PauseSweep)
            }
            Action::Zoom => self.kshot.toggle_zoom(),
            Action::ToggleLogY => self.train.chart.log_y = !self.train.chart.log_y,
            Action::Smoother | Action::Rougher => {
                self.train.chart.step_smoothing(action == Action::Smoother)
            }
            Action::UseSavedTarget => return self.use_saved_target(),
            // Esc outside the quit dialog closes the enlarged cell.
            Action::Cancel => self.kshot.zoom = false,
            Action::Sweep => return self.kshot.start_sweep(),
            Action::Mark => self.runs.toggle_mark(),
            Action::NextGroup | Action::PrevGroup => {
                self.runs.step_group(action == Action::NextGroup)
            }
            Action::Export => return self.export(),
            Action::Resume => return self.resume_selected(),
            Action::Import => self.runs.prompt = Some(String::new()),
            Action::Watch if self.tab == Tab::Sweeps => return self.watch_sweep_job(),
            Action::Watch => return self.watch_selected(),
            Action::ExportWeights => return self.export_weights(),
            Action::Overlay => return self.overlay(),
            Action::Baseline => return self.pin_baseline(),
            Action::NextMetric => self.compare.metric = self.compare.metric.next(),
            Action::SeedBands => self.compare.seed_bands = !self.compare.seed_bands,
            Action::Explore => {
                let id = self.sweeps.selected_row().map(|r| r.sweep.id.clone());
                return self.explorer.toggle(id);
            }
            Action::ReverseSort => self.explorer.reverse(),
            Action::Filter if self.explorer.shown => self.explorer.open_prompt(),
            Action::Filter => {
                self.sweeps.message = Some("the filter belongs to the explorer: press e".into())
            }
            Action::StopAfterEpoch | Action::StopNow => {}
        }
        vec![]
    }

    /// A key in the "quit while training?" dialog.
    fn on_quit_dialog(&mut self, action: Action) {
        match action {
            Action::StopAfterEpoch | Action::StopNow => {
                if let Some(s) = &self.train.stop {
                    if let Some((_, c)) = &self.sweeps.owned {
                        c.cancel();
                    }
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
    }

    /// F5: reload the runs or sweeps, or rescan both datasets.
    fn rescan(&mut self) -> Vec<Effect> {
        match self.tab {
            Tab::Runs => vec![Effect::LoadRuns],
            Tab::Sweeps => vec![Effect::LoadSweeps],
            _ => {
                self.data = DataState::default();
                vec![Effect::Scan]
            }
        }
    }

    /// `p` / `x` on the Sweeps tab: pause or cancel the sweep this console runs.
    fn pause_or_cancel_sweep(&mut self, pause: bool) {
        self.sweeps.message = Some(match &self.sweeps.owned {
            None => "no sweep runs in this console".into(),
            Some((id, c)) if pause => {
                c.pause();
                format!("pausing {id}: running jobs finish, no new job starts")
            }
            Some((id, c)) => {
                c.cancel();
                format!("stopping {id}: running trainings save their state")
            }
        });
    }

    /// `e` on the Runs tab: the markdown reports of the marked (or selected) runs.
    fn export(&mut self) -> Vec<Effect> {
        let paths = self.runs.export_paths();
        if paths.is_empty() {
            self.status = Some("no run to export".into());
            return vec![];
        }
        vec![Effect::Export(paths)]
    }

    /// `W`: the selected run's weights as safetensors.
    fn export_weights(&mut self) -> Vec<Effect> {
        let Some(r) = self.runs.selected_row() else {
            self.status = Some("no run to export".into());
            return vec![];
        };
        if r.checkpoints.is_empty() {
            self.status = Some(format!("run {} has no checkpoint yet", r.id));
            return vec![];
        }
        vec![Effect::ExportWeights(r.path.clone())]
    }

    /// True while a text prompt (import path, explorer filter) takes the keys.
    pub fn prompt_open(&self) -> bool {
        self.runs.prompt.is_some() || self.explorer.prompt.is_some()
    }

    /// `o`: overlays the marked runs (Runs tab) or the selected sweep's jobs (Sweeps tab) on
    /// the Train tab; on the Train tab, hides or shows the overlay.
    fn overlay(&mut self) -> Vec<Effect> {
        let (source, paths) = match self.tab {
            Tab::Runs => (Source::Marked, self.runs.export_paths()),
            Tab::Sweeps => match self.sweeps.selected_row() {
                Some(r) => (
                    Source::Sweep(r.sweep.id.clone()),
                    r.sweep
                        .jobs
                        .iter()
                        .map(|j| self.runs_dir.join(&j.run_id))
                        .collect(),
                ),
                None => (Source::Marked, vec![]),
            },
            _ => {
                return self.compare.toggle().unwrap_or_else(|why| {
                    self.status = Some(why);
                    vec![]
                });
            }
        };
        if paths.is_empty() {
            self.status = Some("no run to overlay".into());
            return vec![];
        }
        self.tab = Tab::Train;
        self.compare.open(source, paths)
    }

    /// `b`: pins (or unpins) the selected run (Runs tab) or the run on the dashboard (Train
    /// tab) as the baseline.
    fn pin_baseline(&mut self) -> Vec<Effect> {
        let path = match self.tab {
            Tab::Runs => self.runs.selected_row().map(|r| r.path.clone()),
            _ => self.train.view.run_dir.clone(),
        };
        let Some(path) = path else {
            self.status =
                Some("no run to pin: train or follow one, or select one on the Runs tab".into());
            return vec![];
        };
        let (remark, effects) = self.compare.toggle_baseline(path);
        self.status = Some(remark);
        effects
    }

    /// A key while a prompt is open: the import path (Enter imports) or the explorer's
    /// filter (Enter applies); Esc closes either.
    pub fn on_prompt_key(&mut self, code: crossterm::event::KeyCode) -> Vec<Effect> {
        if self.explorer.prompt.is_some() {
            self.explorer.prompt_key(code);
            return vec![];
        }
        match self.runs.prompt_key(code) {
            Some(path) => {
                self.status = Some(format!("importing {}…", path.display()));
                vec![Effect::Import(path)]
            }
            None => vec![],
        }
    }

    fn cycle_theme(&mut self) {
        self.theme_index = (self.theme_index + 1) % super::theme::BUILT_IN.len();
        let t = Theme::built_in(self.theme_index);
        self.theme = match &self.user_theme {
            Some(u) => t.clone().overlay(u, "user theme").unwrap_or(t),
            None => t,
        };
        self.status = Some(format!("theme: {}", self.theme.name));
    }

    /// Follows the selected run's files on the Train tab.
    fn watch_selected(&mut self) -> Vec<Effect> {
        let Some(r) = self.runs.selected_row() else {
            self.status = Some("no run to follow".into());
            return vec![];
        };
        let path = r.path.clone();
        self.watch_path(path)
    }

    /// Follows the job of the selected sweep that is training now; in the explorer, the
    /// selected job's run.
    fn watch_sweep_job(&mut self) -> Vec<Effect> {
        if self.explorer.shown {
            let started = self.explorer.selected_run().filter(|id| {
                self.sweeps.selected_row().is_some_and(|r| {
                    r.jobs
                        .iter()
                        .any(|j| j.run_id == *id && j.state != bloodshot::sweep::JobState::Queued)
                })
            });
            return match started {
                Some(id) => self.watch_path(self.runs_dir.join(id)),
                None => {
                    self.sweeps.message = Some("the selected job has not started".into());
                    vec![]
                }
            };
        }
        let job = self.sweeps.selected_row().and_then(|r| {
            r.jobs
                .iter()
                .find(|j| j.state == bloodshot::sweep::JobState::Training)
                .map(|j| j.run_id.clone())
        });
        match job {
            Some(id) => {
                let path = self.runs_dir.join(id);
                self.watch_path(path)
            }
            None => {
                self.sweeps.message = Some("no job of this sweep is training now".into());
                vec![]
            }
        }
    }

    /// A new sweep from the Sweeps form, the Train form and the K-shot form, run here.
    fn new_sweep(&mut self) -> Vec<Effect> {
        if let Some((id, _)) = &self.sweeps.owned {
            self.sweeps.message = Some(format!("sweep {id} runs here; pause or cancel it first"));
            return vec![];
        }
        let mut train = self.train.form.clone();
        train.base = self.base.clone();
        let spec = self.sweeps.spec(&train, &self.kshot.opts.0, &self.target);
        self.start_sweep(
            super::action::SweepStart::New(Box::new(spec)),
            "(new)".into(),
        )
    }

    /// Runs (resumes) the selected sweep here.
    fn run_sweep(&mut self) -> Vec<Effect> {
        if let Some((id, _)) = &self.sweeps.owned {
            self.sweeps.message = Some(format!("sweep {id} runs here already"));
            return vec![];
        }
        let Some(row) = self.sweeps.selected_row() else {
            self.sweeps.message = Some("no sweep yet: n creates one".into());
            return vec![];
        };
        if row.done() == row.jobs.len() {
            self.sweeps.message = Some(format!("every job of {} is done", row.sweep.id));
            return vec![];
        }
        let id = row.sweep.id.clone();
        self.start_sweep(super::action::SweepStart::Resume(id.clone()), id)
    }

    fn start_sweep(&mut self, sweep: super::action::SweepStart, id: String) -> Vec<Effect> {
        let control = Arc::new(bloodshot::sweep::Control::new());
        self.sweeps.owned = Some((id, Arc::clone(&control)));
        self.sweeps.message = Some("starting…".into());
        vec![Effect::RunSweep {
            sweep,
            devices: self.sweeps.device_list(),
            control,
        }]
    }

    /// Follows `path` on the Train tab.
    fn watch_path(&mut self, path: PathBuf) -> Vec<Effect> {
        if self.train.view.active() && !self.train.view.watched {
            self.status = Some("a run is training in this console; watch another after it".into());
            return vec![];
        }
        self.train.stop_watching();
        self.train.view = TrainView {
            phase: TrainPhase::Starting,
            watched: true,
            ..Default::default()
        };
        self.tab = Tab::Train;
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(true));
        self.train.watch = Some(Arc::clone(&flag));
        vec![Effect::Watch { path, flag }]
    }

    fn start_training(&mut self) -> Vec<Effect> {
        self.train.stop_watching_if_watched();
        if self.train.view.active() {
            self.status = Some("a run is already training; stop it first (x)".into());
            return vec![];
        }
        let mut cfg = self.train.form.clone();
        cfg.base = self.base.clone();
        if let Err(e) = cfg.validate() {
            self.status = Some(e.to_string());
            return vec![];
        }
        self.train.view = TrainView {
            phase: TrainPhase::Starting,
            ..Default::default()
        };
        let (stop, gpu_poll) = self.train.training_handles();
        vec![Effect::Train {
            config: Box::new(cfg),
            stop,
            gpu_poll,
        }]
    }

    fn resume_selected(&mut self) -> Vec<Effect> {
        self.train.stop_watching_if_watched();
        if self.train.view.active() {
            self.status = Some("a run is already training".into());
            return vec![];
        }
        let Some(r) = self.runs.selected_row() else {
            return vec![];
        };
        if r.state == RunState::Finished {
            self.status = Some(format!("run {} is finished; nothing to resume", r.id));
            return vec![];
        }
        if r.state == RunState::Running && !r.interrupted {
            self.status = Some(format!("run {} is being trained by another process", r.id));
            return vec![];
        }
        let path = r.path.clone();
        self.train.view = TrainView {
            phase: TrainPhase::Starting,
            ..Default::default()
        };
        self.tab = Tab::Train;
        let (stop, gpu_poll) = self.train.training_handles();
        vec![Effect::Resume {
            run: RunDir { path },
            stop,
            gpu_poll,
        }]
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
            Tab::Train => self.train.field = step(self.train.field, TrainField::ALL.len()),
            Tab::KShot => self.kshot.field = step(self.kshot.field, KShotField::ALL.len()),
            Tab::Runs => self.runs.selected = step(self.runs.selected, self.runs.rows.len()),
            Tab::Sweeps if self.explorer.shown => self.explorer.move_selection(down),
            Tab::Sweeps => self.sweeps.field = step(self.sweeps.field, SweepField::ALL.len()),
            Tab::Data => {}
        }
    }

    fn adjust(&mut self, up: bool) -> Vec<Effect> {
        match self.tab {
            // The form is locked while its run trains.
            Tab::Train if !self.train.view.active() => {
                let runs: Vec<PathBuf> = self
                    .runs
                    .rows
                    .iter()
                    .filter(|r| !r.checkpoints.is_empty())
                    .map(|r| r.path.clone())
                    .collect();
                TrainField::ALL[self.train.field].adjust(
                    &mut self.train.form,
                    up,
                    &self.devices,
                    &runs,
                )
            }
            Tab::KShot => return self.kshot.adjust(&self.runs.rows, up),
            Tab::Sweeps if self.explorer.shown => self.explorer.move_sort(up),
            Tab::Sweeps => self.sweeps.adjust(up),
            Tab::Train | Tab::Runs | Tab::Data => {}
        }
        vec![]
    }

    /// Applies a training event from the background run.
    pub fn on_train_event(&mut self, ev: TrainEvent) -> Vec<Effect> {
        let (effects, remark) = self.train.on_train_event(ev);
        if remark.is_some() {
            self.status = remark;
        }
        effects
    }

    /// Applies a background event; returns follow-up work. Each arm hands the event to the
    /// state it belongs to.
    pub fn on_event(&mut self, ev: AppEvent) -> Vec<Effect> {
        use AppEvent as E;
        match ev {
            E::Input(_) => {}
            E::ScanProgress(w, phase, d, n) => {
                *self.data.slot(w) = super::state::data::ScanState::Running(phase, d, n)
            }
            E::Scanned(w, r) => self.data.scanned(w, r),
            E::Train(ev) => return self.on_train_event(ev),
            E::Watched(ev) => return self.train.on_watched_event(ev),
            E::Runs(rows, table1, fingerprint) => {
                self.runs_loaded(rows);
                self.runs.set_table1(*table1);
                self.runs.fingerprint = Some(fingerprint);
            }
            E::Sweeps(rows) => self.sweeps.replace_rows(rows),
            E::Devices(usable) => self.set_devices(usable),
            E::SweepCreated(id) => {
                if let Some(owned) = self.sweeps.owned.as_mut() {
                    owned.0 = id;
                }
                return vec![Effect::LoadSweeps];
            }
            E::SweepProgress(ev) => {
                self.sweeps.job_event(ev);
                return vec![Effect::LoadSweeps, Effect::LoadRuns];
            }
            E::SweepEnded(r) => {
                self.sweeps.ended(r);
                return vec![Effect::LoadSweeps, Effect::LoadRuns];
            }
            E::PrepareProgress(d, n) => self.kshot.preparing = Some((d, n)),
            E::PrepareWarning(w) => self.kshot.message = Some(w),
            E::Prepared(r) => self.kshot.prepared(r),
            E::Evaluated(r) => return self.kshot.evaluated(r),
            E::Swept(r) => return self.kshot.swept(r),
            E::System(dir, samples) => {
                if self.train.view.run_dir.as_ref() == Some(&dir) {
                    self.train.view.system = samples;
                }
            }
            E::Gpu(r) => self.train.view.gpu = Some(r),
            E::Curves(paths, curves, unreadable) => self.compare.loaded(&paths, curves, unreadable),
            E::Baseline(r) => {
                if let Some(why) = self.compare.baseline_loaded(r) {
                    self.status = Some(why);
                }
            }
            E::Explorer(id, table) => {
                if self.sweeps.selected_row().map(|r| &r.sweep.id) == Some(&id) {
                    self.explorer.loaded(id, *table);
                }
            }
            E::Interop(r) => self.status = Some(self.runs.interop_done(r)),
            E::Exported(r) => self.status = Some(self.runs.exported(r)),
        }
        vec![]
    }

    fn runs_loaded(&mut self, rows: Vec<RunRow>) {
        // Selections stay on their runs (by id) when runs appear or go, whoever made them.
        let id_at = |i: usize| self.runs.rows.get(i).map(|r| r.id.clone());
        let (kshot_id, selected_id) = (id_at(self.kshot.run), id_at(self.runs.selected));
        let index_of = |id: Option<String>, old: usize| {
            id.and_then(|id| rows.iter().position(|r| r.id == id))
                .unwrap_or(old)
                .min(rows.len().saturating_sub(1))
        };
        self.kshot.run = index_of(kshot_id, self.kshot.run);
        let selected = index_of(selected_id, self.runs.selected);
        // The K-shot form follows the run this console trains when it first appears (runs
        // of other processes appear without moving it).
        let ours = self.train.view.run_id.as_ref();
        if let Some(i) = rows
            .iter()
            .position(|r| ours == Some(&r.id) && !self.runs.rows.iter().any(|o| o.id == r.id))
            && !self.runs.rows.is_empty()
        {
            self.kshot.run = i;
        }
        self.runs.replace_rows(rows);
        self.runs.selected = selected;
    }
}
