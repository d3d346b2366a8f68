//! The seed's Table 1 with error bars: runs grouped by configuration, one row per objective
//! (and k-shot normalisation) with the mean ± std over training seeds of the k-shot accuracy
//! and macro-F1, and the paired difference to a baseline objective.
//!
//! The paired difference is estimated by a two-level bootstrap: each resample draws the
//! training seeds with replacement, then for each drawn seed the k-shot draws with
//! replacement (the same draw indices for both objectives: every run of a group was
//! evaluated on the same seeded bank of support sets, so draw `j` is the same support set for
//! both), and averages the differences. The 95 % interval is the 2.5 and 97.5 percentiles of
//! [`RESAMPLES`] resamples with a fixed seed, so the table is reproducible. It spans both
//! sources of variation, training seeds and support sets; with one seed it covers the draws
//! only, and the table says so.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::fewshot::evaluate::KShotResult;
use crate::fewshot::score::Normalization;
use crate::model::Objective;
use crate::runs::TrainConfig;

use super::RunReport;

pub use crate::fewshot::paired::{PairedDifference, RESAMPLES, bootstrap};

/// One training seed's k-shot result in a cell of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedResult {
    /// Training seed.
    pub train_seed: u64,
    /// Run id.
    pub run_id: String,
    /// Accuracy of each draw of the bank, in draw order.
    pub accuracy: Vec<f64>,
    /// Macro-F1 of each draw (empty for results saved before it was recorded).
    pub macro_f1: Vec<f64>,
}

impl SeedResult {
    fn mean_accuracy(&self) -> f64 {
        mean(&self.accuracy)
    }

    fn mean_macro_f1(&self) -> Option<f64> {
        (!self.macro_f1.is_empty()).then(|| mean(&self.macro_f1))
    }
}

/// Mean ± sample standard deviation over training seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverSeeds {
    /// Mean of the per-seed means.
    pub mean: f64,
    /// Sample standard deviation (n − 1) of the per-seed means; 0 with one seed.
    pub std: f64,
}

impl OverSeeds {
    fn of(values: &[f64]) -> Option<OverSeeds> {
        if values.is_empty() {
            return None;
        }
        let m = mean(values);
        let std = if values.len() > 1 {
            (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (values.len() - 1) as f64)
                .sqrt()
        } else {
            0.0
        };
        Some(OverSeeds { mean: m, std })
    }
}

/// One row: an objective under one normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Objective.
    pub objective: Objective,
    /// Per training seed, in seed order.
    pub seeds: Vec<SeedResult>,
    /// Accuracy over seeds.
    pub accuracy: OverSeeds,
    /// Macro-F1 over seeds (when every seed recorded it).
    pub macro_f1: Option<OverSeeds>,
    /// Accuracy difference to the baseline (`None` for the baseline itself, or without
    /// shared seeds).
    pub vs_baseline: Option<PairedDifference>,
    /// Macro-F1 difference to the baseline.
    pub f1_vs_baseline: Option<PairedDifference>,
}

/// Runs sharing a training configuration (all but objective and seed) and a k-shot
/// evaluation (target, protocol, k, bank).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The shared training configuration, in words.
    pub configuration: String,
    /// The shared k-shot evaluation, in words.
    pub evaluation: String,
    /// Normalisation of this group's k-shot results.
    pub normalize: Normalization,
    /// Baseline objective of the paired differences.
    pub baseline: Objective,
    /// One row per objective, in [`Objective::ALL`] order.
    pub rows: Vec<Row>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table1 {
    /// Groups in a stable order.
    pub groups: Vec<Group>,
}

/// The training configuration without objective and seed, as a grouping key and in words:
/// Table 1 and the seed groups of [`super::compare`] group runs by it (and the objective).
pub fn configuration(c: &TrainConfig) -> String {
    let limit = c
        .limit_per_class
        .map_or(String::new(), |n| format!(" · ≤{n}/class"));
    let init = c.init.as_ref().map_or(String::new(), |p| {
        format!(
            " · from {}",
            p.file_name()
                .map_or(p.display().to_string(), |n| n.to_string_lossy().into())
        )
    });
    format!(
        "{} · {} px · {} · batch {} · lr {} · margin {} · scale {} · λ {}{limit} · BN recal. {}{init}",
        c.base.display(),
        c.image_size,
        super::text::count(c.epochs, "epoch"),
        c.batch_size,
        c.lr,
        c.aam.margin,
        c.aam.scale,
        c.lambda,
        c.bn_recalibration
    )
}

fn evaluation(r: &KShotResult) -> String {
    let o = &r.options;
    format!(
        "{} · k = {} · {} (seed {}) · protocol {}{}{}{}{}{}",
        r.target.display(),
        o.k,
        super::text::count(o.draws, "draw"),
        o.seed,
        r.protocol.as_str(),
        r.support_part()
            .map_or(String::new(), |p| format!(" · support {p}")),
        if o.by_subject { " · by subject" } else { "" },
        if o.with_replacement {
            " · with replacement"
        } else {
            ""
        },
        o.classifier_label()
            .map_or(String::new(), |c| format!(" · classifier {c}")),
        match o.tta {
            crate::fewshot::tta::Tta::None => String::new(),
            t => format!(" · tta {t}"),
        }
    )
}

/// Builds the table from run reports: every finished k-shot bank of every run counts, the
/// latest run per (group, objective, training seed) when a configuration was trained twice.
/// `baseline` is the objective the others are compared with (the first objective present
/// in a group when it lacks the baseline).
pub fn build(runs: &[RunReport], baseline: Objective) -> Table1 {
    let mut cells: Cells = BTreeMap::new();
    let mut sorted: Vec<&RunReport> = runs.iter().collect();
    sorted.sort_by_key(|r| (r.info.created_unix, r.info.id.clone()));
    for run in sorted {
        let cfg = &run.info.config;
        let objective = Objective::ALL
            .iter()
            .position(|o| *o == cfg.objective)
            .unwrap_or(0);
        for k in &run.kshot {
            let Some(s) = &k.summary else { continue };
            if s.draw_accuracies.is_empty() {
                continue;
            }
            let key = (
                configuration(cfg),
                evaluation(k),
                k.options.normalize.index(),
            );
            cells
                .entry(key)
                .or_default()
                .entry(objective)
                .or_default()
                .insert(
                    cfg.seed,
                    SeedResult {
                        train_seed: cfg.seed,
                        run_id: run.info.id.clone(),
                        accuracy: s.draw_accuracies.clone(),
                        macro_f1: s.draw_macro_f1.clone(),
                    },
                );
        }
    }
    let groups = cells
        .into_iter()
        .map(|((configuration, evaluation, mode), by_objective)| {
            let base = if by_objective.contains_key(&objective_index(baseline)) {
                baseline
            } else {
                by_objective
                    .keys()
                    .next()
                    .map_or(baseline, |&i| Objective::ALL[i])
            };
            let base_seeds: Vec<SeedResult> = by_objective
                .get(&objective_index(base))
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            let rows = by_objective
                .into_iter()
                .map(|(i, seeds)| {
                    row(
                        Objective::ALL[i],
                        seeds.into_values().collect(),
                        base,
                        &base_seeds,
                    )
                })
                .collect();
            Group {
                configuration,
                evaluation,
                normalize: Normalization::ALL[mode],
                baseline: base,
                rows,
            }
        })
        .collect();
    Table1 { groups }
}

/// (configuration, evaluation, normalisation) → objective → training seed → result.
type Cells = BTreeMap<(String, String, usize), BTreeMap<usize, BTreeMap<u64, SeedResult>>>;

/// One objective's row: mean ± sd over its training seeds, and the paired differences to
/// the baseline objective's seeds (none on the baseline's own row).
fn row(
    objective: Objective,
    seeds: Vec<SeedResult>,
    base: Objective,
    base_seeds: &[SeedResult],
) -> Row {
    let accs: Vec<f64> = seeds.iter().map(SeedResult::mean_accuracy).collect();
    let f1s: Option<Vec<f64>> = seeds.iter().map(SeedResult::mean_macro_f1).collect();
    let (vs_baseline, f1_vs_baseline) = if objective == base {
        (None, None)
    } else {
        (
            paired(&seeds, base_seeds, |s| &s.accuracy),
            paired(&seeds, base_seeds, |s| &s.macro_f1),
        )
    };
    Row {
        objective,
        accuracy: OverSeeds::of(&accs).unwrap_or(OverSeeds {
            mean: 0.0,
            std: 0.0,
        }),
        macro_f1: f1s.as_deref().and_then(OverSeeds::of),
        seeds,
        vs_baseline,
        f1_vs_baseline,
    }
}

fn objective_index(o: Objective) -> usize {
    Objective::ALL.iter().position(|x| *x == o).unwrap_or(0)
}

/// Per-draw differences on the training seeds both sides have, then [`bootstrap`].
fn paired(
    a: &[SeedResult],
    b: &[SeedResult],
    metric: impl Fn(&SeedResult) -> &Vec<f64>,
) -> Option<PairedDifference> {
    let diffs: Vec<Vec<f64>> = a
        .iter()
        .filter_map(|x| {
            let y = b.iter().find(|y| y.train_seed == x.train_seed)?;
            let (mx, my) = (metric(x), metric(y));
            (mx.len() == my.len() && !mx.is_empty())
                .then(|| mx.iter().zip(my).map(|(p, q)| p - q).collect())
        })
        .collect();
    bootstrap(&diffs, RESAMPLES, 0)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn signed(d: &PairedDifference) -> String {
    d.to_string()
}

/// One row's cells as text: objective, seeds, accuracy, macro-F1, Δ accuracy, Δ macro-F1.
/// With one training seed there is no spread to show: the mean alone.
pub fn row_cells(group: &Group, row: &Row) -> [String; 6] {
    let one_seed = row.seeds.len() < 2;
    let pm = |s: &OverSeeds| {
        if one_seed {
            format!("{:.3}", s.mean)
        } else {
            format!("{:.3} ± {:.3}", s.mean, s.std)
        }
    };
    let delta = |d: &Option<PairedDifference>| {
        if row.objective == group.baseline {
            "baseline".to_string()
        } else {
            d.as_ref().map_or("– (no shared seeds)".into(), signed)
        }
    };
    [
        row.objective.title().to_string(),
        row.seeds.len().to_string(),
        pm(&row.accuracy),
        row.macro_f1.as_ref().map_or("–".into(), pm),
        delta(&row.vs_baseline),
        delta(&row.f1_vs_baseline),
    ]
}

/// The table in markdown, with a sentence on the method.
pub fn render(out: &mut String, table: &Table1) {
    out.push_str("## Table 1: objectives over training seeds\n\n");
    if table.groups.is_empty() {
        out.push_str("No finished k-shot evaluation yet: evaluate runs (`bloodshot kshot` or a sweep) to fill this table.\n\n");
        return;
    }
    out.push_str(
        "Mean ± std over training seeds of each seed's mean over the k-shot draws. Δ is the paired difference to the baseline objective (same training seeds, same support sets) with a 95 % two-level bootstrap interval (seeds, then draws, resampled with replacement; 2000 resamples); \"not significant\" when the interval contains 0.\n\n",
    );
    for g in &table.groups {
        let _ = writeln!(
            out,
            "**{}** — {} — normalisation {}\n",
            g.configuration,
            g.evaluation,
            g.normalize.label()
        );
        let _ = writeln!(
            out,
            "| objective | seeds | accuracy | macro-F1 | Δ accuracy vs {b} [95 % CI] | Δ macro-F1 vs {b} [95 % CI] |",
            b = g.baseline.title()
        );
        out.push_str("|---|---:|---|---|---|---|\n");
        for row in &g.rows {
            let c = row_cells(g, row);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                c[0], c[1], c[2], c[3], c[4], c[5]
            );
        }
        if g.rows.iter().all(|r| r.seeds.len() < 2) {
            out.push_str(
                "\nOne training seed per objective: the intervals cover the support-set draws only, not training variation.\n",
            );
        }
        out.push('\n');
    }
}
