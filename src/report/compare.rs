//! Runs compared on one chart: each run's curves (per-step loss, per-epoch train and
//! validation loss and accuracy) read from its folder, what differs between runs in words
//! (the legend), exponential smoothing, and seed groups — runs that differ only in the
//! training seed — drawn as a mean with a ±1 sd band. Seed groups use Table 1's grouping
//! ([`super::table1::configuration`] and the objective), so a band and a Table 1 row hold the
//! same runs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::Objective;
use crate::runs::{EpochSummary, MetricRecord, RunDir, Setting, TrainConfig};

/// A curve a comparison draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Total loss of each optimisation step.
    StepLoss,
    /// Mean training loss of each epoch.
    TrainLoss,
    /// Validation loss after each epoch.
    ValLoss,
    /// Training accuracy of each epoch.
    TrainAccuracy,
    /// Validation accuracy after each epoch.
    ValAccuracy,
}

impl Metric {
    /// Every metric, in the order the console cycles them.
    pub const ALL: [Metric; 5] = [
        Metric::StepLoss,
        Metric::TrainLoss,
        Metric::ValLoss,
        Metric::TrainAccuracy,
        Metric::ValAccuracy,
    ];

    /// Name for titles and legends.
    pub fn label(self) -> &'static str {
        match self {
            Metric::StepLoss => "loss per step",
            Metric::TrainLoss => "train loss",
            Metric::ValLoss => "val loss",
            Metric::TrainAccuracy => "train accuracy",
            Metric::ValAccuracy => "val accuracy",
        }
    }

    /// What one point of the curve is: a step or an epoch.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::StepLoss => "step",
            _ => "epoch",
        }
    }

    /// A loss (log axis makes sense) rather than an accuracy.
    pub fn is_loss(self) -> bool {
        matches!(self, Metric::StepLoss | Metric::TrainLoss | Metric::ValLoss)
    }

    /// The next metric (wrapping).
    pub fn next(self) -> Metric {
        let i = Metric::ALL.iter().position(|m| *m == self).unwrap_or(0);
        Metric::ALL[(i + 1) % Metric::ALL.len()]
    }
}

/// One run's curves, as its folder holds them now.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    /// Run id.
    pub id: String,
    /// Run folder.
    pub path: PathBuf,
    /// Its training configuration.
    pub config: TrainConfig,
    /// Total loss per step, in step order (after a resume, the last record of a step).
    pub step_loss: Vec<f64>,
    /// Epoch summaries in epoch order (the last one per epoch).
    pub epochs: Vec<EpochSummary>,
}

impl Curves {
    /// Reads a run's `config.json` and `metrics.jsonl`.
    pub fn load(run: &RunDir) -> Result<Curves, crate::runs::RunsError> {
        let info = run.info()?;
        let (records, _) = run.metrics();
        let mut steps: BTreeMap<(usize, usize), f64> = BTreeMap::new();
        let mut epochs: BTreeMap<usize, EpochSummary> = BTreeMap::new();
        for r in records {
            match r {
                MetricRecord::Step {
                    epoch, step, loss, ..
                } => {
                    steps.insert((epoch, step), loss);
                }
                MetricRecord::Epoch(e) => {
                    epochs.insert(e.epoch, e);
                }
                _ => {}
            }
        }
        Ok(Curves {
            id: info.id,
            path: run.path.clone(),
            config: info.config,
            step_loss: steps.into_values().collect(),
            epochs: epochs.into_values().collect(),
        })
    }

    /// The values of one metric, one per step or epoch.
    pub fn series(&self, metric: Metric) -> Vec<f64> {
        let per_epoch = |f: fn(&EpochSummary) -> f64| self.epochs.iter().map(f).collect();
        match metric {
            Metric::StepLoss => self.step_loss.clone(),
            Metric::TrainLoss => per_epoch(|e| e.train_loss),
            Metric::ValLoss => per_epoch(|e| e.val_loss),
            Metric::TrainAccuracy => per_epoch(|e| e.train_accuracy),
            Metric::ValAccuracy => per_epoch(|e| e.val_accuracy),
        }
    }

    /// Best validation accuracy over the epochs so far.
    pub fn best_val_accuracy(&self) -> Option<f64> {
        self.epochs.iter().map(|e| e.val_accuracy).reduce(f64::max)
    }
}

/// Exponential moving average: `s₀ = x₀`, `sᵢ = w·sᵢ₋₁ + (1 − w)·xᵢ` (`w = 0`: the raw
/// values). Every series and overlay is smoothed the same way.
pub fn ema(values: &[f64], weight: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    let mut acc: Option<f64> = None;
    for &v in values {
        let next = acc.map_or(v, |a| weight * a + (1.0 - weight) * v);
        acc = Some(next);
        out.push(next);
    }
    out
}

/// A configuration field that can tell runs apart, besides the grid's settings: its name
/// and its value in words.
type Field = (&'static str, fn(&TrainConfig) -> String);

/// The fields a legend may name after the grid's settings, in the order it names them.
const OTHER_FIELDS: [Field; 4] = [
    ("per class", |c| {
        c.limit_per_class.map_or("all".into(), |n| n.to_string())
    }),
    ("BN recal.", |c| c.bn_recalibration.to_string()),
    ("from", |c| {
        c.init.as_ref().map_or("random".into(), |p| {
            p.file_name()
                .map_or(p.display().to_string(), |n| n.to_string_lossy().into())
        })
    }),
    ("base", |c| c.base.display().to_string()),
];

/// A field's value in words.
type FieldValue = Box<dyn Fn(&TrainConfig) -> String>;

/// Every field a legend may name, in legend order: the grid's settings, then the others.
fn fields() -> impl Iterator<Item = (&'static str, FieldValue)> {
    let settings = Setting::ALL.into_iter().map(|s| {
        let value: FieldValue = Box::new(move |c| s.get(c).text());
        (s.label(), value)
    });
    let others = OTHER_FIELDS.into_iter().map(|(name, f)| {
        let value: FieldValue = Box::new(f);
        (name, value)
    });
    settings.chain(others)
}

/// The names of the fields whose values differ between `configs`, in legend order.
pub fn differing(configs: &[&TrainConfig]) -> Vec<&'static str> {
    fields()
        .filter(|(_, value)| {
            let mut values = configs.iter().map(|c| value(c));
            values
                .next()
                .is_some_and(|first| values.any(|v| v != first))
        })
        .map(|(name, _)| name)
        .collect()
}

/// A configuration named by the given fields: `aam · seed 1 · margin 0.3` (the objective
/// alone is its own name). Empty when `fields` is.
pub fn label(config: &TrainConfig, names: &[&str]) -> String {
    fields()
        .filter(|(name, _)| names.contains(name))
        .map(|(name, value)| {
            if name == "objective" {
                value(config)
            } else {
                format!("{name} {}", value(config))
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Runs that differ only in the training seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedGroup {
    /// The group's objective.
    pub objective: Objective,
    /// The shared configuration without objective and seed (Table 1's grouping key).
    pub configuration: String,
    /// Indices of the member runs, in the order given.
    pub members: Vec<usize>,
}

/// Groups runs by Table 1's key: the configuration without objective and seed, and the
/// objective. Groups come in the order of their first member.
pub fn seed_groups(configs: &[&TrainConfig]) -> Vec<SeedGroup> {
    let mut groups: Vec<SeedGroup> = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let configuration = super::table1::configuration(c);
        match groups
            .iter_mut()
            .find(|g| g.objective == c.objective && g.configuration == configuration)
        {
            Some(g) => g.members.push(i),
            None => groups.push(SeedGroup {
                objective: c.objective,
                configuration,
                members: vec![i],
            }),
        }
    }
    groups
}

/// Mean and ±1 sd of several series, point by point.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Band {
    /// Mean over the series that reach this point.
    pub mean: Vec<f64>,
    /// Sample standard deviation (n − 1) over them; 0 where only one does.
    pub sd: Vec<f64>,
    /// How many series reach this point (runs still training are shorter).
    pub n: Vec<usize>,
}

/// The band of `series`: at point `i`, the series longer than `i`.
pub fn band(series: &[Vec<f64>]) -> Band {
    let len = series.iter().map(Vec::len).max().unwrap_or(0);
    let mut b = Band::default();
    for i in 0..len {
        let values: Vec<f64> = series.iter().filter_map(|s| s.get(i).copied()).collect();
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        b.mean.push(mean);
        b.sd.push(sd);
        b.n.push(n);
    }
    b
}
