//! The console: a ratatui + crossterm front end over the engine. State lives in
//! [`app::App`], drawing in [`panes`] (pure), slow work in [`worker`] (off the UI thread).

pub mod action;
pub mod app;
pub mod config;
pub mod event;
pub mod gpu;
pub mod keys;
pub mod panes;
pub mod state;
pub mod theme;
pub mod thumb;
pub mod worker;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyEventKind};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use crossterm::{execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use bloodshot::device::DeviceSpec;
use bloodshot::fewshot::evaluate::Cell;
use bloodshot::train::Start;

use action::Effect;
use app::App;
use event::{AppEvent, Which};
use theme::Theme;

/// Console options from the command line (override the user config).
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Base dataset.
    pub base: Option<PathBuf>,
    /// Target dataset.
    pub target: Option<PathBuf>,
    /// Device.
    pub device: Option<DeviceSpec>,
    /// Runs folder.
    pub runs_dir: Option<PathBuf>,
}

/// Builds the initial state from options and the user config (no terminal needed).
pub fn initial_app(opts: &Options) -> (App, Vec<String>) {
    let (cfg, user_theme, warn) = config::load();
    let mut notes: Vec<String> = warn.into_iter().collect();
    let base = opts
        .base
        .clone()
        .or(cfg.base)
        .unwrap_or_else(bloodshot::paths::default_base);
    let target = opts
        .target
        .clone()
        .or(cfg.target)
        .unwrap_or_else(bloodshot::paths::default_target);
    // Canonical, to compare with the targets saved k-shot results name.
    let target = std::fs::canonicalize(&target).unwrap_or(target);
    let runs_dir = opts
        .runs_dir
        .clone()
        .or(cfg.runs_dir)
        .unwrap_or_else(bloodshot::paths::default_runs_dir);
    let device = opts.device.or_else(|| {
        cfg.device.as_deref().and_then(|d| match d.parse() {
            Ok(d) => Some(d),
            Err(e) => {
                notes.push(format!("config device ignored: {e}"));
                None
            }
        })
    });
    let theme_index = cfg.theme.as_deref().and_then(Theme::index_of).unwrap_or(0);
    let mut theme = Theme::built_in(theme_index);
    if let Some(u) = &user_theme {
        match theme.clone().overlay(u, "theme.toml") {
            Ok(t) => theme = t,
            Err(e) => notes.push(e),
        }
    }
    let mut app = App::new(
        base.clone(),
        target,
        runs_dir,
        device.unwrap_or_default(),
        theme,
        theme_index,
    );
    app.user_theme = user_theme;
    // On the bundled sample the form starts from the engine's quick preset, else the seed's.
    if base == bloodshot::paths::default_base() {
        app.train.form = app.train.form.clone().sample_preset();
    }
    if let Some(n) = notes.first() {
        app.status = Some(n.clone());
    }
    (app, notes)
}

fn init_logging() -> Option<PathBuf> {
    let dir = bloodshot::paths::state_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("bloodshot.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(path)
}

/// The terminal's stderr while the console draws (−1: not redirected).
#[cfg(unix)]
static SAVED_STDERR: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Sends file descriptor 2 to the log file while the console owns the screen: GPU drivers and
/// other C libraries print warnings there (Mesa: "XDG_RUNTIME_DIR is invalid"), which would
/// otherwise be drawn over the panes.
fn stderr_to_log(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        else {
            return;
        };
        // SAFETY: plain descriptor calls on valid descriptors; `file` stays open until dup2
        // has made fd 2 a second handle on it.
        unsafe {
            let saved = libc::dup(2);
            if saved >= 0 && libc::dup2(file.as_raw_fd(), 2) >= 0 {
                SAVED_STDERR.store(saved, std::sync::atomic::Ordering::SeqCst);
            } else if saved >= 0 {
                libc::close(saved);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Gives the terminal its stderr back (idempotent).
fn stderr_back() {
    #[cfg(unix)]
    {
        let saved = SAVED_STDERR.swap(-1, std::sync::atomic::Ordering::SeqCst);
        if saved >= 0 {
            // SAFETY: `saved` is the descriptor `stderr_to_log` duplicated and kept.
            unsafe {
                libc::dup2(saved, 2);
                libc::close(saved);
            }
        }
    }
}

fn restore_terminal() {
    stderr_back();
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Why the console did not run (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// stdin or stdout is not a terminal; the caller prints the statistics instead.
    #[error(
        "not a terminal: the console needs one; use the headless commands (bloodshot stats | train | kshot | export, see bloodshot --help)"
    )]
    NotATerminal,
    /// Setting up or drawing on the terminal failed; the sentence names the step.
    #[error("{0}")]
    Terminal(String),
}

impl From<String> for ConsoleError {
    fn from(sentence: String) -> Self {
        Self::Terminal(sentence)
    }
}

/// Runs the console until the user quits.
pub fn run(opts: Options) -> Result<(), ConsoleError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(ConsoleError::NotATerminal);
    }
    let log = init_logging();
    tracing::info!("console starting");
    let (app, _) = initial_app(&opts);

    // Restore the terminal on any panic before the message is printed.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        default_hook(info);
    }));
    terminal::enable_raw_mode().map_err(|e| format!("cannot set the terminal to raw mode: {e}"))?;
    execute!(
        std::io::stdout(),
        terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    )
    .map_err(|e| format!("cannot open the alternate screen: {e}"))?;
    if let Some(path) = &log {
        stderr_to_log(path);
    }
    // Before the input thread starts reading: the query's answer arrives on stdin.
    let graphics = thumb::init_graphics();
    tracing::info!("thumbnails drawn with {graphics}");
    let mut app = app;
    if app.status.is_none() {
        app.status = Some(format!("thumbnails: {graphics}"));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let result = rt.block_on(event_loop(app));
    restore_terminal();
    if let Ok(Some(waiting)) = &result {
        eprintln!("{waiting}");
    }
    // Dropping the runtime waits for a training run that was asked to stop after its epoch.
    drop(rt);
    if let Some(p) = log {
        tracing::info!("console closed; log at {}", p.display());
    }
    result.map(|_| ()).map_err(ConsoleError::from)
}

async fn event_loop(mut app: App) -> Result<Option<String>, String> {
    let backend = CrosstermBackend::new(std::io::stdout());
    let mut terminal = Terminal::new(backend).map_err(|e| e.to_string())?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<AppEvent>();
    spawn_input(tx.clone());
    let mut sig_rx = spawn_signals();
    for e in [
        Effect::Scan,
        Effect::ScanDevices,
        Effect::LoadRuns,
        Effect::LoadSweeps,
    ] {
        start(e, &app, &tx);
    }
    let mut dirty = true;
    let mut reload = Reload::new();
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut tick = tokio::time::interval(Duration::from_millis(33));
    loop {
        tokio::select! {
            Some(ev) = rx.recv() => {
                let effects = match ev {
                    AppEvent::Input(Event::Key(k))
                        if k.kind != KeyEventKind::Release && app.prompt_open() =>
                    {
                        app.on_prompt_key(k.code)
                    }
                    AppEvent::Input(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                        match keys::action_for(k, app.tab, app.quit_dialog) {
                            Some(a) => app.on_action(a),
                            None => vec![],
                        }
                    }
                    AppEvent::Input(Event::Resize(_, _)) => vec![],
                    AppEvent::Input(_) => continue,
                    other => app.on_event(other),
                };
                for e in effects {
                    start(e, &app, &tx);
                }
                dirty = true;
            }
            Some(()) = sig_rx.recv() => {
                if let Some(s) = &app.train.stop {
                    s.request(bloodshot::train::StopMode::Checkpoint);
                }
                app.should_quit = true;
            }
            _ = tick.tick() => {
                for e in reload.due(&app) {
                    start(e, &app, &tx);
                }
            }
        }
        if app.should_quit {
            return Ok(quit_message(&app));
        }
        // Redraw only when something changed, at most ~30 times a second.
        if dirty && last_draw.elapsed() >= Duration::from_millis(33) {
            let mut out = std::io::stdout();
            let _ = execute!(out, BeginSynchronizedUpdate);
            terminal
                .draw(|f| panes::draw(f, &app))
                .map_err(|e| e.to_string())?;
            let _ = execute!(out, EndSynchronizedUpdate);
            let _ = out.flush();
            last_draw = Instant::now();
            dirty = false;
        }
    }
}

/// Terminal input on its own thread (crossterm's read blocks).
fn spawn_input(tx: event::Tx) {
    std::thread::spawn(move || {
        while let Ok(ev) = crossterm::event::read() {
            if tx.send(AppEvent::Input(ev)).is_err() {
                break;
            }
        }
    });
}

/// SIGTERM / SIGHUP (SSH dropped): one message each; the loop stops training after the
/// epoch, then leaves.
fn spawn_signals() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (sig_tx, sig_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        std::thread::spawn(move || {
            for _ in signals.forever() {
                let _ = sig_tx.send(());
            }
        });
    }
    sig_rx
}

/// What other processes may change, re-read every two seconds while its tab is shown.
struct Reload {
    /// The last check of the runs folder, and the tab shown at the last tick (entering the
    /// Runs or K-shot tab checks at once).
    runs: Instant,
    last_tab: Option<action::Tab>,
    sweeps: Instant,
    curves: Instant,
    system: Instant,
}

impl Reload {
    const EVERY: Duration = Duration::from_secs(2);

    fn new() -> Self {
        let now = Instant::now();
        Reload {
            runs: now,
            last_tab: None,
            sweeps: now,
            curves: now,
            system: now,
        }
    }

    /// The reloads due now.
    fn due(&mut self, app: &App) -> Vec<Effect> {
        let mut effects = Vec::new();
        // The Runs tab and the K-shot form's run list show runs of any process: checked on
        // entering either tab and every two seconds while shown, re-read when the folder
        // changed.
        let lists_runs = matches!(app.tab, action::Tab::Runs | action::Tab::KShot);
        let entered = self.last_tab != Some(app.tab);
        if lists_runs && (entered || self.runs.elapsed() >= Self::EVERY) {
            self.runs = Instant::now();
            effects.push(Effect::RefreshRuns {
                unless: app.runs.fingerprint,
            });
        }
        self.last_tab = Some(app.tab);
        // The Sweeps tab shows jobs of any process.
        if app.tab == action::Tab::Sweeps && self.sweeps.elapsed() >= Self::EVERY {
            self.sweeps = Instant::now();
            effects.push(Effect::LoadSweeps);
            if app.explorer.shown
                && let Some(r) = app.sweeps.selected_row()
            {
                effects.push(Effect::LoadExplorer(r.sweep.id.clone()));
            }
        }
        // Overlaid runs and the baseline may still train.
        if app.tab == action::Tab::Train && self.curves.elapsed() >= Self::EVERY {
            self.curves = Instant::now();
            effects.extend(app.compare.refresh());
        }
        // The Train tab's system history: the run folder's samples.
        if app.tab == action::Tab::Train
            && self.system.elapsed() >= Self::EVERY
            && let Some(dir) = app.train.view.run_dir.clone()
        {
            self.system = Instant::now();
            effects.push(Effect::LoadSystem(dir));
        }
        effects
    }
}

/// The line printed after the console closes while work goes on: a sweep to resume, or a
/// training run finishing its epoch.
fn quit_message(app: &App) -> Option<String> {
    if let Some((id, _)) = &app.sweeps.owned {
        return Some(format!(
            "bloodshot: sweep {id} stopped; its trainings saved their state. Continue with `bloodshot sweep --resume {id}` or s on the Sweeps tab."
        ));
    }
    (app.train.view.active() && !app.train.view.watched).then(|| {
        "bloodshot: waiting for the training run to stop (checkpoint of the last complete epoch is kept)…".to_string()
    })
}

/// Polls NVML while a run trains on a GPU and `flag` is set (nothing on the CPU).
fn start_gpu_poll(device: DeviceSpec, flag: Arc<AtomicBool>, tx: &event::Tx) {
    let index = match device {
        DeviceSpec::Cpu => return,
        DeviceSpec::Cuda(i) => i as u32,
        // NVML numbers NVIDIA GPUs; a wgpu adapter's index counts only its own type.
        DeviceSpec::Vulkan(a) | DeviceSpec::Wgpu(a) => match a {
            bloodshot::device::Adapter::Discrete(i) => i as u32,
            bloodshot::device::Adapter::Best => 0,
            _ => return,
        },
    };
    let tx = tx.clone();
    std::thread::spawn(move || gpu::poll(|r| tx.send(AppEvent::Gpu(r)).is_ok(), index, flag));
}

/// Runs `work` on tokio's blocking pool with its own sender.
fn blocking(tx: &event::Tx, work: impl FnOnce(event::Tx) + Send + 'static) {
    let tx = tx.clone();
    tokio::task::spawn_blocking(move || work(tx));
}

/// Starts an effect's background work. It reads the state but never changes it: handles the
/// console keeps (stop signals, flags) are made by the update and travel in the effect.
/// One arm per effect, each naming the worker function and the state it reads.
fn start(effect: Effect, app: &App, tx: &event::Tx) {
    let runs_dir = app.runs_dir.clone();
    let runs_cache = app.runs.cache.clone();
    match effect {
        Effect::Scan => {
            for (which, root) in [(Which::Base, &app.base), (Which::Target, &app.target)] {
                let root = root.clone();
                blocking(tx, move |tx| worker::scan(tx, which, root));
            }
        }
        Effect::Train {
            config,
            stop,
            gpu_poll,
        } => {
            start_gpu_poll(config.device, gpu_poll, tx);
            let start = Start::New(runs_dir);
            blocking(tx, move |tx| worker::train(tx, start, Some(*config), stop));
        }
        Effect::Resume {
            run,
            stop,
            gpu_poll,
        } => {
            if let Ok(info) = run.info() {
                start_gpu_poll(info.config.device, gpu_poll, tx);
            }
            let start = Start::Resume {
                run,
                epochs: None,
                device: None,
            };
            blocking(tx, move |tx| worker::train(tx, start, None, stop));
        }
        Effect::Watch { path, flag } => {
            let tx = tx.clone();
            std::thread::spawn(move || worker::watch(tx, path, flag));
        }
        Effect::ScanDevices => blocking(tx, worker::scan_devices),
        Effect::LoadSystem(dir) => blocking(tx, move |tx| worker::load_system(tx, dir)),
        Effect::LoadSweeps => blocking(tx, move |tx| worker::load_sweeps(tx, runs_dir)),
        Effect::RunSweep {
            sweep,
            devices,
            control,
        } => {
            // A plain thread: quitting must not wait for the sweep (it is cancelled, and its
            // trainings save their state).
            let tx = tx.clone();
            std::thread::spawn(move || worker::run_sweep(tx, runs_dir, sweep, devices, control));
        }
        Effect::LoadRuns => blocking(tx, move |tx| {
            worker::load_runs(tx, runs_dir, None, &runs_cache)
        }),
        Effect::RefreshRuns { unless } => blocking(tx, move |tx| {
            worker::load_runs(tx, runs_dir, unless, &runs_cache)
        }),
        Effect::Prepare {
            run,
            epoch,
            opts,
            device,
        } => {
            let target = app.target.clone();
            blocking(tx, move |tx| {
                worker::prepare(tx, run, epoch, target, opts, device)
            });
        }
        Effect::Evaluate { from, to } => {
            if let Some(s) = app.kshot.session.clone() {
                let cell = Cell::of(&app.kshot.opts.0);
                blocking(tx, move |tx| worker::evaluate_draws(tx, s, from, to, cell));
            }
        }
        Effect::Sweep => {
            if let Some(s) = app.kshot.session.clone() {
                let opts = app.kshot.opts.0.clone();
                blocking(tx, move |tx| worker::sweep(tx, s, opts));
            }
        }
        Effect::SaveKShot => {
            if let (Some(s), Some(row)) = (app.kshot.session.clone(), app.kshot_run().cloned()) {
                let (opts, target) = (app.kshot.opts.0.clone(), app.target.clone());
                blocking(tx, move |tx| {
                    worker::save_kshot(tx, row.path, s, opts, target, runs_dir, runs_cache)
                });
            }
        }
        Effect::Import(path) => {
            blocking(tx, move |tx| worker::import(tx, path, runs_dir, runs_cache))
        }
        Effect::ExportWeights(run) => blocking(tx, move |tx| worker::export_weights(tx, run)),
        Effect::LoadCurves(paths) => blocking(tx, move |tx| worker::load_curves(tx, paths)),
        Effect::LoadBaseline(path) => blocking(tx, move |tx| worker::load_baseline(tx, path)),
        Effect::LoadExplorer(id) => blocking(tx, move |tx| {
            worker::load_explorer(tx, runs_dir, id, &runs_cache)
        }),
        Effect::Export(paths) => blocking(tx, move |tx| worker::export(tx, paths)),
    }
}

#[cfg(test)]
mod tests;
