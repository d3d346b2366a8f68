//! The markdown report against hand-made run data: configuration, epoch table, base-test
//! table, k-shot block, sweep and the comparison of objectives (the seed's Table 1 shape).

use std::path::PathBuf;

use bloodshot::fewshot::evaluate::{KShotOptions, KShotResult, Protocol, SweepPoint};
use bloodshot::fewshot::method::Method;
use bloodshot::fewshot::metrics::{ConfusionMatrix, DrawMetrics, KShotSummary};
use bloodshot::fewshot::score::{CollapseStats, Normalization};
use bloodshot::model::Objective;
use bloodshot::report::{RunReport, render};
use bloodshot::runs::{EpochSummary, RunInfo, RunState, RunStatus, TrainConfig};
use bloodshot::train::base_test::BaseTestReport;

fn draw(tp: u64, fn_: u64, fp: u64, tn: u64) -> DrawMetrics {
    let mut cm = ConfusionMatrix::new(2);
    for _ in 0..tp {
        cm.add(0, 0);
    }
    for _ in 0..fn_ {
        cm.add(0, 1);
    }
    for _ in 0..fp {
        cm.add(1, 0);
    }
    for _ in 0..tn {
        cm.add(1, 1);
    }
    DrawMetrics::from_confusion(cm)
}

fn report(id: &str, objective: Objective, draws: &[DrawMetrics]) -> RunReport {
    let config = TrainConfig {
        objective,
        base: PathBuf::from("/data/aml"),
        ..Default::default()
    };
    let summary = KShotSummary::from_draws(draws).unwrap();
    RunReport {
        info: RunInfo {
            id: id.into(),
            config,
            classes: vec!["LYT".into(), "NGS".into()],
            split_sizes: [70, 10, 20],
            device: "cpu".into(),
            version: "0.1.0".into(),
            burn_version: "0.22.1".into(),
            git_commit: Some("abc123".into()),
            created_unix: 0,
            source: None,
        },
        status: RunStatus {
            state: RunState::Finished,
            last_epoch: 1,
            message: None,
            pid: None,
            host: None,
        },
        epochs: vec![EpochSummary {
            epoch: 1,
            train_loss: 1.25,
            train_consistency: 0.0,
            train_accuracy: 0.5,
            val_loss: 1.5,
            val_accuracy: 0.625,
            seconds: 10.0,
            images_per_sec: 7.0,
        }],
        base_test: Some(BaseTestReport::from_predictions(
            vec!["LYT".into(), "NGS".into()],
            1,
            &[0, 0, 1, 1],
            &[0, 1, 1, 1],
        )),
        kshot: vec![KShotResult {
            run_id: id.into(),
            epoch: 1,
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
            summary: Some(summary.clone()),
            sweep: vec![
                SweepPoint {
                    k: 1,
                    summary: summary.clone(),
                },
                SweepPoint { k: 10, summary },
            ],
            collapse: None,
        }],
    }
}

#[test]
fn report_sections_carry_the_numbers() {
    // Draw accuracies 0.8 and 0.6 → mean 0.700, sample std 0.141.
    let a = report(
        "run-a",
        Objective::Softmax,
        &[draw(5, 0, 2, 3), draw(4, 1, 3, 2)],
    );
    let md = render(&a, &[]);
    assert!(md.contains("# BloodShot run `run-a`"));
    assert!(md.contains("| git commit | abc123 |"));
    // Softmax has no consistency loss: a dash, not a zero.
    assert!(
        md.contains("| 1 | 1.2500 | – | 0.500 | 1.5000 | 0.625 | 10.0 | 7.0 |"),
        "{md}"
    );
    let mut c = report("run-c", Objective::AamConsistency, &[draw(5, 0, 2, 3)]);
    c.epochs[0].train_consistency = 0.25;
    let md_c = render(&c, &[]);
    assert!(
        md_c.contains("| 1 | 1.2500 | 0.2500 | 0.500 | 1.5000 | 0.625 | 10.0 | 7.0 |"),
        "{md_c}"
    );
    // Base test: LYT precision 1/1, recall 1/2 → F1 0.667; NGS precision 2/3, recall 1.
    assert!(md.contains("| LYT | 1.000 | 0.500 | 0.667 | 2 |"), "{md}");
    assert!(md.contains("| NGS | 0.667 | 1.000 | 0.800 | 2 |"), "{md}");
    assert!(md.contains("accuracy **0.700 ± 0.141**"), "{md}");
    assert!(
        md.contains("| **all** | 9 | 1 |") && md.contains("| **hem** | 5 | 5 |"),
        "summed confusion: {md}"
    );
    assert!(md.contains("| 10 | 0.700 ± 0.141 |"), "sweep row: {md}");
    assert!(
        !md.contains("## Objectives compared"),
        "no comparison with a single run"
    );
}

#[test]
fn comparison_table_lists_each_objective_on_the_same_draws() {
    let a = report(
        "run-a",
        Objective::Softmax,
        &[draw(5, 0, 2, 3), draw(4, 1, 3, 2)],
    );
    let b = report(
        "run-b",
        Objective::AamConsistency,
        &[draw(5, 0, 0, 5), draw(5, 0, 1, 4)],
    );
    let md = render(&a, &[a.clone(), b]);
    assert!(md.contains("## Objectives compared"));
    assert!(
        md.contains("| softmax | `run-a` | 0.625 | 0.700 ± 0.141 |"),
        "{md}"
    );
    // run-b: accuracies 1.0 and 0.9 → 0.950 ± 0.071.
    assert!(
        md.contains("| AAMSoftmax + consistency | `run-b` | 0.625 | 0.950 ± 0.071 |"),
        "{md}"
    );
}

#[test]
fn a_by_subject_result_is_headed_apart_from_the_plain_one_and_never_compared_with_it() {
    let mut a = report(
        "run-a",
        Objective::Softmax,
        &[draw(5, 0, 2, 3), draw(4, 1, 3, 2)],
    );
    a.kshot[0].protocol = Protocol::Pool;
    a.kshot[0].sweep.clear();
    let mut apart = a.kshot[0].clone();
    apart.options.by_subject = true;
    // Draw accuracies 1.0 and 0.9 → 0.950 ± 0.071 with subjects kept apart.
    apart.summary = KShotSummary::from_draws(&[draw(5, 0, 0, 5), draw(5, 0, 1, 4)]);
    a.kshot.push(apart);
    let md = render(&a, &[]);
    let plain = "### k = 10, 2 draws, seed 0, protocol pool, normalisation none (epoch 1)";
    let by = "### k = 10, 2 draws, seed 0, protocol pool by subject, normalisation none (epoch 1)";
    assert_eq!(md.matches(plain).count(), 1, "{md}");
    assert_eq!(md.matches(by).count(), 1, "{md}");
    let after = |heading: &str| md.split(heading).nth(1).unwrap().to_string();
    assert!(after(plain).contains("accuracy **0.700 ± 0.141**"), "{md}");
    assert!(after(by).contains("accuracy **0.950 ± 0.071**"), "{md}");

    // Another run evaluated only by subject is compared on that evaluation alone; the plain
    // one, which no other run shares, is named in a sentence instead of a one-row table.
    let mut b = report(
        "run-b",
        Objective::Aam,
        &[draw(5, 0, 0, 5), draw(5, 0, 0, 5)],
    );
    b.kshot[0].protocol = Protocol::Pool;
    b.kshot[0].options.by_subject = true;
    let md = render(&a, &[a.clone(), b]);
    let table = md
        .split("Same base data, k = 10, 2 draws (seed 0, same support sets), protocol pool by subject, normalisation none:")
        .nth(1)
        .unwrap_or_else(|| panic!("no comparison in {md}"))
        .split("\n\n")
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        table.contains("| softmax | `run-a` | 0.625 | 0.950 ± 0.071 |"),
        "{table}"
    );
    assert!(
        table.contains("| AAMSoftmax | `run-b` | 0.625 | 1.000 ± 0.000 |"),
        "{table}"
    );
    assert!(!md.contains("protocol pool, normalisation none:"), "{md}");
    assert!(
        md.contains(
            "No other run has a result on: k = 10, 2 draws (seed 0), protocol pool, normalisation none.\n"
        ),
        "{md}"
    );
}

#[test]
fn normalisation_and_collapse_are_carried_into_the_report() {
    let mut a = report(
        "run-a",
        Objective::Aam,
        &[draw(5, 0, 2, 3), draw(4, 1, 3, 2)],
    );
    let mut cl2n = a.kshot[0].clone();
    cl2n.options.normalize = Normalization::Cl2n;
    // Draw accuracies 1.0 and 0.9 → 0.950 ± 0.071 under cl2n.
    cl2n.summary = KShotSummary::from_draws(&[draw(5, 0, 0, 5), draw(5, 0, 1, 4)]);
    cl2n.sweep.clear();
    cl2n.collapse = Some(CollapseStats {
        n: 110,
        mean_unit_norm: 0.99999999,
        mean_pairwise_cosine: 0.999999985,
        median_angle_deg: 0.0071,
    });
    a.kshot.push(cl2n);
    let md = render(&a, &[]);
    // The first carries a sweep over k = 1 and 10, with its details at k = 10.
    assert!(
        md.contains(
            "### k = 10 (sweep 1, 10), 2 draws, seed 0, protocol heldout-test, normalisation none (epoch 1)"
        ),
        "{md}"
    );
    assert!(
        md.contains("### k = 10, 2 draws, seed 0, protocol heldout-test, normalisation cl2n (transductive) (epoch 1)"),
        "{md}"
    );
    assert!(
        md.contains("Transductive: the unlabelled target embeddings"),
        "{md}"
    );
    assert!(
        md.contains("> **Warning.** The target embeddings are directionally collapsed (mean pairwise cosine 0.999999985"),
        "{md}"
    );
    assert!(md.contains("accuracy **0.950 ± 0.071**"), "{md}");

    // Table 1 per normalisation: each run appears under the mode it was evaluated with.
    let mut b = report(
        "run-b",
        Objective::Softmax,
        &[draw(5, 0, 2, 3), draw(5, 0, 2, 3)],
    );
    b.kshot[0].options.normalize = Normalization::Cl2n;
    let md = render(&a, &[a.clone(), b]);
    // Only run-a has a `none` result: named in a sentence, not a table of one row.
    assert!(!md.contains("normalisation none:"), "{md}");
    assert!(
        md.contains("No other run has a result on: k = 10, 2 draws (seed 0), protocol heldout-test, normalisation none.\n"),
        "{md}"
    );
    let cl2n_table = md
        .split("normalisation cl2n (transductive):")
        .nth(1)
        .expect("a cl2n table");
    assert!(
        cl2n_table.contains("| AAMSoftmax | `run-a` | 0.625 | 0.950 ± 0.071 |")
            && cl2n_table.contains("| softmax | `run-b` | 0.625 | 0.800 ± 0.000 |"),
        "{md}"
    );
}

#[test]
fn a_one_class_base_test_is_flagged() {
    let mut a = report("run-a", Objective::Aam, &[draw(5, 0, 2, 3)]);
    a.base_test = Some(BaseTestReport::from_predictions(
        vec!["LYT".into(), "MON".into(), "NGS".into()],
        1,
        &[0, 1, 2, 2],
        &[1, 1, 1, 1],
    ));
    let md = render(&a, &[]);
    assert!(
        md.contains("> **Warning.** Every base-test image was predicted `MON` although the split holds 3 classes"),
        "{md}"
    );
    let ok = render(&report("run-b", Objective::Aam, &[draw(5, 0, 2, 3)]), &[]);
    assert!(!ok.contains("Every base-test image"), "{ok}");
}

#[test]
fn a_bank_saved_again_with_its_sweep_is_reported_once() {
    let mut a = report(
        "run-a",
        Objective::Aam,
        &[draw(5, 0, 2, 3), draw(4, 1, 3, 2)],
    );
    let mut bank_only = a.kshot[0].clone();
    bank_only.sweep.clear();
    a.kshot.insert(0, bank_only.clone());
    // And the very same bank file twice.
    a.kshot.insert(0, bank_only);
    let md = render(&a, &[]);
    assert_eq!(md.matches("accuracy **0.700 ± 0.141**").count(), 1, "{md}");
    assert!(
        md.contains("The bank's numbers are the same as above."),
        "{md}"
    );
    assert!(
        md.contains("| 10 | 0.700 ± 0.141 |"),
        "the sweep still shows: {md}"
    );
}

/// The confusion matrix the CLI prints and the report writes: one table, two renderings.
#[test]
fn confusion_matrix_as_markdown_and_plain_text() {
    use bloodshot::fewshot::metrics::ConfusionMatrix;
    use bloodshot::report::text::confusion;
    let mut cm = ConfusionMatrix::new(2);
    for (t, p, n) in [(0, 0, 548), (0, 1, 262), (1, 0, 114), (1, 1, 7)] {
        for _ in 0..n {
            cm.add(t, p);
        }
    }
    let table = confusion(&["all".to_string(), "hem".to_string()], &cm);
    assert_eq!(
        table.markdown(),
        "| true \\ predicted | all | hem |\n|---|---:|---:|\n| **all** | 548 | 262 |\n| **hem** | 114 | 7 |\n"
    );
    assert_eq!(
        table.plain("  "),
        "  true \\ predicted  all  hem\n  all               548  262\n  hem               114    7\n"
    );
}

/// The same evaluation on two targets: each keeps its own file (the second target's name
/// carries a tag of its path), and evaluating a target again replaces only its own result.
#[test]
fn results_on_two_targets_never_overwrite_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let run = bloodshot::runs::RunDir::create(dir.path(), "aam").unwrap();
    let a = report("run-a", Objective::Aam, &[draw(5, 0, 2, 3)]).kshot[0].clone();
    let mut b = a.clone();
    b.target = PathBuf::from("/data/other-cnmc");
    b.summary = KShotSummary::from_draws(&[draw(5, 0, 0, 5)]);

    let first = a.save(&run).unwrap();
    assert_eq!(first, run.kshot_dir().join(a.file_name()));
    let second = b.save(&run).unwrap();
    assert_ne!(second, first);
    let name = second.file_name().unwrap().to_string_lossy().into_owned();
    let stem = a.file_name().strip_suffix(".json").unwrap().to_string();
    assert!(
        name.starts_with(&format!("{stem}-t"))
            && name.len() == stem.len() + "-t12345678.json".len(),
        "{name}"
    );
    // Again on each target: the same two files, each replaced by its own target's result.
    assert_eq!(a.save(&run).unwrap(), first);
    assert_eq!(b.save(&run).unwrap(), second);
    let mut loaded = KShotResult::load_all(&run);
    loaded.sort_by_key(|r| r.target.clone());
    assert_eq!(loaded, [a, b]);
}

/// The result computed last is the one whose file was written last, whatever the report's
/// order (epoch, k, seed, name) puts last; a result without a summary is passed over, and a
/// run without results has none.
#[test]
fn the_newest_result_is_the_one_written_last() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let run = bloodshot::runs::RunDir::create(dir.path(), "aam").unwrap();
    assert_eq!(KShotResult::newest(&run), None);
    let written_at = |r: &KShotResult, secs: u64| {
        let path = r.save(&run).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    };
    // k = 10 on epoch 1, then k = 2 on epoch 1: the report puts k = 10 last.
    let mut ten = report("run-a", Objective::Aam, &[draw(5, 0, 2, 3)]).kshot[0].clone();
    ten.sweep.clear(); // named by its k alone (a sweep's file is named by the sweep's ks)
    let mut two = ten.clone();
    two.options.k = 2;
    two.summary = KShotSummary::from_draws(&[draw(5, 0, 0, 5)]);
    written_at(&ten, 1_000);
    written_at(&two, 2_000);
    assert_eq!(KShotResult::newest(&run), Some(two.clone()));
    // k = 10 evaluated again: its file is now the newest.
    written_at(&ten, 3_000);
    assert_eq!(KShotResult::newest(&run), Some(ten.clone()));
    // A later result with no summary at its k (a sweep that failed) is passed over.
    let mut empty = ten.clone();
    empty.options.k = 5;
    empty.summary = None;
    written_at(&empty, 4_000);
    assert_eq!(KShotResult::load_all(&run).len(), 3);
    assert_eq!(KShotResult::newest(&run), Some(ten));
}

/// draws.csv names the part a held-out result drew its support from, so results from two
/// parts (two files since `--support-part` is in the name) are not merged in a notebook;
/// the pool protocol, which has no parts, leaves it empty.
#[test]
fn draws_csv_tells_support_parts_apart() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let run = bloodshot::runs::RunDir::create(&runs, "aam").unwrap();
    let rep = report(&run.id(), Objective::Aam, &[draw(5, 0, 2, 3)]);
    run.write_info(&rep.info).unwrap();
    let mut fold0 = rep.kshot[0].clone();
    fold0.sweep.clear();
    let mut fold1 = fold0.clone();
    fold1.options.support_part = "fold_1".into();
    fold1.summary = KShotSummary::from_draws(&[draw(4, 1, 0, 5)]);
    let mut pool = fold0.clone();
    pool.protocol = Protocol::Pool;
    pool.options.protocol = Protocol::Pool;
    pool.summary = KShotSummary::from_draws(&[draw(3, 2, 1, 4)]);
    for r in [&fold0, &fold1, &pool] {
        r.save(&run).unwrap();
    }
    let out = dir.path().join("csv");
    bloodshot::report::csv::write_csv(&runs, &out).unwrap();
    let text = std::fs::read_to_string(out.join("draws.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut rows: Vec<(String, String, String)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[col("protocol")].to_string(),
                f[col("support_part")].to_string(),
                f[col("accuracy")].to_string(),
            )
        })
        .collect();
    rows.sort();
    // Accuracies by hand: 8/10, 9/10 and 7/10.
    assert_eq!(
        rows,
        [
            ("heldout-test".into(), "fold_0".into(), "0.8".into()),
            ("heldout-test".into(), "fold_1".into(), "0.9".into()),
            ("pool".into(), String::new(), "0.7".into()),
        ]
    );
}

/// A result's heading names the ks it holds: a sweep whose `--k` was outside it (so it has
/// no numbers at that k) is headed by the sweep, not by that k.
#[test]
fn a_sweep_is_headed_by_its_ks() {
    use bloodshot::report::markdown::ks_label;
    let mut r = report("run-a", Objective::Aam, &[draw(5, 0, 2, 3)]).kshot[0].clone();
    assert_eq!(ks_label(&r), "k = 10 (sweep 1, 10)");
    r.options.k = 7;
    r.summary = None;
    assert_eq!(ks_label(&r), "k sweep 1, 10");
    let mut a = report("run-a", Objective::Aam, &[draw(5, 0, 2, 3)]);
    a.kshot[0] = r.clone();
    let md = render(&a, &[]);
    assert!(md.contains("### k sweep 1, 10, 1 draw, seed 0"), "{md}");
    assert!(!md.contains("k = 7"), "{md}");
    r.sweep.clear();
    assert_eq!(ks_label(&r), "k = 7");
}

/// One draw and one epoch are written in the singular (the report said "1 draws", "summed
/// over the 1 draws" and "1 epochs").
#[test]
fn one_draw_and_one_epoch_are_singular() {
    use bloodshot::report::text::{count, the_draws, the_same_draws};
    assert_eq!(count(1, "draw"), "1 draw");
    assert_eq!(count(0, "draw"), "0 draws");
    assert_eq!(count(100, "epoch"), "100 epochs");
    assert_eq!(the_draws(1), "the one draw");
    assert_eq!(the_same_draws(7), "the same 7 draws");
    let one = |id: &str, objective| {
        let mut r = report(id, objective, &[draw(5, 0, 2, 3)]);
        r.info.config.epochs = 1;
        r
    };
    let a = one("run-a", Objective::Softmax);
    let b = one("run-b", Objective::Aam);
    let md = render(&a, &[a.clone(), b]);
    assert!(
        md.contains("### k = 10 (sweep 1, 10), 1 draw, seed 0, protocol heldout-test"),
        "{md}"
    );
    assert!(
        md.contains("Confusion matrix summed over the one draw:"),
        "{md}"
    );
    assert!(md.contains(" · 1 epoch · batch "), "{md}");
    assert!(md.contains(" · k = 10 · 1 draw (seed 0) · "), "{md}");
    assert!(!md.contains("1 draws") && !md.contains("1 epochs"), "{md}");
}

/// `--logistic-c` counts for the logistic classifier only: a prototype result saved with
/// `--logistic-c 5` is compared with other runs' prototype results (it was left out, "No other
/// run has a result on …").
#[test]
fn the_logistic_c_of_a_prototype_result_does_not_split_comparisons() {
    use bloodshot::fewshot::evaluate::Cell;
    let mut a = report("run-a", Objective::Softmax, &[draw(5, 0, 2, 3)]);
    a.kshot[0].options.logistic_c = 5.0;
    let b = report("run-b", Objective::Aam, &[draw(4, 1, 2, 3)]);
    assert_eq!(Cell::of(&a.kshot[0].options), Cell::of(&b.kshot[0].options));
    let md = render(&a, &[a.clone(), b.clone()]);
    assert!(md.contains("## Objectives compared"), "{md}");
    assert!(md.contains("| AAMSoftmax | `run-b` |"), "{md}");
    assert!(!md.contains("No other run has a result on"), "{md}");
    // For the logistic classifier C is part of the evaluation.
    let logistic = |c: f64| {
        let mut o = b.kshot[0].options.clone();
        o.method = Method::Logistic;
        o.logistic_c = c;
        Cell::of(&o)
    };
    assert_eq!(logistic(1.0), logistic(1.0));
    assert_ne!(logistic(1.0), logistic(5.0));
}
