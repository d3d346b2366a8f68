//! The training settings a sweep's grid can vary, declared once: their names, and how each
//! is read from and written into a [`TrainConfig`]. The sweep grid's jobs, the sweep
//! explorer's columns and the overlay legend go through this table.

use super::TrainConfig;
use crate::model::Objective;

/// A value of a [`Setting`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingValue {
    /// The objective.
    Objective(Objective),
    /// A count or seed.
    Int(u64),
    /// A real number.
    Real(f64),
}

impl SettingValue {
    /// As written in legends and files (`aam`, `64`, `0.3`, `0.001`).
    pub fn text(&self) -> String {
        match self {
            SettingValue::Objective(o) => o.as_str().into(),
            SettingValue::Int(v) => v.to_string(),
            SettingValue::Real(v) => v.to_string(),
        }
    }
}

/// A training setting a sweep's grid can vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setting {
    /// Softmax, ArcFace or ArcFace + consistency.
    Objective,
    /// The training seed.
    Seed,
    /// ArcFace margin (radians).
    Margin,
    /// ArcFace scale.
    Scale,
    /// Weight λ of the rotation-consistency loss.
    Lambda,
    /// Square image side in pixels.
    ImageSize,
    /// Epochs.
    Epochs,
    /// Adam learning rate.
    Lr,
    /// Images per step.
    BatchSize,
}

impl Setting {
    /// In the order the explorer and legends list them.
    pub const ALL: [Setting; 9] = [
        Setting::Objective,
        Setting::Seed,
        Setting::Margin,
        Setting::Scale,
        Setting::Lambda,
        Setting::ImageSize,
        Setting::Epochs,
        Setting::Lr,
        Setting::BatchSize,
    ];

    /// The order a sweep's jobs vary them in, slowest first: the objective varies fastest,
    /// then the seed, so the first finished jobs already compare every objective on one seed.
    pub const NESTING: [Setting; 9] = [
        Setting::Epochs,
        Setting::ImageSize,
        Setting::Lr,
        Setting::BatchSize,
        Setting::Margin,
        Setting::Scale,
        Setting::Lambda,
        Setting::Seed,
        Setting::Objective,
    ];

    /// Short name: the explorer's column and what its filters name (no spaces).
    pub fn name(self) -> &'static str {
        match self {
            Setting::Objective => "objective",
            Setting::Seed => "seed",
            Setting::Margin => "margin",
            Setting::Scale => "scale",
            Setting::Lambda => "lambda",
            Setting::ImageSize => "px",
            Setting::Epochs => "epochs",
            Setting::Lr => "lr",
            Setting::BatchSize => "batch",
        }
    }

    /// The [`TrainConfig`] field it sets, as the CLI's flag names it with `-` for `_`
    /// (`image_size`, `batch_size`; the ArcFace pair without its `aam.`).
    pub fn field(self) -> &'static str {
        match self {
            Setting::ImageSize => "image_size",
            Setting::BatchSize => "batch_size",
            other => other.name(),
        }
    }

    /// As a legend names it (`λ` for the consistency weight).
    pub fn label(self) -> &'static str {
        match self {
            Setting::Lambda => "λ",
            other => other.name(),
        }
    }

    /// Its value in `c`.
    pub fn get(self, c: &TrainConfig) -> SettingValue {
        use SettingValue::{Int, Real};
        match self {
            Setting::Objective => SettingValue::Objective(c.objective),
            Setting::Seed => Int(c.seed),
            Setting::Margin => Real(c.aam.margin),
            Setting::Scale => Real(c.aam.scale),
            Setting::Lambda => Real(c.lambda),
            Setting::ImageSize => Int(u64::from(c.image_size)),
            Setting::Epochs => Int(c.epochs as u64),
            Setting::Lr => Real(c.lr),
            Setting::BatchSize => Int(c.batch_size as u64),
        }
    }

    /// Sets it to `v` in `c`; a value of another kind (a number for the objective, a word
    /// for a number) leaves `c` as it is.
    pub fn set(self, c: &mut TrainConfig, v: SettingValue) {
        use SettingValue::{Int, Objective, Real};
        match (self, v) {
            (Setting::Objective, Objective(o)) => c.objective = o,
            (Setting::Seed, Int(v)) => c.seed = v,
            (Setting::Margin, Real(v)) => c.aam.margin = v,
            (Setting::Scale, Real(v)) => c.aam.scale = v,
            (Setting::Lambda, Real(v)) => c.lambda = v,
            (Setting::ImageSize, Int(v)) => c.image_size = u32::try_from(v).unwrap_or(u32::MAX),
            (Setting::Epochs, Int(v)) => c.epochs = usize::try_from(v).unwrap_or(usize::MAX),
            (Setting::Lr, Real(v)) => c.lr = v,
            (Setting::BatchSize, Int(v)) => c.batch_size = usize::try_from(v).unwrap_or(usize::MAX),
            _ => {}
        }
    }
}
