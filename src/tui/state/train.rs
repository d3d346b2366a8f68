//! Train tab: the form's fields and choices, and the live view built from training events.

use std::path::PathBuf;
use std::sync::Arc;

use bloodshot::device::DeviceSpec;
use bloodshot::model::Objective;
use bloodshot::runs::{EpochSummary, TrainConfig};
use bloodshot::train::{StopMode, StopSignal, TrainError, TrainEvent};

use super::{step_f64, step_in};
use crate::tui::action::Effect;
use crate::tui::gpu::GpuStats;

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
    /// Where the embedder starts: at random, or from a run's last checkpoint.
    Init,
}

impl TrainField {
    /// Form order.
    pub const ALL: [TrainField; 12] = [
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
        TrainField::Init,
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
            TrainField::Init => "start from",
        }
    }

    /// Changes this field of `f` one choice up or down.
    /// `devices`: what the Device field offers (the devices `bloodshot devices` lists);
    /// `runs`: the run folders with a checkpoint, which the start field offers after
    /// "random" (weights files become runs with `I` on the Runs tab).
    pub fn adjust(self, f: &mut TrainConfig, up: bool, devices: &[DeviceSpec], runs: &[PathBuf]) {
        match self {
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
                    ((f.aam.margin + if up { 0.05 } else { -0.05 }).clamp(0.0, 1.5) * 100.0).round()
                        / 100.0
            }
            TrainField::Scale => f.aam.scale = step_f64(&SCALES, f.aam.scale, up),
            TrainField::Lambda => {
                f.lambda =
                    ((f.lambda + if up { 0.25 } else { -0.25 }).max(0.0) * 100.0).round() / 100.0
            }
            TrainField::Seed => {
                f.seed = if up {
                    f.seed + 1
                } else {
                    f.seed.saturating_sub(1)
                }
            }
            TrainField::Limit => f.limit_per_class = step_in(&LIMITS, f.limit_per_class, up),
            TrainField::Device if !devices.is_empty() => {
                f.device = step_in(devices, f.device, up);
            }
            TrainField::Device => {}
            TrainField::Init => {
                let i = f
                    .init
                    .as_ref()
                    .and_then(|p| runs.iter().position(|r| r == p))
                    .map_or(0, |i| i + 1);
                let j = if up {
                    (i + 1).min(runs.len())
                } else {
                    i.saturating_sub(1)
                };
                f.init = j.checked_sub(1).map(|j| runs[j].clone());
            }
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
/// The Train tab: the form, the live view of the run shown, how its chart is drawn, and
/// the handles of a run trained or followed from this console (made by the update, cloned
/// into the effects that start the work).
#[derive(Debug, Clone)]
pub struct TrainTab {
    /// The run form.
    pub form: TrainConfig,
    /// Selected form field.
    pub field: usize,
    /// The run shown, built from training events.
    pub view: TrainView,
    /// How the loss chart is drawn.
    pub chart: ChartView,
    /// Stop signal of the run training here.
    pub stop: Option<bloodshot::train::StopSignal>,
    /// Keeps the GPU poller going while a GPU run trains here.
    pub gpu_poll: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Keeps the follower of a watched run going.
    pub watch: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl TrainTab {
    /// `x`: the run trained here stops after this epoch; a watched run is stopped elsewhere.
    pub fn stop_after_epoch(&mut self) -> Option<String> {
        if self.view.watched {
            Some("this run is trained by another process: stop it there (Ctrl-C or kill)".into())
        } else if let (Some(s), true) = (&self.stop, self.view.active()) {
            s.request(StopMode::AfterEpoch);
            Some("stopping after this epoch (checkpoint kept)".into())
        } else {
            None
        }
    }

    /// Stops following a watched run (its training goes on elsewhere).
    pub fn stop_watching(&mut self) {
        if let Some(flag) = self.watch.take() {
            flag.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        self.view.watched = false;
    }

    /// An event of the watched run: the same dashboard as a run trained here.
    pub fn on_watched_event(&mut self, ev: TrainEvent) -> Vec<Effect> {
        if self.watch.is_none() {
            return vec![]; // From a follower stopped since.
        }
        let ended = matches!(ev, TrainEvent::Finished { .. } | TrainEvent::Failed { .. });
        self.view.apply(ev);
        self.view.watched = true;
        if ended {
            self.watch = None;
            return vec![Effect::LoadRuns];
        }
        vec![]
    }

    /// The stop signal and GPU-poll flag of a run about to train here, held by the console
    /// (the effect gets clones).
    pub fn training_handles(&mut self) -> (StopSignal, Arc<std::sync::atomic::AtomicBool>) {
        let stop = StopSignal::new();
        let poll = Arc::new(std::sync::atomic::AtomicBool::new(true));
        self.stop = Some(stop.clone());
        self.gpu_poll = Some(Arc::clone(&poll));
        (stop, poll)
    }

    /// Starting or resuming a run here ends following another one.
    pub fn stop_watching_if_watched(&mut self) {
        if self.view.watched {
            self.stop_watching();
            self.view.phase = TrainPhase::Idle;
        }
    }

    /// Folds an event of the run training here into the tab; returns the work it asks for and
    /// what the status line should say (a failure, and the CPU offered when the device
    /// failed).
    pub fn on_train_event(&mut self, ev: TrainEvent) -> (Vec<Effect>, Option<String>) {
        let mut remark = None;
        let ended = matches!(
            ev,
            TrainEvent::Finished { .. } | TrainEvent::Failed { .. } | TrainEvent::Checkpoint { .. }
        );
        if let TrainEvent::Failed { error } = &ev {
            remark = Some(format!("training failed: {error}"));
            // A GPU that is missing, not compiled in or not answering: offer the CPU.
            if let TrainError::Device(e) = error
                && e.spec() == self.form.device
                && self.form.device != DeviceSpec::Cpu
            {
                self.form.device = DeviceSpec::Cpu;
                remark = Some(format!(
                    "{error} — the form now says cpu: press s to train there"
                ));
            }
        }
        let gpu = self.view.gpu.take();
        self.view.apply(ev);
        // `Started` resets the view; keep the GPU reading across it.
        if self.view.gpu.is_none() {
            self.view.gpu = gpu;
        }
        if !self.view.active() {
            self.stop = None;
            if let Some(flag) = self.gpu_poll.take() {
                flag.store(false, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let effects = if ended {
            vec![Effect::LoadRuns]
        } else {
            vec![]
        };
        (effects, remark)
    }

    /// The tab with this form and nothing trained yet.
    pub fn new(form: TrainConfig) -> Self {
        TrainTab {
            form,
            field: 0,
            view: TrainView::default(),
            chart: ChartView::default(),
            stop: None,
            gpu_poll: None,
            watch: None,
        }
    }
}

/// How the Train tab draws its loss chart; kept across runs and watched runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartView {
    /// Weight of the exponential moving average drawn over the raw values (0: none).
    pub smoothing: f64,
    /// Logarithmic loss axis.
    pub log_y: bool,
}

impl Default for ChartView {
    fn default() -> Self {
        ChartView {
            smoothing: 0.9,
            log_y: false,
        }
    }
}

impl ChartView {
    /// The smoothing weights `<` and `>` step through.
    pub const SMOOTHING: [f64; 6] = [0.0, 0.5, 0.8, 0.9, 0.95, 0.99];

    /// `>`: smoother (a larger weight); `<`: closer to the raw values.
    pub fn step_smoothing(&mut self, smoother: bool) {
        let i = Self::SMOOTHING
            .iter()
            .position(|w| (*w - self.smoothing).abs() < 1e-9)
            .unwrap_or(3);
        let j = if smoother {
            (i + 1).min(Self::SMOOTHING.len() - 1)
        } else {
            i.saturating_sub(1)
        };
        self.smoothing = Self::SMOOTHING[j];
    }
}

/// Live training state, built only from engine events.
#[derive(Debug, Clone, Default)]
pub struct TrainView {
    /// The run's folder (its `system.jsonl` feeds the system history).
    pub run_dir: Option<PathBuf>,
    /// CPU, memory and GPU history of the training process, from the run folder.
    pub system: Vec<bloodshot::train::system::SystemSample>,
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
    pub gpu: Option<Result<GpuStats, String>>,
    /// Phase.
    pub phase: TrainPhase,
    /// The run is trained by another process; this view follows its files.
    pub watched: bool,
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

    /// Folds one training event into the view.
    pub fn apply(&mut self, ev: TrainEvent) {
        match ev {
            TrainEvent::Started {
                run_id,
                run_dir,
                device,
                classes,
                split_sizes,
                steps_per_epoch,
                first_epoch,
                epochs,
            } => {
                *self = TrainView {
                    run_id: Some(run_id),
                    run_dir: Some(run_dir),
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
            TrainEvent::Failed { error } => self.phase = TrainPhase::Failed(error.to_string()),
        }
    }
}
