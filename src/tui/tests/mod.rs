//! Console tests: every tab as an insta snapshot from fixed state (no clock, no randomness,
//! no terminal), the help/bindings agreement, and no panic at any terminal size.

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use bloodshot::data::ScanOptions;
use bloodshot::data::stats::dataset_stats;
use bloodshot::fewshot::classify::Embeddings;
use bloodshot::fewshot::evaluate::{
    Cell, KShotOptions, Prepared, Protocol, draw_bank, evaluate_cell,
};
use bloodshot::fewshot::method::Method;
use bloodshot::fewshot::metrics::KShotSummary;
use bloodshot::fewshot::pca::pca_2d;
use bloodshot::fewshot::score::Normalization;
use bloodshot::fewshot::tta::Tta;
use bloodshot::model::Objective;
use bloodshot::runs::{EpochSummary, RunState};
use bloodshot::train::TrainEvent;

use super::action::{Action, Effect, Tab};
use super::app::App;
use super::event::{AppEvent, KSweep, RunRow};
use super::keys::{BINDINGS, Scope, action_for};
use super::panes;
use super::state::data::ScanState;
use super::state::kshot::{KShotSession, PcaView};
use super::theme::Theme;
use super::thumb::Thumb;

fn app() -> App {
    App::new(
        PathBuf::from("sample-data/aml"),
        PathBuf::from("sample-data/cnmc"),
        PathBuf::from("/runs"),
        Default::default(),
        Theme::built_in(0),
        0,
    )
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| panes::draw(f, app)).unwrap();
    format!("{}", t.backend())
}

fn with_data() -> App {
    let mut a = app();
    for (root, split, min) in [
        ("sample-data/aml", Some(0), 30),
        ("sample-data/cnmc", None, 1),
    ] {
        let (ds, stats) = dataset_stats(
            &PathBuf::from(root),
            &ScanOptions {
                min_class_size: min,
                limit_per_class: None,
            },
            split,
            &mut |_, _, _| {},
        )
        .unwrap();
        let thumbs = ds
            .classes
            .iter()
            .map(|c| (c.clone(), Thumb::solid(8, [200, 100, 150])))
            .collect();
        let state = ScanState::Done(Box::new(stats), thumbs);
        if split.is_some() {
            a.data.base = state;
        } else {
            a.data.target = state;
        }
    }
    a
}

fn training() -> App {
    let mut a = app();
    a.tab = Tab::Train;
    let evs = vec![
        TrainEvent::Started {
            run_id: "20261126-120000-aam-consistency".into(),
            run_dir: "/runs/x".into(),
            device: "cpu".into(),
            classes: (0..10).map(|i| format!("C{i}")).collect(),
            split_sizes: [110, 20, 30],
            steps_per_epoch: 7,
            first_epoch: 1,
            epochs: 3,
        },
        TrainEvent::WarmingUp {
            what: "first step on cpu: decoding images into the cache".into(),
        },
    ];
    for e in evs {
        a.on_train_event(e);
    }
    for i in 0..10usize {
        let (epoch, step) = (1 + i / 7, 1 + i % 7);
        a.on_train_event(TrainEvent::Step {
            epoch,
            step,
            steps: 7,
            loss: 8.0 - 0.4 * i as f64 + if i % 2 == 0 { 0.3 } else { -0.3 },
            metric_loss: 7.5 - 0.4 * i as f64,
            consistency_loss: 0.5 - 0.02 * i as f64,
            accuracy: 0.05 * i as f64,
            images_per_sec: 10.0,
            seconds: if i == 0 { 4.0 } else { 1.6 },
        });
        if i == 6 {
            a.on_train_event(TrainEvent::Epoch(EpochSummary {
                epoch: 1,
                train_loss: 6.5,
                train_consistency: 0.4,
                train_accuracy: 0.18,
                val_loss: 6.1,
                val_accuracy: 0.2,
                seconds: 14.0,
                images_per_sec: 9.5,
            }));
            a.on_train_event(TrainEvent::Checkpoint {
                epoch: 1,
                path: "/runs/x/checkpoints/epoch-001".into(),
            });
        }
    }
    a.on_train_event(TrainEvent::Warning(
        "class PMB not used: 10 < 30 images (min class size)".into(),
    ));
    // The run folder's system history, as the console reads it every two seconds.
    let samples = (0..12)
        .map(|i| bloodshot::train::system::SystemSample {
            t: 0.5 + 2.0 * i as f64,
            cpu_percent: 90.0 + 10.0 * (i % 4) as f64,
            rss_mb: 300.0 + 25.0 * i as f64,
            gpu_percent: Some(40 + 5 * i),
            gpu_mem_mb: Some(2048.0 + 100.0 * i as f64),
        })
        .collect();
    a.on_event(AppEvent::System("/runs/x".into(), samples));
    a
}

/// The tiny prepared sets of [`kshot`]; `tilt` moves the second coordinate of every
/// embedding (another embedding of the same images, e.g. an augmented one).
pub(super) fn tiny_prep(tilt: f32) -> Prepared {
    let support: Vec<f32> = (0..12)
        .flat_map(|i| {
            if i < 6 {
                [1.0, 0.1 * i as f32 + tilt]
            } else {
                [0.1 * i as f32 - 0.5, 1.0]
            }
        })
        .collect();
    let queries: Vec<f32> = (0..10)
        .flat_map(|i| {
            if i < 6 {
                [1.0, 0.15 * i as f32]
            } else {
                [0.2, 1.0]
            }
        })
        .collect();
    Prepared::new(
        Protocol::HeldoutTest,
        vec!["all".into(), "hem".into()],
        (0..12).collect(),
        (0..10).collect(),
        Embeddings {
            dim: 2,
            rows: support,
        },
        Embeddings {
            dim: 2,
            rows: queries,
        }
        .l2_normalized(),
        (0..12).map(|i| usize::from(i >= 6)).collect(),
        (0..10).map(|i| usize::from(i >= 6)).collect(),
        vec![None; 12],
    )
}

/// A tiny prepared k-shot set: two well-separated classes in 2-D.
fn kshot() -> App {
    let mut a = app();
    a.tab = Tab::KShot;
    a.runs.rows = vec![run_row(
        "20261126-120000-aam",
        Objective::Aam,
        RunState::Finished,
    )];
    let prep = tiny_prep(0.0);
    let opts = KShotOptions {
        k: 2,
        draws: 5,
        ..Default::default()
    };
    a.kshot.opts.0 = opts.clone();
    let bank = draw_bank(&prep, &opts).unwrap();
    // Plain embeddings only: the augmented cells stay empty.
    let done_by_cell: Vec<_> = Cell::grid(opts.logistic_c)
        .into_iter()
        .map(|c| match c.tta {
            Tta::None => evaluate_cell(&prep, c, &bank[..3]),
            _ => vec![],
        })
        .collect();
    let summary_by_cell: Vec<_> = done_by_cell
        .iter()
        .map(|d| KShotSummary::from_draws(d))
        .collect();
    let paired_by_cell = bloodshot::fewshot::paired::to_first(
        &summary_by_cell
            .iter()
            .map(Option::as_ref)
            .collect::<Vec<_>>(),
    );
    let done = done_by_cell[0].clone();
    let rows: Vec<usize> = (0..10).collect();
    let pca = pca_2d(&prep.query_emb, &rows);
    let mut points = vec![vec![], vec![]];
    for (p, &r) in pca.points.iter().zip(&rows) {
        points[prep.query_labels[r]].push(*p);
    }
    let summary = KShotSummary::from_draws(&done);
    // Every classifier's accuracy-vs-k curve, as `w` computes them.
    let by_method = Method::ALL
        .iter()
        .map(|&method| {
            let o = KShotOptions {
                method,
                ..opts.clone()
            };
            bloodshot::fewshot::evaluate::run(&prep, &o, &[1, 2, 3])
                .unwrap()
                .1
        })
        .collect();
    let sweep = Some(KSweep {
        normalize: Normalization::None,
        tta: Tta::None,
        by_method,
        left_out: None,
    });
    a.kshot.session = Some(KShotSession {
        epoch: 2,
        prep: Arc::new(prep),
        augmented: None,
        dataset: Arc::new(
            bloodshot::data::scan(
                &PathBuf::from("sample-data/cnmc"),
                &ScanOptions::default(),
                &mut |_, _| {},
            )
            .unwrap(),
        ),
        pca_basis: Arc::new(pca),
        bank: bank.into(),
        done_by_cell,
        summary_by_cell,
        paired_by_cell,
        done,
        summary,
        thumbs_cell: Cell::of(&opts),
        support_thumbs: vec![
            vec![Thumb::solid(8, [70, 30, 80]); 2],
            vec![Thumb::solid(8, [60, 20, 90]); 2],
        ],
        miss_thumbs: vec![(1, 0, Thumb::solid(8, [60, 20, 90]))],
        pca: PcaView {
            points,
            prototypes: vec![(0.5, 0.0), (-0.5, 0.0)],
        },
        sweep,
    });
    a
}

fn run_row(id: &str, objective: Objective, state: RunState) -> RunRow {
    RunRow {
        path: PathBuf::from("/runs").join(id),
        id: id.into(),
        objective,
        epochs: (6, 6),
        best_val: Some(0.81),
        kshot: Some((10, "heldout-test".into(), 0.612, 0.034)),
        kshot_target: Some("sample-data/cnmc".into()),
        state,
        interrupted: false,
        checkpoints: vec![1, 2, 3, 4, 5, 6],
    }
}

fn runs() -> App {
    let mut a = app();
    a.tab = Tab::Runs;
    a.runs.rows = vec![
        run_row(
            "20261126-100000-softmax",
            Objective::Softmax,
            RunState::Finished,
        ),
        run_row("20261126-110000-aam", Objective::Aam, RunState::Finished),
        RunRow {
            interrupted: true,
            best_val: None,
            kshot: None,
            kshot_target: None,
            epochs: (2, 6),
            state: RunState::Running,
            ..run_row(
                "20261126-120000-aam-consistency",
                Objective::AamConsistency,
                RunState::Running,
            )
        },
    ];
    a.runs.marked = vec![
        "20261126-100000-softmax".into(),
        "20261126-110000-aam".into(),
    ];
    a.runs.selected = 1;
    a
}

fn sweeps() -> App {
    use bloodshot::runs::TrainConfig;
    use bloodshot::sweep::{Grid, JobState, JobStatus, KShotSpec, Sweep, SweepSpec};
    let mut a = app();
    a.tab = Tab::Sweeps;
    let base = TrainConfig::default();
    let spec = SweepSpec {
        base: base.clone(),
        grid: Grid {
            objectives: vec![Objective::Softmax, Objective::Aam],
            seeds: vec![0, 1],
            ..Default::default()
        },
        kshot: KShotSpec {
            target: PathBuf::from("/data/cnmc"),
            ks: vec![10],
            normalizations: vec![Normalization::None],
            methods: vec![Method::Prototype],
            ttas: vec![bloodshot::fewshot::tta::Tta::None],
            options: Default::default(),
        },
    };
    let id = "sweep-20261127-120000".to_string();
    let jobs = bloodshot::sweep::plan::jobs(&id, &spec);
    let states = [
        (JobState::Done, 1.0, (6, 6)),
        (JobState::Training, 0.42, (2, 6)),
        (
            JobState::Failed("loss became NaN at epoch 1 step 3".into()),
            0.05,
            (0, 6),
        ),
        (JobState::Queued, 0.0, (0, 6)),
    ];
    let statuses = jobs
        .iter()
        .zip(states)
        .map(|(j, (state, progress, epochs))| JobStatus {
            index: j.index,
            run_id: j.run_id.clone(),
            device: (state != JobState::Queued).then(|| "cuda:0".to_string()),
            state,
            progress,
            epochs,
        })
        .collect();
    a.sweeps.rows = vec![super::state::sweeps::SweepRow {
        sweep: std::sync::Arc::new(Sweep {
            id,
            created_unix: 0,
            spec,
            jobs,
        }),
        jobs: statuses,
        runner: Some(bloodshot::sweep::runner::RunnerRecord {
            pid: 4242,
            host: "gpu-node-3".into(),
            devices: vec!["cuda:0".into()],
            started_unix: 0,
            state: "running".into(),
        }),
    }];
    a
}

/// Curves of a run: `objective` and `seed` set the level and the noise of 30 steps and 6
/// epochs.
fn curves(objective: Objective, seed: u64) -> bloodshot::report::compare::Curves {
    let level = match objective {
        Objective::Softmax => 0.0,
        Objective::Aam => 0.6,
        Objective::AamConsistency => 1.0,
    };
    let id = format!("20261126-1{seed}0000-{}", objective.as_str());
    bloodshot::report::compare::Curves {
        path: PathBuf::from("/runs").join(&id),
        id,
        config: bloodshot::runs::TrainConfig {
            objective,
            seed,
            base: PathBuf::from("sample-data/aml"),
            ..Default::default()
        },
        step_loss: (0..30)
            .map(|i| {
                let wiggle = if (i + seed as usize).is_multiple_of(2) {
                    0.3
                } else {
                    -0.3
                };
                level + 6.0 * (-(i as f64) / 10.0).exp() + wiggle
            })
            .collect(),
        epochs: (1..=6)
            .map(|e| EpochSummary {
                epoch: e,
                train_loss: level + 4.0 / e as f64,
                train_consistency: 0.0,
                train_accuracy: 0.5 + 0.05 * e as f64,
                val_loss: level + 4.5 / e as f64,
                val_accuracy: 0.4 + 0.07 * e as f64 - 0.1 * level + 0.03 * seed as f64,
                seconds: 60.0,
                images_per_sec: 30.0,
            })
            .collect(),
    }
}

/// The Train tab overlaying three runs (one per objective, seed 0).
fn overlay() -> App {
    let mut a = app();
    a.tab = Tab::Train;
    let runs: Vec<_> = Objective::ALL.iter().map(|o| curves(*o, 0)).collect();
    let paths = runs.iter().map(|c| c.path.clone()).collect();
    a.compare.open(super::state::compare::Source::Marked, paths);
    a.compare.curves = runs;
    a.compare.pending = false;
    a
}

/// The overlay of six runs (three objectives × two seeds) as seed groups.
fn seed_bands() -> App {
    let mut a = overlay();
    let runs: Vec<_> = [0, 1]
        .iter()
        .flat_map(|s| Objective::ALL.iter().map(move |o| curves(*o, *s)))
        .collect();
    let paths = runs.iter().map(|c| c.path.clone()).collect();
    a.compare.open(super::state::compare::Source::Marked, paths);
    a.compare.curves = runs;
    a.compare.pending = false;
    a.compare.seed_bands = true;
    a.compare.metric = bloodshot::report::compare::Metric::ValAccuracy;
    a
}

/// The Sweeps tab's explorer over a sweep of 2 objectives × 2 seeds × 3 margins: ten jobs
/// trained and evaluated, one training, one queued.
fn explorer() -> App {
    use bloodshot::fewshot::evaluate::{KShotResult, Protocol};
    use bloodshot::fewshot::metrics::{ConfusionMatrix, DrawMetrics};
    use bloodshot::sweep::{Grid, JobState, JobStatus, KShotSpec, Sweep, SweepSpec};
    let mut a = app();
    a.tab = Tab::Sweeps;
    let spec = SweepSpec {
        base: bloodshot::runs::TrainConfig::default(),
        grid: Grid {
            objectives: vec![Objective::Aam, Objective::AamConsistency],
            seeds: vec![0, 1],
            margins: vec![0.1, 0.3, 0.5],
            ..Default::default()
        },
        kshot: KShotSpec {
            target: PathBuf::from("/data/cnmc"),
            ks: vec![10],
            normalizations: vec![Normalization::None],
            methods: vec![Method::Prototype],
            ttas: vec![Tta::None],
            options: Default::default(),
        },
    };
    let id = "sweep-20261128-090000".to_string();
    let sweep = Sweep {
        id: id.clone(),
        created_unix: 0,
        jobs: bloodshot::sweep::plan::jobs(&id, &spec),
        spec,
    };
    let reports: Vec<Option<bloodshot::report::RunReport>> = sweep
        .jobs
        .iter()
        .map(|j| {
            if j.index >= 11 {
                return None;
            }
            // Accuracy out of 40 queries: best at margin 0.3 with consistency.
            let c = &j.config;
            let correct = 24
                + (10.0 * (0.3 - (c.aam.margin - 0.3).abs())) as usize
                + 3 * usize::from(c.objective == Objective::AamConsistency)
                + c.seed as usize;
            let mut cm = ConfusionMatrix::new(2);
            for q in 0..40 {
                let truth = q % 2;
                cm.add(truth, if q < correct { truth } else { 1 - truth });
            }
            let draws = vec![DrawMetrics::from_confusion(cm)];
            let opts = sweep.kshot_options(10, Normalization::None, Method::Prototype, Tta::None);
            let trained = j.index < 10;
            Some(bloodshot::report::RunReport {
                info: bloodshot::runs::RunInfo {
                    id: j.run_id.clone(),
                    config: c.clone(),
                    classes: vec!["LYT".into(), "NGS".into()],
                    split_sizes: [70, 10, 20],
                    device: "cuda:0".into(),
                    version: "0.1.0".into(),
                    burn_version: "0.22.1".into(),
                    git_commit: None,
                    created_unix: 0,
                    source: None,
                },
                status: bloodshot::runs::RunStatus::ended(RunState::Finished, 6, None),
                epochs: vec![EpochSummary {
                    epoch: 1,
                    train_loss: 1.0,
                    train_consistency: 0.0,
                    train_accuracy: 0.8,
                    val_loss: 0.9,
                    val_accuracy: 0.8 + 0.01 * j.index as f64,
                    seconds: 300.0 + 20.0 * j.index as f64,
                    images_per_sec: 50.0,
                }],
                base_test: None,
                kshot: if trained {
                    vec![KShotResult {
                        run_id: j.run_id.clone(),
                        epoch: 1,
                        target: PathBuf::from("/data/cnmc"),
                        options: opts,
                        protocol: Protocol::HeldoutTest,
                        classes: vec!["all".into(), "hem".into()],
                        support_pool: 100,
                        queries: 40,
                        summary: KShotSummary::from_draws(&draws),
                        sweep: vec![],
                        collapse: None,
                    }]
                } else {
                    vec![]
                },
            })
        })
        .collect();
    let table = bloodshot::sweep::explore::build(&sweep, &reports);
    let statuses = sweep
        .jobs
        .iter()
        .map(|j| JobStatus {
            index: j.index,
            run_id: j.run_id.clone(),
            state: match j.index {
                0..10 => JobState::Done,
                10 => JobState::Training,
                _ => JobState::Queued,
            },
            device: None,
            progress: 0.0,
            epochs: (1, 1),
        })
        .collect();
    a.sweeps.rows = vec![super::state::sweeps::SweepRow {
        sweep: Arc::new(sweep),
        jobs: statuses,
        runner: None,
    }];
    a.explorer.shown = true;
    a.explorer.loaded(id, table);
    a
}

mod pane_snapshots;
mod updates;
