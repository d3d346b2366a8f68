//! Runs compared (issue 21): smoothing, seed bands, what differs between runs, seed groups
//! equal to Table 1's, curves read back from a run folder; the sweep explorer's table,
//! sorting, filters and parallel coordinates; the grid's job order and its settings table —
//! all against hand-computed values.

use std::path::PathBuf;

use bloodshot::fewshot::evaluate::{KShotOptions, KShotResult, Protocol};
use bloodshot::fewshot::metrics::{ConfusionMatrix, DrawMetrics, KShotSummary};
use bloodshot::fewshot::score::Normalization;
use bloodshot::model::Objective;
use bloodshot::report::RunReport;
use bloodshot::report::compare::{self, Curves, Metric, band, ema};
use bloodshot::report::table1;
use bloodshot::runs::{
    EpochSummary, MetricRecord, MetricsWriter, RunDir, RunInfo, RunState, RunStatus, TrainConfig,
};
use bloodshot::sweep::explore::{self, Filter, Value};
use bloodshot::sweep::{Grid, KShotSpec, Sweep, SweepSpec};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn ema_by_hand() {
    // s0 = 1, s1 = 0.5·1 + 0.5·2 = 1.5, s2 = 0.5·1.5 + 0.5·3 = 2.25.
    assert_eq!(ema(&[1.0, 2.0, 3.0], 0.5), vec![1.0, 1.5, 2.25]);
    // s1 = 0.9·10 + 0.1·0 = 9, s2 = 0.9·9 + 0.1·0 = 8.1.
    let s = ema(&[10.0, 0.0, 0.0], 0.9);
    assert!(close(s[1], 9.0) && close(s[2], 8.1), "{s:?}");
    assert_eq!(ema(&[4.0, 1.0], 0.0), vec![4.0, 1.0], "weight 0: raw");
    assert!(ema(&[], 0.9).is_empty());
}

#[test]
fn band_by_hand_with_runs_of_different_lengths() {
    let b = band(&[vec![1.0, 2.0, 3.0], vec![3.0, 4.0], vec![2.0]]);
    // Point 0: {1, 3, 2}: mean 2, sd √((1 + 1 + 0)/2) = 1. Point 1: {2, 4}: mean 3,
    // sd √((1 + 1)/1) = √2. Point 2: {3}: one run, no spread.
    assert_eq!(b.n, vec![3, 2, 1]);
    assert_eq!(b.mean, vec![2.0, 3.0, 3.0]);
    assert!(close(b.sd[0], 1.0) && close(b.sd[1], 2f64.sqrt()) && b.sd[2] == 0.0);
    assert_eq!(band(&[]), Default::default());
}

fn config(objective: Objective, seed: u64, image_size: u32) -> TrainConfig {
    TrainConfig {
        objective,
        seed,
        image_size,
        base: PathBuf::from("/data/aml"),
        ..Default::default()
    }
}

#[test]
fn the_legend_names_what_differs() {
    let a = config(Objective::Aam, 0, 224);
    let b = config(Objective::Aam, 1, 224);
    let c = config(Objective::Softmax, 0, 224);
    let d = TrainConfig {
        aam: bloodshot::model::AamParams {
            margin: 0.3,
            ..a.aam
        },
        ..a.clone()
    };
    assert_eq!(compare::differing(&[&a, &b, &c]), vec!["objective", "seed"]);
    assert_eq!(compare::label(&b, &["objective", "seed"]), "aam · seed 1");
    assert_eq!(compare::differing(&[&a, &d]), vec!["margin"]);
    assert_eq!(compare::label(&d, &["margin"]), "margin 0.3");
    assert!(compare::differing(&[&a, &a.clone()]).is_empty());
    assert!(compare::differing(&[&a]).is_empty());
}

fn draw(correct: u64) -> DrawMetrics {
    let mut cm = ConfusionMatrix::new(2);
    for i in 0..10 {
        let truth = (i % 2) as usize;
        cm.add(truth, if i < correct { truth } else { 1 - truth });
    }
    DrawMetrics::from_confusion(cm)
}

fn kshot(id: &str, opts: KShotOptions, correct: &[u64]) -> KShotResult {
    let draws: Vec<DrawMetrics> = correct.iter().map(|&c| draw(c)).collect();
    KShotResult {
        run_id: id.into(),
        epoch: 2,
        target: PathBuf::from("/data/cnmc"),
        options: opts,
        protocol: Protocol::HeldoutTest,
        classes: vec!["all".into(), "hem".into()],
        support_pool: 100,
        queries: 10,
        summary: KShotSummary::from_draws(&draws),
        sweep: vec![],
        collapse: None,
    }
}

fn report(id: &str, c: TrainConfig, created: u64, kshot_results: Vec<KShotResult>) -> RunReport {
    RunReport {
        info: RunInfo {
            id: id.into(),
            config: c,
            classes: vec!["LYT".into(), "NGS".into()],
            split_sizes: [70, 10, 20],
            device: "cpu".into(),
            version: "0.1.0".into(),
            burn_version: "0.22.1".into(),
            git_commit: None,
            created_unix: created,
            source: None,
        },
        status: RunStatus::ended(RunState::Finished, 2, None),
        epochs: vec![],
        base_test: None,
        kshot: kshot_results,
    }
}

/// Seed groups hold exactly the runs of a Table 1 row: same objective, same configuration
/// but the seed.
#[test]
fn seed_groups_are_table_1_rows() {
    let configs = [
        config(Objective::Softmax, 0, 224),
        config(Objective::Aam, 0, 224),
        config(Objective::Softmax, 1, 224),
        config(Objective::Softmax, 0, 64),
        config(Objective::Aam, 1, 224),
    ];
    let refs: Vec<&TrainConfig> = configs.iter().collect();
    let groups = compare::seed_groups(&refs);
    let members: Vec<Vec<usize>> = groups.iter().map(|g| g.members.clone()).collect();
    assert_eq!(members, vec![vec![0, 2], vec![1, 4], vec![3]]);
    assert_eq!(groups[1].objective, Objective::Aam);

    let reports: Vec<RunReport> = configs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let id = format!("r{i}");
            let k = kshot(
                &id,
                KShotOptions {
                    k: 10,
                    ..Default::default()
                },
                &[7, 8],
            );
            report(&id, c.clone(), i as u64, vec![k])
        })
        .collect();
    let t = table1::build(&reports, Objective::Softmax);
    let mut rows: Vec<Vec<String>> = t
        .groups
        .iter()
        .flat_map(|g| g.rows.iter())
        .map(|r| {
            let mut ids: Vec<String> = r.seeds.iter().map(|s| s.run_id.clone()).collect();
            ids.sort();
            ids
        })
        .collect();
    rows.sort();
    let mut from_groups: Vec<Vec<String>> = members
        .iter()
        .map(|m| m.iter().map(|i| format!("r{i}")).collect())
        .collect();
    from_groups.sort();
    assert_eq!(rows, from_groups);
}

fn step(epoch: usize, step: usize, loss: f64) -> MetricRecord {
    MetricRecord::Step {
        epoch,
        step,
        loss,
        metric_loss: loss,
        consistency_loss: 0.0,
        accuracy: 0.5,
        images_per_sec: 10.0,
        steps: 2,
        seconds: 1.0,
    }
}

fn epoch(epoch: usize, val_accuracy: f64) -> MetricRecord {
    MetricRecord::Epoch(EpochSummary {
        epoch,
        train_loss: 3.0 - epoch as f64,
        train_consistency: 0.0,
        train_accuracy: 0.4 + 0.1 * epoch as f64,
        val_loss: 2.5 - epoch as f64,
        val_accuracy,
        seconds: 60.0,
        images_per_sec: 10.0,
    })
}

/// A run folder with a resume in the middle of epoch 2: the step trained twice counts once,
/// with its last value; the epoch redone after the resume too.
#[test]
fn curves_from_a_resumed_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create_named(dir.path(), "r1").unwrap();
    let mut info = report("r1", config(Objective::Aam, 3, 64), 0, vec![]).info;
    info.id = "r1".into();
    run.write_info(&info).unwrap();
    let mut w = MetricsWriter::open(&run.metrics_path()).unwrap();
    for r in [
        step(1, 1, 5.0),
        step(1, 2, 4.0),
        epoch(1, 0.5),
        step(2, 1, 3.0),
        MetricRecord::Resumed {
            after_epoch: 1,
            at_step: None,
        },
        step(2, 1, 3.5),
        step(2, 2, 2.0),
        epoch(2, 0.75),
    ] {
        w.write(&r).unwrap();
    }
    drop(w);
    let c = Curves::load(&run).unwrap();
    assert_eq!(c.id, "r1");
    assert_eq!(c.config.seed, 3);
    assert_eq!(c.series(Metric::StepLoss), vec![5.0, 4.0, 3.5, 2.0]);
    assert_eq!(c.series(Metric::ValAccuracy), vec![0.5, 0.75]);
    assert_eq!(c.series(Metric::TrainLoss), vec![2.0, 1.0]);
    assert_eq!(c.best_val_accuracy(), Some(0.75));
    assert_eq!(Metric::ValAccuracy.next(), Metric::StepLoss);
    let missing = RunDir {
        path: dir.path().join("nope"),
    };
    let err = Curves::load(&missing).unwrap_err();
    assert!(
        matches!(&err, bloodshot::runs::RunsError::Io(bloodshot::files::IoError { action: "read", path, .. }) if path.ends_with("nope/config.json")),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("cannot read "), "{err}");
}

/// A sweep of objectives × 2 seeds × 2 margins with two normalisations.
fn sweep() -> Sweep {
    let spec = SweepSpec {
        base: config(Objective::Softmax, 0, 64),
        grid: Grid {
            objectives: vec![Objective::Softmax, Objective::Aam],
            seeds: vec![0, 1],
            margins: vec![0.2, 0.5],
            ..Default::default()
        },
        kshot: KShotSpec {
            target: PathBuf::from("/data/cnmc"),
            ks: vec![10],
            normalizations: vec![Normalization::None, Normalization::CentreSupport],
            methods: vec![bloodshot::fewshot::method::Method::Prototype],
            ttas: vec![bloodshot::fewshot::tta::Tta::None],
            options: KShotOptions::default(),
        },
    };
    Sweep {
        id: "sweep-x".into(),
        created_unix: 0,
        jobs: bloodshot::sweep::plan::jobs("sweep-x", &spec),
        spec,
    }
}

fn explorer() -> explore::Explorer {
    let s = sweep();
    // Jobs 0..3 finished with k-shot accuracies 0.7, 0.9, 0.6, 0.8 (none) and 0.1 more
    // (centre-support); job 4 trained but is not evaluated; the rest have not started.
    let correct = [7u64, 9, 6, 8];
    let reports: Vec<Option<RunReport>> = s
        .jobs
        .iter()
        .map(|j| {
            let mut results = vec![];
            if let Some(&c) = correct.get(j.index) {
                for (mode, extra) in [(Normalization::None, 0), (Normalization::CentreSupport, 1)] {
                    results.push(kshot(
                        &j.run_id,
                        s.kshot_options(
                            10,
                            mode,
                            bloodshot::fewshot::method::Method::Prototype,
                            bloodshot::fewshot::tta::Tta::None,
                        ),
                        &[c + extra],
                    ));
                }
            }
            (j.index <= 4).then(|| {
                let mut r = report(&j.run_id, j.config.clone(), 0, results);
                r.epochs = vec![EpochSummary {
                    epoch: 1,
                    train_loss: 1.0,
                    train_consistency: 0.0,
                    train_accuracy: 0.5,
                    val_loss: 1.0,
                    val_accuracy: 0.5 + 0.1 * j.index as f64,
                    seconds: 65.0,
                    images_per_sec: 1.0,
                }];
                r
            })
        })
        .collect();
    explore::build(&s, &reports)
}

#[test]
fn the_explorer_table_has_the_varied_axes_and_every_result() {
    let t = explorer();
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "objective",
            "seed",
            "margin",
            "val",
            "test",
            "k10/none",
            "k10/centre-support",
            "time"
        ]
    );
    assert_eq!(t.rows.len(), 8);
    // Job order: objective fastest, then seed, then margin.
    assert_eq!(t.rows[1].values[0], Value::Text("aam".into()));
    assert_eq!(t.rows[2].values[1], Value::Number(1.0));
    assert_eq!(t.rows[4].values[2], Value::Number(0.5));
    assert_eq!(t.rows[1].values[5], Value::Number(0.9));
    assert_eq!(t.rows[1].values[6], Value::Number(1.0));
    assert_eq!(
        t.rows[4].values[5],
        Value::Missing,
        "trained, not evaluated"
    );
    assert_eq!(t.rows[4].values[3], Value::Number(0.9));
    assert_eq!(t.rows[7].values[3], Value::Missing, "not started");
    assert_eq!(t.rows[0].values[7].text(t.columns[7].format), "1m05s");
    assert_eq!(t.rows[0].values[5].text(t.columns[5].format), "0.700");
}

#[test]
fn sorting_puts_missing_values_last_both_ways() {
    let t = explorer();
    let all = Filter::default();
    let k = t.column("k10/none").unwrap();
    assert_eq!(t.order(k, true, &all), vec![1, 3, 0, 2, 4, 5, 6, 7]);
    assert_eq!(t.order(k, false, &all), vec![2, 0, 3, 1, 4, 5, 6, 7]);
    // Words alphabetically, ties in job order.
    assert_eq!(t.order(0, false, &all), vec![1, 3, 5, 7, 0, 2, 4, 6]);
}

#[test]
fn filters_by_hand() {
    let t = explorer();
    let keep = |text: &str| {
        let f = Filter::parse(text, &t).unwrap();
        t.order(t.column("time").unwrap(), false, &f)
            .into_iter()
            .map(|i| t.rows[i].job)
            .collect::<Vec<_>>()
    };
    assert_eq!(keep("objective=aam*"), vec![1, 3, 5, 7]);
    assert_eq!(keep("objective=AAM"), vec![1, 3, 5, 7], "any case");
    assert_eq!(keep("objective=s?ftmax seed=1"), vec![2, 6]);
    assert_eq!(keep("k10/none>=0.8"), vec![1, 3]);
    assert_eq!(keep("val<0.65"), vec![0, 1]);
    assert_eq!(keep("margin!=0.2 objective!=aam"), vec![4, 6]);
    assert_eq!(
        keep("test!=0.5"),
        (0..8).collect::<Vec<_>>(),
        "missing passes !="
    );
    assert_eq!(keep(""), (0..8).collect::<Vec<_>>());
    for (bad, says) in [
        (
            "colour=red",
            "no column `colour` (columns: objective, seed, margin",
        ),
        ("val>high", "`high` is not a number"),
        ("objective", "expected column=value"),
        ("seed!1", "`!` must be followed by `=`"),
        ("seed=", "no value after the comparison"),
    ] {
        let e = Filter::parse(bad, &t).unwrap_err();
        assert_eq!(e.clause, bad);
        let e = e.to_string();
        assert!(e.starts_with(&format!("filter `{bad}`")), "{e}");
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn parallel_coordinates_by_hand() {
    let t = explorer();
    let k = t.column("k10/centre-support").unwrap();
    // The four evaluated jobs, best first.
    let rows: Vec<usize> = t.order(k, true, &Filter::default())[..4].to_vec();
    let p = explore::parallel(&t, &rows, k);
    let names: Vec<&str> = p.axes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["objective", "seed", "margin", "k10/centre-support"]);
    assert_eq!(p.axes[0].ticks, ["aam", "softmax"]);
    assert_eq!(p.axes[3].ticks, ["0.700", "1.000"]);
    assert_eq!(
        p.axes[2].ticks,
        ["0.2", "0.2"],
        "one margin among these rows"
    );
    // Job 1: aam (bottom), seed 0, margin 0.2 (the only value: middle), 1.0 (top).
    let (row, pos, colour) = &p.lines[0];
    assert_eq!(t.rows[*row].job, 1);
    assert_eq!(pos, &vec![Some(0.0), Some(0.0), Some(0.5), Some(1.0)]);
    assert_eq!(*colour, Some(1.0));
    // Job 0: softmax (top), seed 0, 0.8 → (0.8 − 0.7)/(1.0 − 0.7) = 1/3.
    let (row, pos, _) = &p.lines[2];
    assert_eq!(t.rows[*row].job, 0);
    assert_eq!(pos[0], Some(1.0));
    assert!(close(pos[3].unwrap(), 1.0 / 3.0), "{pos:?}");
}

/// The grid's jobs vary the objective fastest, then the seed, then the other axes in
/// `Setting::NESTING`'s order; an empty axis keeps the base value; every setting reads back
/// what was written, and a value of the wrong kind changes nothing.
#[test]
fn grid_order_and_the_setting_table() {
    use bloodshot::runs::{Setting, SettingValue};
    let base = TrainConfig {
        lr: 0.25,
        ..TrainConfig::default()
    };
    let grid = Grid {
        objectives: vec![Objective::Softmax, Objective::Aam],
        seeds: vec![0, 1],
        margins: vec![0.2, 0.3],
        ..Grid::default()
    };
    assert_eq!(grid.size(), 8);
    let configs = grid.configs(&base);
    let seen: Vec<(f64, u64, Objective)> = configs
        .iter()
        .map(|c| (c.aam.margin, c.seed, c.objective))
        .collect();
    let (s, a) = (Objective::Softmax, Objective::Aam);
    assert_eq!(
        seen,
        vec![
            (0.2, 0, s),
            (0.2, 0, a),
            (0.2, 1, s),
            (0.2, 1, a),
            (0.3, 0, s),
            (0.3, 0, a),
            (0.3, 1, s),
            (0.3, 1, a),
        ]
    );
    assert!(
        configs.iter().all(|c| c.lr == 0.25),
        "an empty axis keeps the base value"
    );

    let values = [
        SettingValue::Objective(Objective::AamConsistency),
        SettingValue::Int(7),
        SettingValue::Real(0.45),
        SettingValue::Real(20.0),
        SettingValue::Real(2.5),
        SettingValue::Int(96),
        SettingValue::Int(3),
        SettingValue::Real(0.002),
        SettingValue::Int(24),
    ];
    let mut c = TrainConfig::default();
    for (s, v) in Setting::ALL.into_iter().zip(values) {
        s.set(&mut c, v);
        assert_eq!(s.get(&c), v, "{}", s.name());
    }
    assert_eq!(
        (c.objective, c.seed, c.aam.margin, c.aam.scale, c.lambda),
        (Objective::AamConsistency, 7, 0.45, 20.0, 2.5)
    );
    assert_eq!(
        (c.image_size, c.epochs, c.lr, c.batch_size),
        (96, 3, 0.002, 24)
    );
    let before = c.clone();
    Setting::Seed.set(&mut c, SettingValue::Real(1.5));
    Setting::Objective.set(&mut c, SettingValue::Int(1));
    assert_eq!(c, before, "a value of the wrong kind changes nothing");
    assert_eq!(SettingValue::Real(0.001).text(), "0.001");
    assert_eq!(Setting::Lambda.label(), "λ");
    assert_eq!(Setting::ImageSize.name(), "px");
}
