//! A sweep's plan: the grid of training configurations × seeds, the k-shot evaluation every
//! run gets, and the jobs (one run each, with a run id fixed in advance), saved as
//! `sweeps/<id>/sweep.json` in the runs folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SweepError;
use crate::choice::Repeated;
use crate::fewshot::evaluate::{self, KShotError, KShotOptions};
use crate::fewshot::method::Method;
use crate::fewshot::score::Normalization;
use crate::fewshot::tta::Tta;
use crate::model::Objective;
use crate::runs::{Setting, SettingValue, TrainConfig, read_json, timestamp, unix_now, write_json};

/// Most jobs one sweep may hold (a typo in a grid should not queue a million trainings).
pub const MAX_JOBS: usize = 10_000;

/// The axes of the grid. An empty axis takes the one value of the sweep's base configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Objectives.
    pub objectives: Vec<Objective>,
    /// Training seeds.
    pub seeds: Vec<u64>,
    /// ArcFace margins.
    #[serde(default)]
    pub margins: Vec<f64>,
    /// ArcFace scales.
    #[serde(default)]
    pub scales: Vec<f64>,
    /// Consistency weights λ.
    #[serde(default)]
    pub lambdas: Vec<f64>,
    /// Image sizes.
    #[serde(default)]
    pub image_sizes: Vec<u32>,
    /// Epoch counts.
    #[serde(default)]
    pub epochs: Vec<usize>,
    /// Learning rates.
    #[serde(default)]
    pub lrs: Vec<f64>,
    /// Batch sizes.
    #[serde(default)]
    pub batch_sizes: Vec<usize>,
}

impl Grid {
    /// The values axis `s` lists (empty: the base configuration's one value).
    pub fn axis(&self, s: Setting) -> Vec<SettingValue> {
        use SettingValue::{Int, Real};
        let ints = |v: &[usize]| v.iter().map(|&x| Int(x as u64)).collect();
        let reals = |v: &[f64]| v.iter().map(|&x| Real(x)).collect();
        match s {
            Setting::Objective => self
                .objectives
                .iter()
                .map(|&o| SettingValue::Objective(o))
                .collect(),
            Setting::Seed => self.seeds.iter().map(|&x| Int(x)).collect(),
            Setting::Margin => reals(&self.margins),
            Setting::Scale => reals(&self.scales),
            Setting::Lambda => reals(&self.lambdas),
            Setting::ImageSize => self
                .image_sizes
                .iter()
                .map(|&x| Int(u64::from(x)))
                .collect(),
            Setting::Epochs => ints(&self.epochs),
            Setting::Lr => reals(&self.lrs),
            Setting::BatchSize => ints(&self.batch_sizes),
        }
    }

    /// Every configuration of the grid, varied in [`Setting::NESTING`]'s order (the
    /// objective fastest, then the seed).
    pub fn configs(&self, base: &TrainConfig) -> Vec<TrainConfig> {
        let mut out = vec![base.clone()];
        for s in Setting::NESTING {
            let mut values = self.axis(s);
            if values.is_empty() {
                values.push(s.get(base));
            }
            out = out
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |&v| {
                        let mut c = c.clone();
                        s.set(&mut c, v);
                        c
                    })
                })
                .collect();
        }
        out
    }

    /// Number of configurations, without building them.
    pub fn size(&self) -> usize {
        Setting::ALL
            .iter()
            .fold(1usize, |n, &s| n.saturating_mul(self.axis(s).len().max(1)))
    }
}

/// The k-shot evaluation of every finished run: the same target, protocol and seeded bank of
/// draws for all, so results pair up draw by draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KShotSpec {
    /// Target dataset folder.
    pub target: PathBuf,
    /// Support images per class, one bank each.
    pub ks: Vec<usize>,
    /// Normalisations, one result each.
    pub normalizations: Vec<Normalization>,
    /// Classifiers, one result each with every normalisation (sweeps made before they
    /// existed: prototypes).
    #[serde(default = "prototypes_only")]
    pub methods: Vec<Method>,
    /// Test-time augmentations, one embedding each (sweeps made before they existed: none).
    #[serde(default = "no_tta")]
    pub ttas: Vec<Tta>,
    /// Draws, seed, protocol, the logistic regression's C and the rest (`k`, `normalize`
    /// and `method` come from the lists).
    pub options: KShotOptions,
}

fn prototypes_only() -> Vec<Method> {
    vec![Method::Prototype]
}

fn no_tta() -> Vec<Tta> {
    vec![Tta::None]
}

/// What to sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// Everything a grid axis does not set.
    pub base: TrainConfig,
    /// The grid.
    pub grid: Grid,
    /// The evaluation of each run.
    pub kshot: KShotSpec,
}

impl SweepSpec {
    /// Checks every configuration and the k-shot spec; the error names the value.
    pub fn validate(&self) -> Result<(), SweepError> {
        let n = self.grid.size();
        if n > MAX_JOBS {
            return Err(SweepError::Invalid(format!(
                "the grid has {n} configurations; at most {MAX_JOBS} per sweep"
            )));
        }
        for s in Setting::ALL {
            let why = if s == Setting::Seed {
                "each value is one point of the grid, so the same configuration would be trained twice and counted as two seeds"
            } else {
                "each value is one point of the grid, so the same configuration would be trained twice"
            };
            let flag = s.field().replace('_', "-");
            Repeated::check(&flag, &self.grid.axis(s), SettingValue::text, why)?;
        }
        for c in self.grid.configs(&self.base) {
            c.validate()?;
        }
        if !self.base.base.is_dir() {
            return Err(SweepError::Invalid(format!(
                "base dataset folder {} does not exist or is not a folder",
                self.base.base.display()
            )));
        }
        if !self.kshot.target.is_dir() {
            return Err(SweepError::Invalid(format!(
                "target dataset folder {} does not exist or is not a folder",
                self.kshot.target.display()
            )));
        }
        if self.kshot.ks.is_empty() {
            return Err(SweepError::Invalid("--k needs at least one value".into()));
        }
        if self.kshot.normalizations.is_empty() {
            return Err(SweepError::Invalid(
                "--normalize needs at least one value".into(),
            ));
        }
        if self.kshot.methods.is_empty() {
            return Err(SweepError::Invalid(
                "--method needs at least one value".into(),
            ));
        }
        if self.kshot.ttas.is_empty() {
            return Err(SweepError::Invalid("--tta needs at least one value".into()));
        }
        let o = &self.kshot.options;
        Repeated::check(
            "k",
            &self.kshot.ks,
            usize::to_string,
            "each k is one bank every run is evaluated on",
        )?;
        o.validate(&self.kshot.ks)?;
        // Every job's evaluation draws from this target: check now, from its labels, that
        // the banks can be drawn, rather than after training every job.
        let target = evaluate::scan_target(&self.kshot.target).map_err(KShotError::from)?;
        evaluate::check_bank(&target, o, &self.kshot.ks)?;
        Ok(())
    }
}

/// One training run of the sweep and its evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Position in the sweep (0-based).
    pub index: usize,
    /// The run's id, fixed when the sweep is created.
    pub run_id: String,
    /// Its configuration (the device is chosen when it runs).
    pub config: TrainConfig,
}

/// A sweep as saved in `sweeps/<id>/sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Id (folder name).
    pub id: String,
    /// Seconds since the Unix epoch at creation.
    pub created_unix: u64,
    /// What was asked for.
    pub spec: SweepSpec,
    /// The jobs, in the order they are run.
    pub jobs: Vec<Job>,
}

/// `runs/sweeps`.
pub fn sweeps_dir(runs_dir: &Path) -> PathBuf {
    runs_dir.join("sweeps")
}

/// The jobs of sweep `id`: one per configuration of the grid, with its run id fixed.
pub fn jobs(id: &str, spec: &SweepSpec) -> Vec<Job> {
    spec.grid
        .configs(&spec.base)
        .into_iter()
        .enumerate()
        .map(|(index, config)| Job {
            index,
            run_id: format!(
                "{id}-j{index:02}-{}-s{}",
                config.objective.as_str(),
                config.seed
            ),
            config,
        })
        .collect()
}

impl Sweep {
    /// Creates a new sweep folder (`sweep-<time>`, with a suffix when another sweep took that
    /// second, on this machine or another one sharing the folder) and saves the plan.
    pub fn create(runs_dir: &Path, spec: SweepSpec) -> Result<Sweep, SweepError> {
        spec.validate()?;
        let root = sweeps_dir(runs_dir);
        std::fs::create_dir_all(&root).map_err(crate::files::IoError::at("create", &root))?;
        let now = unix_now();
        let stem = format!("sweep-{}", timestamp(now));
        let mut id = None;
        for n in 0..1000 {
            let candidate = if n == 0 {
                stem.clone()
            } else {
                format!("{stem}-{n}")
            };
            match std::fs::create_dir(root.join(&candidate)) {
                Ok(()) => {
                    id = Some(candidate);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(
                        crate::files::IoError::at("create", root.join(&candidate))(e).into(),
                    );
                }
            }
        }
        let id = id.ok_or(SweepError::TooMany(stem))?;
        let jobs = jobs(&id, &spec);
        let sweep = Sweep {
            id,
            created_unix: now,
            spec,
            jobs,
        };
        write_json(&sweep.dir(runs_dir).join("sweep.json"), &sweep)?;
        Ok(sweep)
    }

    /// Opens sweep `id` (or `latest`) of `runs_dir`.
    pub fn open(runs_dir: &Path, id: &str) -> Result<Sweep, SweepError> {
        if id == "latest" {
            return Sweep::list(runs_dir)
                .pop()
                .ok_or_else(|| SweepError::NoSweeps(runs_dir.into()));
        }
        let file = sweeps_dir(runs_dir).join(id).join("sweep.json");
        if !file.is_file() {
            return Err(SweepError::NotFound {
                id: id.into(),
                runs_dir: runs_dir.into(),
                file,
            });
        }
        Ok(read_json(&file)?)
    }

    /// Every sweep of `runs_dir`, oldest first.
    pub fn list(runs_dir: &Path) -> Vec<Sweep> {
        let mut out: Vec<Sweep> = std::fs::read_dir(sweeps_dir(runs_dir))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| read_json(&e.path().join("sweep.json")).ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a: &Sweep, b| (a.created_unix, &a.id).cmp(&(b.created_unix, &b.id)));
        out
    }

    /// The sweep's folder.
    pub fn dir(&self, runs_dir: &Path) -> PathBuf {
        sweeps_dir(runs_dir).join(&self.id)
    }

    /// The k-shot options of one evaluation of the spec: one k, one cell of the grid.
    pub fn kshot_options(
        &self,
        k: usize,
        normalize: Normalization,
        method: Method,
        tta: Tta,
    ) -> KShotOptions {
        KShotOptions {
            k,
            normalize,
            method,
            tta,
            ..self.spec.kshot.options.clone()
        }
    }
}
