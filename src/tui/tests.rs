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
    KShotOptions, Prepared, Protocol, SweepPoint, draw_bank, evaluate_draws,
};
use bloodshot::fewshot::metrics::KShotSummary;
use bloodshot::fewshot::pca::pca_2d;
use bloodshot::fewshot::score::Normalization;
use bloodshot::model::Objective;
use bloodshot::runs::{EpochSummary, RunState};
use bloodshot::train::TrainEvent;

use super::action::{Action, Effect, Tab};
use super::app::App;
use super::event::{AppEvent, RunRow};
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
    a
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
    let support: Vec<f32> = (0..12)
        .flat_map(|i| {
            if i < 6 {
                [1.0, 0.1 * i as f32]
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
    let prep = Prepared::new(
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
    );
    let opts = KShotOptions {
        k: 2,
        draws: 5,
        ..Default::default()
    };
    a.kshot.opts.0 = opts.clone();
    let bank = draw_bank(&prep, &opts).unwrap();
    let done_by_mode: Vec<_> = Normalization::ALL
        .iter()
        .map(|&m| evaluate_draws(&prep, m, &bank[..3]))
        .collect();
    let summary_by_mode: Vec<_> = done_by_mode
        .iter()
        .map(|d| KShotSummary::from_draws(d))
        .collect();
    let done = done_by_mode[0].clone();
    let rows: Vec<usize> = (0..10).collect();
    let pca = pca_2d(&prep.query_emb, &rows);
    let mut points = vec![vec![], vec![]];
    for (p, &r) in pca.points.iter().zip(&rows) {
        points[prep.query_labels[r]].push(*p);
    }
    let summary = KShotSummary::from_draws(&done);
    let sweep = [1usize, 2, 3]
        .iter()
        .map(|&k| SweepPoint {
            k,
            summary: KShotSummary::from_draws(&evaluate_draws(
                &prep,
                Normalization::None,
                &draw_bank(&prep, &KShotOptions { k, ..opts.clone() }).unwrap(),
            ))
            .unwrap(),
        })
        .collect();
    a.kshot.session = Some(KShotSession {
        epoch: 2,
        prep: Arc::new(prep),
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
        done_by_mode,
        summary_by_mode,
        done,
        summary,
        thumbs_mode: Normalization::None,
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

#[test]
fn data_tab_empty() {
    insta::assert_snapshot!(render(&app(), 100, 30));
}

#[test]
fn data_tab_with_sample_data() {
    insta::assert_snapshot!(render(&with_data(), 120, 40));
}

#[test]
fn data_tab_at_80x24() {
    insta::assert_snapshot!(render(&with_data(), 80, 24));
}

#[test]
fn train_tab_idle() {
    let mut a = app();
    a.tab = Tab::Train;
    insta::assert_snapshot!(render(&a, 100, 30));
}

#[test]
fn train_tab_during_training() {
    insta::assert_snapshot!(render(&training(), 110, 32));
}

#[test]
fn train_tab_after_failure_keeps_the_summary() {
    let mut a = training();
    a.on_train_event(TrainEvent::Failed {
        message: "loss became NaN at epoch 2 step 3: stopped; checkpoints up to epoch 1 are kept"
            .into(),
    });
    let screen = render(&a, 110, 32);
    assert!(screen.contains("failed: loss became NaN"));
    assert!(
        screen.contains("✓ saved"),
        "per-epoch table stays on screen"
    );
    insta::assert_snapshot!(screen);
}

#[test]
fn kshot_tab_empty() {
    let mut a = app();
    a.tab = Tab::KShot;
    insta::assert_snapshot!(render(&a, 100, 30));
}

#[test]
fn kshot_tab_with_results() {
    insta::assert_snapshot!(render(&kshot(), 120, 40));
}

#[test]
fn thumbnail_strip_selects_and_enlarges() {
    let mut a = kshot();
    // The fixture's strip: two support images of each class, then one miss.
    let n = a.kshot.session.as_ref().unwrap().strip().len();
    assert_eq!(n, 5);
    for _ in 0..10 {
        a.on_action(Action::NextItem);
    }
    assert_eq!(a.kshot.thumb, 4, "selection stops at the last cell");
    a.on_action(Action::PrevItem);
    a.on_action(Action::PrevItem);
    assert_eq!(a.kshot.thumb, 2);
    a.on_action(Action::NextItem);
    a.on_action(Action::NextItem);
    a.on_action(Action::Zoom);
    assert!(a.kshot.zoom);
    let zoomed = render(&a, 120, 36);
    assert!(
        zoomed.contains("misclassified · true hem · predicted all"),
        "{zoomed}"
    );
    // The enlarged cell is 2×rows columns wide: far more than a strip cell.
    let widest = zoomed
        .lines()
        .map(|l| l.matches('▀').count())
        .max()
        .unwrap_or(0);
    assert!(widest >= 40, "enlarged cell is {widest} columns wide");
    insta::assert_snapshot!(zoomed);
    a.on_action(Action::Cancel);
    assert!(!a.kshot.zoom, "Esc closes the enlarged cell");
    a.on_action(Action::Zoom);
    a.on_action(Action::Zoom);
    assert!(!a.kshot.zoom, "z closes it too");
}

#[test]
fn strip_cells_are_square_and_as_large_as_fit() {
    use super::panes::strip_cell;
    // Height 8 and room for all: 8 rows, 16 columns (two pixels per row).
    assert_eq!(strip_cell(200, 8, 5, 3), (8, 16));
    // 5 cells in 60 columns: 2·rows + 1 ≤ 12 → 5 rows.
    assert_eq!(strip_cell(60, 8, 5, 3), (5, 10));
    // Never below the minimum: the caller scrolls instead.
    assert_eq!(strip_cell(20, 8, 10, 6), (6, 12));
    // A short area keeps its own height.
    assert_eq!(strip_cell(200, 2, 5, 6), (2, 4));
}

#[test]
fn runs_tab_empty() {
    let mut a = app();
    a.tab = Tab::Runs;
    insta::assert_snapshot!(render(&a, 100, 30));
}

#[test]
fn runs_tab_with_comparison() {
    insta::assert_snapshot!(render(&runs(), 110, 30));
}

#[test]
fn help_overlay() {
    let mut a = app();
    a.help = true;
    insta::assert_snapshot!(render(&a, 120, 30));
}

#[test]
fn quit_dialog_while_training() {
    let mut a = training();
    a.on_action(Action::Quit);
    assert!(a.quit_dialog && !a.should_quit);
    insta::assert_snapshot!(render(&a, 100, 30));
    a.on_action(Action::Cancel);
    assert!(!a.quit_dialog && !a.should_quit);
}

#[test]
fn every_action_has_a_binding_and_every_binding_reaches_its_action() {
    for action in Action::ALL {
        assert!(
            BINDINGS.iter().any(|b| b.action == action),
            "{action:?} has no key"
        );
    }
    for b in BINDINGS {
        let mods = if b.ctrl {
            KeyModifiers::CONTROL
        } else {
            KeyModifiers::NONE
        };
        for code in b.codes {
            let key = KeyEvent::new(*code, mods);
            let (tab, dialog) = match b.scope {
                Scope::Global => (Tab::Data, false),
                Scope::Tab(t) => (t, false),
                Scope::QuitDialog => (Tab::Train, true),
            };
            assert_eq!(
                action_for(key, tab, dialog),
                Some(b.action),
                "{} in {:?}",
                b.keys,
                b.scope
            );
        }
    }
    // An unbound key does nothing.
    assert_eq!(
        action_for(
            KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE),
            Tab::Data,
            false
        ),
        None
    );
}

#[test]
fn help_lists_exactly_the_bindings() {
    let a = app();
    let text: Vec<String> = super::panes::help::lines(&a)
        .iter()
        .map(|l| l.to_string())
        .collect();
    let entries: Vec<&String> = text.iter().filter(|l| l.starts_with(' ')).collect();
    assert_eq!(entries.len(), BINDINGS.len(), "one help line per binding");
    for (line, b) in entries.iter().zip(BINDINGS) {
        assert!(line.contains(b.keys) && line.contains(b.help), "{line}");
    }
}

#[test]
fn no_panic_at_any_terminal_size() {
    let states = [app(), with_data(), training(), kshot(), runs()];
    let mut with_help = with_data();
    with_help.help = true;
    let mut dialog = training();
    dialog.quit_dialog = true;
    let widths = [
        1u16, 2, 3, 5, 10, 20, 39, 40, 41, 60, 80, 81, 100, 120, 200, 300,
    ];
    let heights = [1u16, 2, 3, 5, 9, 10, 11, 15, 24, 30, 50, 100];
    for s in states.iter().chain([&with_help, &dialog]) {
        for tab in Tab::ALL {
            let mut s = s.clone();
            s.tab = tab;
            for &w in &widths {
                for &h in &heights {
                    render(&s, w, h);
                }
            }
        }
    }
}

#[test]
fn form_keys_change_values_and_start_validates() {
    let mut a = app();
    a.tab = Tab::Train;
    a.on_action(Action::Right); // objective: aam-consistency → softmax
    assert_eq!(a.form.objective, Objective::Softmax);
    a.on_action(Action::Down);
    a.on_action(Action::Left);
    assert_eq!(a.form.epochs, 5);
    let effects = a.on_action(Action::Start);
    assert_eq!(effects.len(), 1);
    assert!(a.train.active());
    // A second start while training is refused with a message.
    assert!(a.on_action(Action::Start).is_empty());
    assert!(
        a.status
            .as_deref()
            .unwrap_or("")
            .contains("already training")
    );
}

#[test]
fn gpu_readings_show_on_the_dashboard() {
    let mut a = training();
    a.train.device = "vulkan:0".into();
    a.on_event(super::event::AppEvent::Gpu(Ok(super::gpu::GpuStats {
        name: "NVIDIA H100".into(),
        util_percent: 87,
        mem_used: 21 << 30,
        mem_total: 80 << 30,
    })));
    let screen = render(&a, 140, 32);
    assert!(
        screen.contains("NVIDIA H100 · 87 % busy · 21.0/80.0 GiB"),
        "{screen}"
    );
    a.on_event(super::event::AppEvent::Gpu(Err(
        "GPU stats unavailable: NVML could not load (libnvidia-ml.so)".into(),
    )));
    assert!(render(&a, 160, 32).contains("GPU stats unavailable: NVML could not load"));
}

#[test]
fn thumbnail_protocol_follows_the_environment() {
    use ratatui_image::picker::ProtocolType;
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let detect = super::thumb::detect_protocol;
    assert_eq!(
        detect(&env(&[("TERM", "xterm-kitty")])),
        ProtocolType::Kitty
    );
    assert_eq!(
        detect(&env(&[
            ("TERM", "xterm-256color"),
            ("LC_TERMINAL", "iTerm2")
        ])),
        ProtocolType::Iterm2
    );
    assert_eq!(detect(&env(&[("TERM", "foot")])), ProtocolType::Sixel);
    assert_eq!(
        detect(&env(&[("TERM", "xterm-256color")])),
        ProtocolType::Halfblocks
    );
    assert_eq!(
        detect(&env(&[
            ("TERM", "xterm-kitty"),
            ("TMUX", "/tmp/tmux-0/default,1,0")
        ])),
        ProtocolType::Halfblocks
    );
    assert_eq!(
        detect(&env(&[("TERM", "screen"), ("BLOODSHOT_GRAPHICS", "sixel")])),
        ProtocolType::Sixel
    );
}

#[test]
fn a_device_failure_offers_the_cpu() {
    let mut a = app();
    a.tab = Tab::Train;
    a.form.device = bloodshot::device::DeviceSpec::Cuda(0);
    a.on_action(Action::Start);
    a.on_train_event(TrainEvent::Failed {
        message: "device `cuda:0` asked for, but this binary was built without CUDA".into(),
    });
    assert_eq!(a.form.device, bloodshot::device::DeviceSpec::Cpu);
    assert!(
        a.status
            .as_deref()
            .unwrap_or("")
            .contains("press s to train there")
    );
    assert!(!a.train.active());
}

#[test]
fn theme_cycle_and_user_override() {
    let mut a = app();
    a.on_action(Action::CycleTheme);
    assert_eq!(a.theme.name, "light");
    a.on_action(Action::CycleTheme);
    assert_eq!(a.theme.name, "high-contrast");
    a.on_action(Action::CycleTheme);
    assert_eq!(a.theme.name, "dark");
    let t = Theme::built_in(0)
        .overlay("accent = \"#010203\"", "user")
        .unwrap();
    assert_eq!(t.accent, ratatui::style::Color::Rgb(1, 2, 3));
    assert_eq!(t.fg, Theme::built_in(0).fg, "other colours untouched");
    let e = Theme::built_in(0)
        .overlay("accent = \"nocolour\"", "theme.toml")
        .unwrap_err();
    assert!(e.contains("theme.toml") && e.contains("nocolour"), "{e}");
    for i in 0..3 {
        assert!(
            Theme::built_in(i).classes.len() >= 10,
            "every theme has class colours"
        );
    }
}

/// The console's draw path (worker → event → state) shows exactly what the engine's
/// `evaluate::run` (the CLI's path) computes for the same bank, under every normalisation,
/// and `n` switches the shown numbers without recomputing or changing the bank.
#[test]
fn console_kshot_numbers_equal_the_engine_in_every_mode() {
    let mut a = kshot();
    let session = a.kshot.session.clone().expect("session");
    let bank_len = session.bank.len();
    // Start from a fresh session state, then draw the whole bank as `a` would.
    if let Some(s) = a.kshot.session.as_mut() {
        s.done_by_mode = vec![vec![]; Normalization::ALL.len()];
        s.summary_by_mode = vec![None; Normalization::ALL.len()];
        s.done.clear();
        s.summary = None;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    super::worker::evaluate_draws(tx, session.clone(), 0, bank_len, Normalization::None);
    let event = rx.try_recv().expect("an Evaluated event");
    let effects = a.on_event(event);
    assert!(
        matches!(effects.as_slice(), [Effect::SaveKShot]),
        "a complete bank is saved"
    );
    for mode in Normalization::ALL {
        let opts = KShotOptions {
            normalize: mode,
            ..a.kshot.opts.0.clone()
        };
        let (engine, _) = bloodshot::fewshot::evaluate::run(&session.prep, &opts, &[]).unwrap();
        let s = a.kshot.session.as_ref().unwrap();
        assert_eq!(s.summary_by_mode[mode.index()], engine, "{mode}");
        assert_eq!(s.summary, engine, "shown summary under {mode}");
        a.on_action(Action::NextNormalization);
    }
    // Four presses cycle back to `none`.
    assert_eq!(a.kshot.opts.0.normalize, Normalization::None);
    assert_eq!(a.kshot.session.as_ref().unwrap().bank.len(), bank_len);
}

#[test]
fn kshot_tab_with_results_80x24() {
    insta::assert_snapshot!(render(&kshot(), 80, 24));
}

#[test]
fn runs_tab_import_prompt() {
    let mut a = runs();
    assert!(a.on_action(Action::Import).is_empty());
    for c in "/data/bloodshot.ckpt".chars() {
        assert!(a.on_prompt_key(KeyCode::Char(c)).is_empty());
    }
    insta::assert_snapshot!(render(&a, 110, 30));
    a.on_prompt_key(KeyCode::Backspace);
    a.on_prompt_key(KeyCode::Char('t'));
    let effects = a.on_prompt_key(KeyCode::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::Import(p)] if p == &PathBuf::from("/data/bloodshot.ckpt")),
        "{effects:?}"
    );
    assert!(a.runs.prompt.is_none());
    // Esc cancels without importing.
    a.on_action(Action::Import);
    a.on_prompt_key(KeyCode::Char('x'));
    assert!(a.on_prompt_key(KeyCode::Esc).is_empty());
    assert!(a.runs.prompt.is_none());
}

#[test]
fn runs_tab_failed_import_says_why_and_adds_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.pth");
    std::fs::write(&bad, "hello").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    super::worker::import(tx, bad.clone(), dir.path().join("runs"));
    let mut a = runs();
    let n = a.runs.rows.len();
    a.on_event(rx.try_recv().expect("an Interop event"));
    assert!(rx.try_recv().is_err(), "no run list reload after a failure");
    assert_eq!(a.runs.rows.len(), n);
    let Some(Err(e)) = &a.runs.last_interop else {
        panic!("{:?}", a.runs.last_interop)
    };
    assert!(e.contains("neither a PyTorch checkpoint"), "{e}");
    assert!(!dir.path().join("runs").exists());
    let screen = render(&a, 110, 30);
    assert!(
        screen.contains("notes.pth: neither a PyTorch checkpoint"),
        "{screen}"
    );
}

/// The sizes a user over SSH has: nothing may be cut mid-sentence (the idle Train message and
/// the K-shot summary once were).
#[test]
fn train_tab_idle_80x24_and_kshot_120x36() {
    let mut a = app();
    a.tab = Tab::Train;
    let screen = render(&a, 80, 24);
    assert!(
        screen.contains("Resume an earlier run from") && screen.contains("Runs tab (R)."),
        "{screen}"
    );
    insta::assert_snapshot!("train_tab_idle_80x24", screen);
    let screen = render(&kshot(), 120, 36);
    assert!(screen.contains("95% CI 1.000–1.000"), "{screen}");
    insta::assert_snapshot!("kshot_tab_with_results_120x36", screen);
}

#[test]
fn watching_a_run_uses_the_dashboard_and_never_owns_it() {
    use bloodshot::train::TrainEvent;
    let mut a = runs();
    let effects = a.on_action(Action::Watch);
    let selected = a.runs.rows[a.runs.selected].path.clone();
    assert!(matches!(effects.as_slice(), [Effect::Watch(p)] if *p == selected));
    assert_eq!(a.tab, Tab::Train);
    assert!(a.train.watched && a.train.active());
    // Effect::Watch is started by the loop, which sets the flag; do what it does.
    a.watch = Some(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
        true,
    )));
    a.on_event(AppEvent::Watched(TrainEvent::Started {
        run_id: "20261126-100000-softmax".into(),
        run_dir: PathBuf::from("/runs/20261126-100000-softmax"),
        device: "cpu".into(),
        classes: vec!["A".into(), "B".into()],
        split_sizes: [10, 2, 2],
        steps_per_epoch: 5,
        first_epoch: 1,
        epochs: 2,
    }));
    a.on_event(AppEvent::Watched(TrainEvent::Step {
        epoch: 1,
        step: 3,
        steps: 5,
        loss: 1.5,
        metric_loss: 1.5,
        consistency_loss: 0.0,
        accuracy: 0.5,
        images_per_sec: 9.0,
        seconds: 0.2,
    }));
    assert_eq!(a.train.at, (1, 3));
    assert!(a.train.watched, "Started keeps the view a watched one");
    let screen = render(&a, 120, 36);
    assert!(
        screen.contains("watching: trained by another process"),
        "{screen}"
    );
    // x cannot stop it, q does not ask.
    a.on_action(Action::Stop);
    assert!(
        a.status
            .as_deref()
            .unwrap_or("")
            .contains("another process")
    );
    a.on_action(Action::Quit);
    assert!(a.should_quit && !a.quit_dialog);
}

#[test]
fn starting_a_run_here_stops_watching_and_late_events_are_dropped() {
    use bloodshot::train::TrainEvent;
    let mut a = runs();
    a.on_action(Action::Watch);
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    a.watch = Some(flag.clone());
    a.on_action(Action::Start);
    assert!(
        !flag.load(std::sync::atomic::Ordering::SeqCst),
        "the follower is told to stop"
    );
    assert!(!a.train.watched);
    // A step the follower sent before it stopped must not land in the new run's view.
    a.on_event(AppEvent::Watched(TrainEvent::Step {
        epoch: 4,
        step: 4,
        steps: 5,
        loss: 1.0,
        metric_loss: 1.0,
        consistency_loss: 0.0,
        accuracy: 0.5,
        images_per_sec: 9.0,
        seconds: 0.2,
    }));
    assert_ne!(a.train.at, (4, 4));
}

fn sweeps() -> App {
    use bloodshot::runs::TrainConfig;
    use bloodshot::sweep::{Grid, Job, JobState, JobStatus, KShotSpec, Sweep, SweepSpec};
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
            options: Default::default(),
        },
    };
    let id = "sweep-20261127-120000".to_string();
    let jobs: Vec<Job> = spec
        .grid
        .configs(&base)
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
        .collect();
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

#[test]
fn sweeps_tab_at_120x36_and_80x24() {
    let a = sweeps();
    let wide = render(&a, 120, 36);
    for needle in [
        "training",
        "cuda:0",
        "failed",
        "queued",
        "done",
        "run by pid 4242 on gpu-node-3",
        "1/4 done",
    ] {
        assert!(wide.contains(needle), "`{needle}` missing:\n{wide}");
    }
    insta::assert_snapshot!("sweeps_120x36", wide);
    insta::assert_snapshot!("sweeps_80x24", render(&a, 80, 24));
    insta::assert_snapshot!(
        "sweeps_empty",
        render(
            &{
                let mut e = app();
                e.tab = Tab::Sweeps;
                e
            },
            100,
            30
        )
    );
}

#[test]
fn a_new_sweep_takes_the_forms_and_runs_in_the_background() {
    let mut a = sweeps();
    a.form.epochs = 3;
    a.form.image_size = 64;
    a.kshot.opts.0.draws = 20;
    // objectives: softmax,aam; seeds 0..2 (default); devices cpu.
    a.on_action(Action::Right);
    let effects = a.on_action(Action::NewSweep);
    let [
        Effect::RunSweep {
            sweep: super::action::SweepStart::New(spec),
            devices,
            ..
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}");
    };
    assert_eq!(
        spec.grid.objectives,
        vec![Objective::Softmax, Objective::Aam]
    );
    assert_eq!(spec.grid.seeds, vec![0, 1]);
    assert_eq!((spec.base.epochs, spec.base.image_size), (3, 64));
    assert_eq!(spec.kshot.options.draws, 20);
    assert_eq!(devices, &vec![bloodshot::device::DeviceSpec::Cpu]);
    assert!(a.sweeps.running());
    // One sweep at a time in a console; quitting asks first.
    assert!(a.on_action(Action::NewSweep).is_empty());
    a.on_action(Action::Quit);
    assert!(a.quit_dialog && !a.should_quit);
    // The sweep ends: the console owns nothing any more.
    a.on_event(AppEvent::SweepEnded(Err("stopped".into())));
    assert!(!a.sweeps.running());
}
