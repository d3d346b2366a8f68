//! Table 1 with error bars against hand-computed values: runs grouped by configuration,
//! mean ± std over training seeds, and the paired bootstrap difference to the baseline.

use std::path::PathBuf;

use bloodshot::fewshot::evaluate::{KShotOptions, KShotResult, Protocol};
use bloodshot::fewshot::metrics::{ConfusionMatrix, DrawMetrics, KShotSummary};
use bloodshot::model::Objective;
use bloodshot::report::RunReport;
use bloodshot::report::table1::{self, bootstrap};
use bloodshot::runs::{RunInfo, RunState, RunStatus, TrainConfig};

/// A 10-query two-class draw with `correct` right answers.
fn draw(correct: u64) -> DrawMetrics {
    let mut cm = ConfusionMatrix::new(2);
    for i in 0..10 {
        let truth = (i % 2) as usize;
        let pred = if i < correct { truth } else { 1 - truth };
        cm.add(truth, pred);
    }
    DrawMetrics::from_confusion(cm)
}

fn run(objective: Objective, seed: u64, image_size: u32, correct: &[u64]) -> RunReport {
    let draws: Vec<DrawMetrics> = correct.iter().map(|&c| draw(c)).collect();
    let id = format!("{}-s{seed}-{image_size}", objective.as_str());
    RunReport {
        info: RunInfo {
            id: id.clone(),
            config: TrainConfig {
                objective,
                seed,
                image_size,
                base: PathBuf::from("/data/aml"),
                ..Default::default()
            },
            classes: vec!["LYT".into(), "NGS".into()],
            split_sizes: [70, 10, 20],
            device: "cpu".into(),
            version: "0.1.0".into(),
            burn_version: "0.22.1".into(),
            git_commit: None,
            created_unix: seed,
            source: None,
        },
        status: RunStatus::ended(RunState::Finished, 6, None),
        epochs: vec![],
        base_test: None,
        kshot: vec![KShotResult {
            run_id: id,
            epoch: 6,
            target: PathBuf::from("/data/cnmc"),
            options: KShotOptions {
                k: 10,
                draws: draws.len(),
                ..Default::default()
            },
            protocol: Protocol::HeldoutTest,
            classes: vec!["all".into(), "hem".into()],
            support_pool: 100,
            queries: 10,
            summary: KShotSummary::from_draws(&draws),
            sweep: vec![],
            collapse: None,
        }],
    }
}

/// Softmax 0.7 on both seeds; ArcFace +0.2 on every draw of both seeds; AAM+consistency
/// +0.0 on seed 0 and +0.1 on seed 1.
fn sweep_runs() -> Vec<RunReport> {
    vec![
        run(Objective::Softmax, 0, 224, &[6, 8]),
        run(Objective::Softmax, 1, 224, &[7, 7]),
        run(Objective::Aam, 0, 224, &[8, 10]),
        run(Objective::Aam, 1, 224, &[9, 9]),
        run(Objective::AamConsistency, 0, 224, &[6, 8]),
        run(Objective::AamConsistency, 1, 224, &[8, 8]),
    ]
}

#[test]
fn rows_hold_mean_and_std_over_seeds_and_the_paired_difference() {
    let table = table1::build(&sweep_runs(), Objective::Softmax);
    assert_eq!(table.groups.len(), 1, "one configuration, one bank");
    let g = &table.groups[0];
    assert_eq!(g.baseline, Objective::Softmax);
    let row = |o: Objective| g.rows.iter().find(|r| r.objective == o).unwrap();

    let soft = row(Objective::Softmax);
    assert_eq!(soft.seeds.len(), 2);
    assert!((soft.accuracy.mean - 0.7).abs() < 1e-12);
    assert!(soft.accuracy.std.abs() < 1e-12);
    assert!(soft.vs_baseline.is_none(), "the baseline has no difference");

    let aam = row(Objective::Aam);
    assert!((aam.accuracy.mean - 0.9).abs() < 1e-12);
    let d = aam.vs_baseline.unwrap();
    // Every paired difference is +0.2: every resample is too.
    assert!((d.mean - 0.2).abs() < 1e-12);
    assert!((d.low - 0.2).abs() < 1e-12 && (d.high - 0.2).abs() < 1e-12);
    assert!(d.significant());
    assert_eq!((d.seeds, d.draws), (2, 2));

    let cons = row(Objective::AamConsistency);
    // Per-seed means 0.7 and 0.8: mean 0.75, sample std √(2·0.05²/1) = 0.0707…
    assert!((cons.accuracy.mean - 0.75).abs() < 1e-12);
    assert!((cons.accuracy.std - 0.05 * 2f64.sqrt()).abs() < 1e-12);
    let d = cons.vs_baseline.unwrap();
    // Seed differences 0.0 and 0.1 (constant over draws): a resample averages 0, 0.05 or
    // 0.1, with 0 (both draws of seed 0) a quarter of the time, so the 2.5 % end is 0.
    assert!((d.mean - 0.05).abs() < 1e-12);
    assert!(d.low.abs() < 1e-12, "low {}", d.low);
    assert!((d.high - 0.1).abs() < 1e-12, "high {}", d.high);
    assert!(!d.significant());

    let mut md = String::new();
    table1::render(&mut md, &table);
    assert!(md.contains("| softmax | 2 | 0.700 ± 0.000 |"), "{md}");
    assert!(md.contains("| +0.200 [+0.200, +0.200] |"), "{md}");
    assert!(
        md.contains("+0.050 [+0.000, +0.100] not significant"),
        "{md}"
    );
    assert!(
        md.contains("two-level bootstrap"),
        "the method is named: {md}"
    );
}

#[test]
fn configurations_and_missing_seeds_are_kept_apart() {
    let mut runs = sweep_runs();
    // Another image size is another configuration: its own group.
    runs.push(run(Objective::Softmax, 0, 64, &[5, 5]));
    // ArcFace at 64 px only on a seed Softmax lacks there: no shared seed, no difference.
    runs.push(run(Objective::Aam, 7, 64, &[9, 9]));
    let table = table1::build(&runs, Objective::Softmax);
    assert_eq!(table.groups.len(), 2);
    let small = table
        .groups
        .iter()
        .find(|g| g.configuration.contains("64 px"))
        .unwrap();
    let aam = small
        .rows
        .iter()
        .find(|r| r.objective == Objective::Aam)
        .unwrap();
    assert!(aam.vs_baseline.is_none());
    let cells = table1::row_cells(small, aam);
    assert!(cells[4].contains("no shared seeds"), "{cells:?}");
    // One training seed (9 of 10 right in both draws): the mean, and no "± 0.000" spread.
    assert_eq!(cells[1], "1");
    assert_eq!(cells[2], "0.900", "{cells:?}");
    let mut md = String::new();
    table1::render(&mut md, &table);
    assert!(
        md.contains("intervals cover the support-set draws only"),
        "one seed per objective is said: {md}"
    );
}

#[test]
fn bootstrap_edges() {
    assert!(bootstrap(&[], 100, 0).is_none());
    assert!(bootstrap(&[vec![0.1, 0.2], vec![0.3]], 100, 0).is_none());
    // Symmetric differences around 0 on one seed: the interval spans 0.
    let d = bootstrap(&[vec![-0.1, 0.1, -0.1, 0.1]], 2000, 0).unwrap();
    assert!(d.mean.abs() < 1e-12 && d.low < 0.0 && d.high > 0.0);
    assert!(!d.significant());
    // Same seed, same answer: the table is reproducible.
    assert_eq!(
        bootstrap(&[vec![0.1, 0.3, 0.2]], 500, 7),
        bootstrap(&[vec![0.1, 0.3, 0.2]], 500, 7)
    );
}
