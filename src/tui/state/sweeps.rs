//! Sweeps tab: the form of a new sweep (objectives, seeds, ks, devices; everything else comes
//! from the Train and K-shot forms), the sweeps of the runs folder with their jobs as read
//! from disk, and the sweep this console runs, if any.

use std::sync::Arc;

use bloodshot::device::DeviceSpec;
use bloodshot::fewshot::evaluate::KShotOptions;
use bloodshot::model::Objective;
use bloodshot::runs::TrainConfig;
use bloodshot::sweep::runner::RunnerRecord;
use bloodshot::sweep::{Control, Grid, JobState, JobStatus, KShotSpec, Sweep, SweepSpec};

use super::step_in;

/// A field of the new-sweep form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepField {
    /// Objectives compared.
    Objectives,
    /// Training seeds 0..n.
    Seeds,
    /// Support sizes.
    Ks,
    /// Devices.
    Devices,
}

impl SweepField {
    /// Form order.
    pub const ALL: [SweepField; 4] = [
        SweepField::Objectives,
        SweepField::Seeds,
        SweepField::Ks,
        SweepField::Devices,
    ];

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            SweepField::Objectives => "objectives",
            SweepField::Seeds => "seeds",
            SweepField::Ks => "k",
            SweepField::Devices => "devices",
        }
    }
}

/// Objective sets the form offers.
pub const OBJECTIVE_SETS: [&[Objective]; 4] = [
    &[
        Objective::Softmax,
        Objective::Aam,
        Objective::AamConsistency,
    ],
    &[Objective::Softmax, Objective::Aam],
    &[Objective::Softmax, Objective::AamConsistency],
    &[Objective::Aam, Objective::AamConsistency],
];
const SEED_COUNTS: [u64; 6] = [1, 2, 3, 5, 10, 20];
/// k sets the form offers.
pub const K_SETS: [&[usize]; 4] = [&[10], &[1, 5, 10], &[1, 2, 3, 5, 10, 20], &[5]];

/// A sweep of the runs folder with its jobs, as last read.
#[derive(Debug, Clone)]
pub struct SweepRow {
    /// The plan.
    pub sweep: Arc<Sweep>,
    /// Each job's status.
    pub jobs: Vec<JobStatus>,
    /// Who runs it now (or last).
    pub runner: Option<RunnerRecord>,
}

impl SweepRow {
    /// Jobs done.
    pub fn done(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.state == JobState::Done)
            .count()
    }
}

/// Sweeps tab.
#[derive(Debug, Clone)]
pub struct SweepsState {
    /// Selected form field.
    pub field: usize,
    /// Index into [`OBJECTIVE_SETS`].
    pub objectives: usize,
    /// Number of training seeds (0..n).
    pub seeds: u64,
    /// Index into [`K_SETS`].
    pub ks: usize,
    /// Index into `device_sets`.
    pub devices: usize,
    /// Device sets the form offers (one job per device at a time), from the devices this
    /// machine has: the CPU, each GPU alone, all CUDA devices together.
    pub device_sets: Vec<Vec<DeviceSpec>>,
    /// Sweeps, oldest first.
    pub rows: Vec<SweepRow>,
    /// Selected sweep.
    pub selected: usize,
    /// The sweep this console runs: id and its control.
    pub owned: Option<(String, Arc<Control>)>,
    /// Last remark.
    pub message: Option<String>,
}

impl Default for SweepsState {
    fn default() -> Self {
        SweepsState {
            field: 0,
            objectives: 0,
            seeds: 2,
            ks: 0,
            devices: 0,
            device_sets: vec![vec![DeviceSpec::Cpu]],
            rows: Vec::new(),
            selected: 0,
            owned: None,
            message: None,
        }
    }
}

impl SweepsState {
    /// A job of the sweep this console runs started, finished, failed or stopped: the
    /// message line says so.
    pub fn job_event(&mut self, ev: bloodshot::sweep::SweepEvent) {
        use bloodshot::sweep::SweepEvent as S;
        let name = |j: usize| format!("job {}", j + 1);
        self.message = Some(match ev {
            S::Started { job, device } => format!("{} started on {device}", name(job)),
            S::Finished { job } => format!("{} done", name(job)),
            S::Failed { job, message } => format!("{} failed: {message}", name(job)),
            S::Stopped { job } => format!("{} stopped; its state is saved", name(job)),
        });
    }

    /// The sweep this console ran has ended: how many jobs are done, and where Table 1 is.
    pub fn ended(&mut self, r: Result<bloodshot::sweep::Outcome, String>) {
        let id = self.owned.take().map(|o| o.0).unwrap_or_default();
        self.message = Some(match r {
            Ok(o) if o.interrupted => format!(
                "{id}: {} of {} jobs done; stopped (s resumes)",
                o.done,
                o.done + o.left
            ),
            Ok(o) => format!(
                "{id}: {} of {} jobs done, {} failed; Table 1 in {}",
                o.done,
                o.done + o.left,
                o.failed,
                o.table1.map_or("–".into(), |p| p.display().to_string())
            ),
            Err(e) => format!("sweep failed: {e}"),
        });
    }

    /// The value of a form field as shown.
    pub fn value(&self, field: SweepField) -> String {
        match field {
            SweepField::Objectives if self.objectives == 0 => "all three".into(),
            SweepField::Objectives => OBJECTIVE_SETS[self.objectives]
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>()
                .join(","),
            SweepField::Seeds => format!("0..{} ({})", self.seeds - 1, self.seeds),
            SweepField::Ks => K_SETS[self.ks]
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(","),
            SweepField::Devices => self
                .device_list()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The devices chosen.
    pub fn device_list(&self) -> Vec<DeviceSpec> {
        self.device_sets
            .get(self.devices)
            .cloned()
            .unwrap_or_else(|| vec![DeviceSpec::Cpu])
    }

    /// Offers sets of `usable` devices: the CPU, each GPU alone, and all CUDA devices
    /// together when there are several. Keeps the chosen set when it is still offered.
    pub fn set_device_sets(&mut self, usable: &[DeviceSpec]) {
        let chosen = self.device_list();
        let mut sets: Vec<Vec<DeviceSpec>> = vec![vec![DeviceSpec::Cpu]];
        sets.extend(usable.iter().filter(|d| d.is_gpu()).map(|d| vec![*d]));
        let cuda: Vec<DeviceSpec> = usable
            .iter()
            .copied()
            .filter(|d| matches!(d, DeviceSpec::Cuda(_)))
            .collect();
        if cuda.len() > 1 {
            sets.push(cuda);
        }
        self.devices = sets.iter().position(|s| *s == chosen).unwrap_or(0);
        self.device_sets = sets;
    }

    /// Changes the selected field one choice up or down.
    pub fn adjust(&mut self, up: bool) {
        let cycle = |i: usize, n: usize| if up { (i + 1) % n } else { (i + n - 1) % n };
        match SweepField::ALL[self.field] {
            SweepField::Objectives => {
                self.objectives = cycle(self.objectives, OBJECTIVE_SETS.len())
            }
            SweepField::Seeds => self.seeds = step_in(&SEED_COUNTS, self.seeds, up),
            SweepField::Ks => self.ks = cycle(self.ks, K_SETS.len()),
            SweepField::Devices => self.devices = cycle(self.devices, self.device_sets.len()),
        }
    }

    /// The spec of a new sweep: the form's grid, the Train form for every other training
    /// setting, the K-shot form for the bank.
    pub fn spec(
        &self,
        train: &TrainConfig,
        kshot: &KShotOptions,
        target: &std::path::Path,
    ) -> SweepSpec {
        let ks = K_SETS[self.ks].to_vec();
        SweepSpec {
            base: train.clone(),
            grid: Grid {
                objectives: OBJECTIVE_SETS[self.objectives].to_vec(),
                seeds: (0..self.seeds).collect(),
                ..Default::default()
            },
            kshot: KShotSpec {
                target: target.to_path_buf(),
                normalizations: vec![kshot.normalize],
                methods: vec![kshot.method],
                ttas: vec![kshot.tta],
                options: KShotOptions {
                    k: ks[0],
                    ..kshot.clone()
                },
                ks,
            },
        }
    }

    /// The selected sweep.
    pub fn selected_row(&self) -> Option<&SweepRow> {
        self.rows.get(self.selected)
    }

    /// True while this console runs a sweep.
    pub fn running(&self) -> bool {
        self.owned.is_some()
    }

    /// A fresh list; the selection follows the same sweep (or the newest when it is new).
    pub fn replace_rows(&mut self, rows: Vec<SweepRow>) {
        let current = self.selected_row().map(|r| r.sweep.id.clone());
        self.selected = current
            .and_then(|id| rows.iter().position(|r| r.sweep.id == id))
            .unwrap_or(rows.len().saturating_sub(1));
        self.rows = rows;
    }

    /// `[` / `]`: previous / next sweep.
    pub fn select(&mut self, next: bool) {
        let n = self.rows.len();
        self.selected = if next {
            (self.selected + 1).min(n.saturating_sub(1))
        } else {
            self.selected.saturating_sub(1)
        };
    }
}
