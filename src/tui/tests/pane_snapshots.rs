//! Every pane against insta snapshots at fixed sizes (80×24, 120×36 and others), and the
//! help overlay against the key table.

use super::*;

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
        error: "loss became NaN at epoch 2 step 3: stopped; checkpoints up to epoch 1 are kept"
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
fn kshot_tab_names_saved_results_before_a_bank_is_drawn() {
    // "No k-shot results yet" was shown for a run with saved results.
    let mut a = runs();
    a.tab = Tab::KShot;
    let screen = render(&a, 100, 30);
    assert!(
        screen.contains("No bank drawn in this session yet"),
        "{screen}"
    );
    assert!(
        screen.contains("20261126-100000-softmax has saved k-shot results; the newest:"),
        "{screen}"
    );
    assert!(
        screen.contains("accuracy 0.612 ± 0.034 at k = 10"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
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
    use crate::tui::panes::strip_cell;
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
fn help_lists_exactly_the_bindings() {
    let a = app();
    let text: Vec<String> = crate::tui::panes::help::lines(&a)
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

/// A run whose saved k-shot result was scored on another target folder than the console's:
/// the tab names both and offers `T`; `T` switches the console to that target.
#[test]
fn kshot_tab_names_its_target_and_offers_the_saved_one() {
    let mut a = kshot();
    a.runs.rows[0].kshot_target = Some("/data/real-sample/cnmc".into());
    let screen = render(&a, 80, 24);
    insta::assert_snapshot!("kshot_tab_other_target_80x24", screen);
    assert!(
        screen.contains("target        sample-data/cnmc"),
        "{screen}"
    );
    assert!(
        screen.contains("⚠ saved on …a/real-sample/cnmc: T"),
        "{screen}"
    );

    let effects = a.on_action(Action::UseSavedTarget);
    assert!(matches!(effects.as_slice(), [Effect::Scan]), "{effects:?}");
    assert_eq!(a.target, std::path::PathBuf::from("/data/real-sample/cnmc"));
    assert!(
        a.kshot.session.is_none(),
        "embeddings of the old target are dropped"
    );
    assert_eq!(
        a.kshot.message.as_deref(),
        Some("scoring on /data/real-sample/cnmc now: press p to embed it")
    );
    let screen = render(&a, 120, 36);
    assert!(!screen.contains("⚠ its saved results used"), "{screen}");
    assert!(
        screen.contains("target        …/real-sample/cnmc"),
        "{screen}"
    );

    assert!(a.on_action(Action::UseSavedTarget).is_empty());
    assert_eq!(
        a.kshot.message.as_deref(),
        Some("the run's saved results used this target already")
    );
}

/// The loss chart names its series in its title (the legend), says its smoothing and axis,
/// and `>` `<` `L` change them for every series.
#[test]
fn train_tab_loss_chart_has_a_legend_smoothing_and_log_axis() {
    let mut a = training();
    let screen = render(&a, 120, 36);
    insta::assert_snapshot!("train_tab_loss_legend_120x36", screen);
    for needle in [
        "loss per step · EMA 0.90",
        "━raw ",
        "━total ",
        "━ArcFace",
        "━consistency",
        "step",
    ] {
        assert!(screen.contains(needle), "{needle}:\n{screen}");
    }
    assert!(a.on_action(Action::Smoother).is_empty());
    assert_eq!(a.train.chart.smoothing, 0.95);
    a.on_action(Action::ToggleLogY);
    insta::assert_snapshot!("train_tab_loss_log_80x24", render(&a, 80, 24));
    let screen = render(&a, 120, 36);
    insta::assert_snapshot!("train_tab_loss_log_120x36", screen);
    assert!(screen.contains("EMA 0.95 · log"), "{screen}");
    for _ in 0..6 {
        a.on_action(Action::Rougher);
    }
    assert_eq!(a.train.chart.smoothing, 0.0, "stops at the raw values");
    let screen = render(&a, 120, 36);
    assert!(screen.contains("loss per step · raw · log"), "{screen}");
    assert!(
        !screen.contains("━raw"),
        "one series is the raw one: {screen}"
    );
    a.on_action(Action::ToggleLogY);
    assert!(!a.train.chart.log_y);
}

/// `m` and `n` move the grid's selection (the same draws, rescored): the selected cell's
/// accuracy and its paired Δ to prototype · none are spelled out under the grid.
#[test]
fn kshot_grid_selects_a_cell_with_m_and_n() {
    let mut a = kshot();
    assert!(
        a.on_action(Action::NextMethod).is_empty(),
        "an unfinished bank is not saved"
    );
    for _ in 0..3 {
        a.on_action(Action::NextNormalization);
    }
    let screen = render(&a, 120, 36);
    insta::assert_snapshot!("kshot_grid_logistic_cl2n_120x36", screen);
    let s = a.kshot.session.as_ref().expect("session");
    let cell = bloodshot::fewshot::evaluate::Cell::of(&a.kshot.opts.0);
    assert_eq!(cell.name(), "logistic · cl2n*");
    let acc = s.summary_by_cell[cell.index()].as_ref().expect("scored");
    let d = s.paired_by_cell[cell.index()].expect("a paired difference");
    for needle in [
        format!(
            "▸ logistic · cl2n* {:.3} ± {:.3}",
            acc.accuracy.mean, acc.accuracy.std
        ),
        format!("Δ {:+.3} [{:+.3}, {:+.3}] n.s.", d.mean, d.low, d.high),
        "classifier    logistic".to_string(),
    ] {
        assert!(screen.contains(&needle), "{needle} in\n{screen}");
    }
    assert_eq!(
        s.summary,
        Some(acc.clone()),
        "the panes show the selected cell"
    );
}

/// Three runs on one chart: one colour per run, the legend naming what differs (the
/// objective), the table of last values; `c` moves to the per-epoch curves, `L` logs the
/// loss axis.
#[test]
fn overlay_of_three_runs_with_a_legend() {
    let mut a = overlay();
    let wide = render(&a, 120, 36);
    insta::assert_snapshot!("overlay_three_runs_120x36", wide);
    for needle in [
        "Compare marked runs · loss per step · EMA 0.90",
        "━softmax ",
        "━aam ",
        "━aam-consistency ",
        "run / seed group",
        "step",
    ] {
        assert!(wide.contains(needle), "{needle}:\n{wide}");
    }
    // Last raw loss of the softmax run by hand: 6·e^(−29/10) − 0.3 (step 29 is odd).
    let last = 6.0 * (-2.9f64).exp() - 0.3;
    assert!(wide.contains(&format!("{last:.3}")), "{last:.3}:\n{wide}");
    insta::assert_snapshot!("overlay_three_runs_80x24", render(&a, 80, 24));
    a.on_action(Action::ToggleLogY);
    let screen = render(&a, 120, 36);
    assert!(screen.contains("EMA 0.90 · log"), "{screen}");
    insta::assert_snapshot!("overlay_three_runs_log_80x24", render(&a, 80, 24));
    a.on_action(Action::NextMetric);
    a.on_action(Action::NextMetric);
    let screen = render(&a, 120, 36);
    assert!(screen.contains("val loss"), "{screen}");
    assert!(screen.contains("epoch"), "{screen}");
}

/// Six runs, three objectives × two seeds, as seed groups: one mean line with a filled ±1 sd
/// band each, n = 2 in the legend, the last value as mean ± sd.
#[test]
fn seed_bands_of_six_runs() {
    let a = seed_bands();
    let wide = render(&a, 120, 36);
    insta::assert_snapshot!("seed_bands_val_accuracy_120x36", wide);
    insta::assert_snapshot!("seed_bands_val_accuracy_80x24", render(&a, 80, 24));
    assert!(wide.contains("seed groups: mean ± sd"), "{wide}");
    assert!(wide.contains("━softmax n=2"), "{wide}");
    // Softmax's last val accuracy: 0.4 + 0.42 = 0.82 (seed 0) and 0.85 (seed 1): mean
    // 0.835, sd 0.03/√2 = 0.0212.
    assert!(wide.contains("0.835 ± 0.021"), "{wide}");
}

/// A pinned baseline stays on the live run's loss chart, named in the legend.
#[test]
fn train_tab_draws_the_pinned_baseline() {
    let mut a = training();
    let b = curves(Objective::Softmax, 0);
    a.compare.baseline_path = Some(b.path.clone());
    a.compare.baseline = Some(b);
    let wide = render(&a, 120, 36);
    insta::assert_snapshot!("train_tab_with_baseline_120x36", wide);
    insta::assert_snapshot!("train_tab_with_baseline_80x24", render(&a, 80, 24));
    assert!(
        wide.contains("loss per step · EMA 0.90 · ━baseline 100000-softmax"),
        "{wide}"
    );
}

/// The explorer: the jobs sorted by k-shot accuracy (best first), a filter, and the parallel
/// coordinates with the selected job.
#[test]
fn explorer_sorted_filtered_and_parallel_coordinates() {
    let mut a = explorer();
    let wide = render(&a, 120, 36);
    insta::assert_snapshot!("explorer_sorted_120x36", wide);
    insta::assert_snapshot!("explorer_sorted_80x24", render(&a, 80, 24));
    for needle in [
        "sorted by k10 ▼",
        "12 of 12 jobs",
        "objective",
        "margin",
        "k10▼",
        "parallel coordinates · colour by k10",
    ] {
        assert!(wide.contains(needle), "{needle}:\n{wide}");
    }
    a.explorer.filter_text = "objective=aam-c* margin>=0.3".into();
    let (_, t) = a.explorer.table.as_ref().unwrap();
    a.explorer.filter =
        bloodshot::sweep::explore::Filter::parse(&a.explorer.filter_text, t).unwrap();
    let screen = render(&a, 120, 36);
    insta::assert_snapshot!("explorer_filtered_120x36", screen);
    insta::assert_snapshot!("explorer_filtered_80x24", render(&a, 80, 24));
    assert!(screen.contains("4 of 12 jobs"), "{screen}");
}

/// A band's colour is its line's, halfway to the theme's faint colour.
#[test]
fn bands_are_a_faint_shade_of_their_line() {
    use ratatui::style::Color;
    let t = Theme::built_in(0);
    // Dark theme: raw series #4e5a6a; (0x5f + 0x4e)/2 = 0x56, (0xaf + 0x5a)/2 = 0x84,
    // (0xff + 0x6a)/2 = 0xb4.
    assert_eq!(
        panes::compare::faint(&t, Color::Rgb(0x5f, 0xaf, 0xff)),
        Color::Rgb(0x56, 0x84, 0xb4)
    );
    assert_eq!(panes::compare::faint(&t, Color::Red), t.raw_series);
}

/// Three groups of Table 1 that differ in normalisation, protocol and "by subject" only.
fn table1_groups() -> App {
    use bloodshot::report::table1::{Group, OverSeeds, Row, SeedResult, Table1, configuration};
    let config = configuration(&bloodshot::runs::TrainConfig {
        base: "/data/aml".into(),
        ..Default::default()
    });
    let row = |objective, mean| Row {
        objective,
        seeds: vec![SeedResult {
            train_seed: 0,
            run_id: "r".into(),
            accuracy: vec![mean],
            macro_f1: vec![mean],
        }],
        accuracy: OverSeeds { mean, std: 0.0 },
        macro_f1: Some(OverSeeds { mean, std: 0.0 }),
        vs_baseline: None,
        f1_vs_baseline: None,
    };
    let group = |normalize, protocol: &str, mean| Group {
        configuration: config.clone(),
        evaluation: format!("/data/cnmc · k = 10 · 100 draws (seed 0) · protocol {protocol}"),
        normalize,
        baseline: Objective::Softmax,
        rows: vec![row(Objective::Softmax, mean)],
    };
    let mut a = runs();
    a.runs.marked.clear();
    a.runs.table1 = Table1 {
        groups: vec![
            group(Normalization::None, "heldout-test", 0.75),
            group(Normalization::None, "pool · by subject", 0.625),
            group(Normalization::Cl2n, "heldout-test", 0.875),
        ],
    };
    a
}

#[test]
fn table1_says_once_what_its_groups_share_and_heads_each_with_what_sets_it_apart() {
    let a = table1_groups();
    let (shared, own) = crate::tui::panes::runs::group_headings(&a.runs.table1);
    assert_eq!(
        shared,
        [
            "224 px",
            "6 epochs",
            "batch 32",
            "lr 0.001",
            "margin 0.5",
            "scale 64",
            "λ 1",
            "BN recal. 20",
            "k = 10",
            "100 draws (seed 0)",
            "base /data/aml",
            "target /data/cnmc",
        ]
    );
    assert_eq!(
        own,
        [
            vec!["normalisation none", "protocol heldout-test"],
            vec!["normalisation none", "protocol pool", "by subject"],
            vec!["normalisation cl2n", "protocol heldout-test"],
        ]
    );
    // One group shares everything with itself: no heading of its own.
    let mut one = a.runs.table1.clone();
    one.groups.truncate(1);
    let (shared, own) = crate::tui::panes::runs::group_headings(&one);
    assert_eq!(
        shared.first().map(String::as_str),
        Some("normalisation none")
    );
    assert_eq!(own, [Vec::<String>::new()]);
    insta::assert_snapshot!(render(&a, 100, 30));
}

/// Table 1's headings break between their parts instead of being cut at the pane's edge.
#[test]
fn table1_headings_wrap_between_their_parts() {
    use crate::tui::panes::runs::wrap_parts;
    let parts: Vec<String> = ["224 px", "6 epochs", "batch 32", "target /data/cnmc"]
        .map(String::from)
        .to_vec();
    // "all groups: 224 px · 6 epochs" is 29 characters (" · batch 32" would make it 40),
    // "· batch 32 · target /data/cnmc" 30.
    assert_eq!(
        wrap_parts("all groups: ", &parts, 29),
        [
            "all groups: 224 px · 6 epochs",
            "· batch 32",
            "· target /data/cnmc",
        ]
    );
    assert_eq!(
        wrap_parts("all groups: ", &parts, 200),
        ["all groups: 224 px · 6 epochs · batch 32 · target /data/cnmc"]
    );
    // A part longer than the line stands alone; nothing is lost on a zero width.
    assert_eq!(wrap_parts("", &parts[..2], 0), ["224 px", "· 6 epochs"]);
    // At 80 columns the shared line of three groups (120 characters) takes two lines, and
    // its last part, the target, is on screen.
    let screen = render(&table1_groups(), 80, 30);
    assert!(screen.contains("· target /data/cnmc"), "{screen}");
}

/// When Table 1's groups do not all fit, the title says which are shown, and PgDn / PgUp
/// show it from the next or previous group (the shared line stays on top).
#[test]
fn table1_pages_through_groups_that_do_not_fit() {
    let mut a = table1_groups();
    let all = render(&a, 100, 40);
    assert!(
        !all.contains("groups 1–"),
        "all three fit at 40 lines:\n{all}"
    );
    let screen = render(&a, 100, 20);
    assert!(screen.contains("groups 1–2 of 3 (PgUp PgDn)"), "{screen}");
    assert!(screen.contains("normalisation none · protocol heldout-test"));
    a.on_action(Action::NextGroup);
    let screen = render(&a, 100, 20);
    assert!(screen.contains("groups 2–3 of 3 (PgUp PgDn)"), "{screen}");
    assert!(!screen.contains("normalisation none · protocol heldout-test"));
    assert!(screen.contains("normalisation none · protocol pool · by subject"));
    assert!(screen.contains("all groups: 224 px"), "{screen}");
    // No further than the last group; back up to the first.
    for _ in 0..5 {
        a.on_action(Action::NextGroup);
    }
    assert_eq!(a.runs.first_group, 2);
    assert!(render(&a, 100, 20).contains("groups 3–3 of 3"));
    for _ in 0..5 {
        a.on_action(Action::PrevGroup);
    }
    assert_eq!(a.runs.first_group, 0);
    // A reloaded table with fewer groups keeps the view inside it.
    a.runs.first_group = 2;
    let mut fewer = a.runs.table1.clone();
    fewer.groups.truncate(1);
    a.runs.set_table1(fewer);
    assert_eq!(a.runs.first_group, 0);
}

#[test]
fn a_long_kshot_cell_is_shown_whole() {
    // The column was 30 wide: "0.685±0.105 k=5 heldout-test cl2n logistic" read
    // "0.685±0.105 k=5 heldout-test c".
    let mut a = runs();
    a.runs.rows[1].kshot = Some((5, "pool by-subject cl2n logistic".into(), 0.685, 0.105));
    let screen = render(&a, 140, 30);
    assert!(
        screen.contains("0.685±0.105 k=5 pool by-subject cl2n logistic "),
        "{screen}"
    );
    assert!(
        screen.contains("20261126-120000-aam-consistency "),
        "{screen}"
    );
    // Narrower, the run ids stay whole and the k-shot cell takes what is left.
    let screen = render(&a, 120, 30);
    assert!(
        screen.contains("20261126-120000-aam-consistency "),
        "{screen}"
    );
    assert!(
        screen.contains("0.685±0.105 k=5 pool by-subject cl2n lo"),
        "{screen}"
    );
}

#[test]
fn the_runs_tab_names_what_a_kshot_result_changed_from_the_seed() {
    use bloodshot::fewshot::evaluate::KShotResult;
    let result = |protocol, options| KShotResult {
        run_id: "r".into(),
        epoch: 1,
        target: PathBuf::from("/data/cnmc"),
        options,
        protocol,
        classes: vec!["all".into(), "hem".into()],
        support_pool: 10,
        queries: 10,
        summary: None,
        sweep: vec![],
        collapse: None,
    };
    let label = |protocol, options| crate::tui::worker::kshot_label(&result(protocol, options));
    assert_eq!(
        label(Protocol::HeldoutTest, KShotOptions::default()),
        "heldout-test"
    );
    let everything = KShotOptions {
        by_subject: true,
        normalize: Normalization::Cl2n,
        method: Method::Logistic,
        tta: Tta::Dihedral,
        ..KShotOptions::default()
    };
    assert_eq!(
        label(Protocol::Pool, everything),
        "pool by-subject cl2n logistic tta-dihedral"
    );
}
