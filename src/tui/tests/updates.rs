//! The update logic: actions, background events and the workers, without a terminal.

use super::*;

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
fn form_keys_change_values_and_start_validates() {
    let mut a = app();
    a.tab = Tab::Train;
    a.on_action(Action::Right); // objective: aam-consistency → softmax
    assert_eq!(a.train.form.objective, Objective::Softmax);
    a.on_action(Action::Down);
    a.on_action(Action::Left);
    assert_eq!(a.train.form.epochs, 5);
    let effects = a.on_action(Action::Start);
    assert_eq!(effects.len(), 1);
    assert!(a.train.view.active());
    // The update holds the run's stop signal; `x` reaches the run through the effect's clone.
    let [Effect::Train { stop, gpu_poll, .. }] = effects.as_slice() else {
        panic!("a Train effect: {effects:?}");
    };
    assert!(
        a.train
            .gpu_poll
            .as_ref()
            .is_some_and(|p| std::sync::Arc::ptr_eq(p, gpu_poll))
    );
    assert_eq!(stop.mode(), bloodshot::train::StopMode::None);
    a.on_action(Action::Stop);
    assert_eq!(stop.mode(), bloodshot::train::StopMode::AfterEpoch);
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
    a.train.view.device = "vulkan:0".into();
    a.on_event(crate::tui::event::AppEvent::Gpu(Ok(
        crate::tui::gpu::GpuStats {
            name: "NVIDIA H100".into(),
            util_percent: 87,
            mem_used: 21 << 30,
            mem_total: 80 << 30,
        },
    )));
    let screen = render(&a, 140, 32);
    assert!(
        screen.contains("NVIDIA H100 · 87 % busy · 21.0/80.0 GiB"),
        "{screen}"
    );
    a.on_event(crate::tui::event::AppEvent::Gpu(Err(
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
    let detect = crate::tui::thumb::detect_protocol;
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
    a.train.form.device = bloodshot::device::DeviceSpec::Cuda(0);
    a.on_action(Action::Start);
    // Text that merely mentions a device decides nothing…
    a.on_train_event(TrainEvent::Failed {
        error: "the file `device `cuda:0`` is broken".into(),
    });
    assert_eq!(a.train.form.device, bloodshot::device::DeviceSpec::Cuda(0));
    a.on_action(Action::Start);
    // …a device error does.
    a.on_train_event(TrainEvent::Failed {
        error: bloodshot::device::DeviceError::NotCompiled {
            spec: bloodshot::device::DeviceSpec::Cuda(0),
            how: "this binary was built without cuda".into(),
        }
        .into(),
    });
    assert_eq!(a.train.form.device, bloodshot::device::DeviceSpec::Cpu);
    assert!(
        a.status
            .as_deref()
            .unwrap_or("")
            .contains("press s to train there")
    );
    assert!(!a.train.view.active());
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
/// `evaluate::run` (the CLI's path) computes for the same bank, in every test-time
/// augmentation × classifier × normalisation cell, and `n` / `m` / `v` switch the shown
/// numbers without recomputing or changing the bank.
#[test]
fn console_kshot_numbers_equal_the_engine_in_every_cell() {
    use bloodshot::fewshot::tta::Tta;
    let mut a = kshot();
    // A second embedding of the same images stands in for the dihedral one.
    let augmented = Arc::new(super::tiny_prep(0.3));
    // Start from a fresh session state, then draw the whole bank as `a` would.
    if let Some(s) = a.kshot.session.as_mut() {
        s.augmented = Some((Tta::Dihedral, Arc::clone(&augmented)));
        s.done_by_cell = vec![vec![]; Cell::GRID];
        s.summary_by_cell = vec![None; Cell::GRID];
        s.paired_by_cell = vec![None; Cell::GRID];
        s.done.clear();
        s.summary = None;
    }
    let session = a.kshot.session.clone().expect("session");
    let bank_len = session.bank.len();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let first = Cell::of(&a.kshot.opts.0);
    crate::tui::worker::evaluate_draws(tx, session.clone(), 0, bank_len, first);
    let event = rx.try_recv().expect("an Evaluated event");
    let effects = a.on_event(event);
    assert!(
        matches!(effects.as_slice(), [Effect::SaveKShot]),
        "a complete bank is saved"
    );
    let mut engine_summaries = vec![];
    for tta in Tta::ALL {
        let prep = match tta {
            Tta::None => &session.prep,
            _ => &augmented,
        };
        for method in Method::ALL {
            for mode in Normalization::ALL {
                let opts = KShotOptions {
                    normalize: mode,
                    method,
                    tta,
                    ..a.kshot.opts.0.clone()
                };
                assert_eq!(
                    Cell::of(&a.kshot.opts.0),
                    Cell::of(&opts),
                    "n, m and v step the grid"
                );
                let (engine, _) = bloodshot::fewshot::evaluate::run(prep, &opts, &[]).unwrap();
                let s = a.kshot.session.as_ref().unwrap();
                let i = Cell::of(&opts).index();
                assert_eq!(s.summary_by_cell[i], engine, "{}", opts.cell_name());
                assert_eq!(s.summary, engine, "shown summary in {}", opts.cell_name());
                engine_summaries.push(engine);
                // Every switch of a complete bank saves the cell now shown.
                let effects = a.on_action(Action::NextNormalization);
                assert!(matches!(effects.as_slice(), [Effect::SaveKShot]));
            }
            a.on_action(Action::NextMethod);
        }
        a.on_action(Action::NextTta);
    }
    // The paired differences to plain prototype · none are the engine's, as `kshot --tta …
    // --method … --normalize …` prints them.
    let engine_paired = bloodshot::fewshot::paired::to_first(
        &engine_summaries
            .iter()
            .map(Option::as_ref)
            .collect::<Vec<_>>(),
    );
    let s = a.kshot.session.as_ref().unwrap();
    assert_eq!(s.paired_by_cell, engine_paired);
    assert!(engine_paired[0].is_none() && engine_paired[1..].iter().all(Option::is_some));
    // Back to plain prototype · none, same bank.
    assert_eq!(Cell::of(&a.kshot.opts.0), first);
    assert_eq!(a.kshot.session.as_ref().unwrap().bank.len(), bank_len);

    // Without augmented embeddings, `v` asks for a new preparation instead.
    let mut b = kshot();
    assert!(b.on_action(Action::NextTta).is_empty());
    assert!(b.kshot.session.is_none());
    let message = b.kshot.message.clone().unwrap_or_default();
    assert!(
        message.contains("press p to embed the target with 8 views per image"),
        "{message}"
    );
}

#[test]
fn runs_tab_failed_import_says_why_and_adds_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.pth");
    std::fs::write(&bad, "hello").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    crate::tui::worker::import(tx, bad.clone(), dir.path().join("runs"), Default::default());
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

#[test]
fn watching_a_run_uses_the_dashboard_and_never_owns_it() {
    use bloodshot::train::TrainEvent;
    let mut a = runs();
    let effects = a.on_action(Action::Watch);
    let selected = a.runs.rows[a.runs.selected].path.clone();
    assert!(matches!(effects.as_slice(), [Effect::Watch { path, .. }] if *path == selected));
    assert_eq!(a.tab, Tab::Train);
    assert!(a.train.view.watched && a.train.view.active());
    // The update holds the follower's flag; the effect carries a clone of it.
    let Some(Effect::Watch { flag, .. }) = effects.first() else {
        unreachable!("checked above")
    };
    assert!(
        a.train
            .watch
            .as_ref()
            .is_some_and(|w| std::sync::Arc::ptr_eq(w, flag))
    );
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
    assert_eq!(a.train.view.at, (1, 3));
    assert!(a.train.view.watched, "Started keeps the view a watched one");
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
    a.train.watch = Some(flag.clone());
    a.on_action(Action::Start);
    assert!(
        !flag.load(std::sync::atomic::Ordering::SeqCst),
        "the follower is told to stop"
    );
    assert!(!a.train.view.watched);
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
    assert_ne!(a.train.view.at, (4, 4));
}

#[test]
fn a_new_sweep_takes_the_forms_and_runs_in_the_background() {
    let mut a = sweeps();
    a.train.form.epochs = 3;
    a.train.form.image_size = 64;
    a.kshot.opts.0.draws = 20;
    // objectives: softmax,aam; seeds 0..2 (default); devices cpu.
    a.on_action(Action::Right);
    let effects = a.on_action(Action::NewSweep);
    let [
        Effect::RunSweep {
            sweep: crate::tui::action::SweepStart::New(spec),
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

/// The forms offer the devices the scan listed, nothing else: the Train form steps through
/// them in order, the Sweeps form offers the CPU, each GPU and all CUDA devices together, and
/// a form device this machine lacks becomes the CPU with a note.
#[test]
fn the_forms_offer_only_listed_devices() {
    use crate::tui::state::train::TrainField;
    use bloodshot::device::{Adapter, DeviceSpec};
    let mut a = app();
    assert_eq!(
        a.devices,
        vec![DeviceSpec::Cpu],
        "the CPU until the scan answers"
    );
    a.train.form.device = DeviceSpec::Cuda(1);
    let listed = vec![
        DeviceSpec::Cpu,
        DeviceSpec::Wgpu(Adapter::Best),
        DeviceSpec::Wgpu(Adapter::Cpu),
        DeviceSpec::Cuda(0),
        DeviceSpec::Cuda(1),
    ];
    a.on_event(AppEvent::Devices(listed.clone()));
    assert_eq!(
        a.train.form.device,
        DeviceSpec::Cuda(1),
        "a listed device stays"
    );
    assert_eq!(a.status, None);
    a.tab = Tab::Train;
    a.train.field = TrainField::ALL
        .iter()
        .position(|f| *f == TrainField::Device)
        .unwrap();
    a.train.form.device = DeviceSpec::Cpu;
    let mut seen = vec![a.train.form.device];
    for _ in 0..6 {
        a.on_action(Action::Right);
        seen.push(a.train.form.device);
    }
    assert_eq!(
        seen,
        vec![
            DeviceSpec::Cpu,
            DeviceSpec::Wgpu(Adapter::Best),
            DeviceSpec::Wgpu(Adapter::Cpu),
            DeviceSpec::Cuda(0),
            DeviceSpec::Cuda(1),
            DeviceSpec::Cuda(1),
            DeviceSpec::Cuda(1),
        ]
    );
    assert_eq!(
        a.sweeps.device_sets,
        vec![
            vec![DeviceSpec::Cpu],
            vec![DeviceSpec::Wgpu(Adapter::Best)],
            vec![DeviceSpec::Wgpu(Adapter::Cpu)],
            vec![DeviceSpec::Cuda(0)],
            vec![DeviceSpec::Cuda(1)],
            vec![DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)],
        ]
    );
    // The machine turns out to have the CPU only: the form falls back and says why.
    a.on_event(AppEvent::Devices(vec![DeviceSpec::Cpu]));
    assert_eq!(a.train.form.device, DeviceSpec::Cpu);
    assert_eq!(
        a.status.as_deref(),
        Some(
            "device `cuda:1` is not on this machine (`bloodshot devices` lists what is): the form now says cpu"
        )
    );
    a.on_action(Action::Right);
    assert_eq!(a.train.form.device, DeviceSpec::Cpu);
    assert_eq!(a.sweeps.device_sets, vec![vec![DeviceSpec::Cpu]]);
    assert_eq!(a.sweeps.device_list(), vec![DeviceSpec::Cpu]);
}

/// `w` computes one accuracy-vs-k curve per classifier on the same banks, exactly the
/// engine's `evaluate::run` with that classifier (as `kshot --sweep … --method …` computes
/// it), and saves the selected classifier's curve with the result.
#[test]
fn the_k_sweep_draws_every_classifier_as_the_engine_computes_it() {
    let mut a = kshot();
    a.on_action(Action::NextMethod); // logistic
    let session = a.kshot.session.clone().expect("session");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    crate::tui::worker::sweep(tx, session.clone(), a.kshot.opts.0.clone());
    let effects = a.on_event(rx.try_recv().expect("a Swept event"));
    assert!(
        matches!(effects.as_slice(), [Effect::SaveKShot]),
        "{effects:?} {:?}",
        a.kshot.message
    );
    let s = a.kshot.session.as_ref().unwrap();
    let sweep = s.sweep.as_ref().expect("curves");
    assert_eq!(sweep.normalize, Normalization::None);
    // Classes of 6 support images: k = 10 and 20 cannot be drawn, and the tab says so.
    assert_eq!(
        sweep.left_out.as_ref().map(|l| l.0.clone()),
        Some(vec![10, 20])
    );
    let message = a.kshot.message.clone().unwrap_or_default();
    assert!(
        message.starts_with("k = 10, 20 left out: k = 10 is larger than class `all`"),
        "{message}"
    );
    for method in Method::ALL {
        let o = KShotOptions {
            method,
            ..a.kshot.opts.0.clone()
        };
        let (_, engine) =
            bloodshot::fewshot::evaluate::run(&session.prep, &o, &[1, 2, 3, 5]).unwrap();
        assert_eq!(sweep.by_method[method.index()], engine, "{method}");
    }
    let cell = Cell::of(&a.kshot.opts.0);
    assert_eq!(s.sweep_points(cell), sweep.by_method[1].as_slice());
    // Another normalisation or augmentation: the curves are not its own, so none are shown
    // or saved.
    let mut b = a.clone();
    a.on_action(Action::NextNormalization);
    assert!(a.kshot.session.as_ref().unwrap().sweep.is_none());
    if let Some(s) = b.kshot.session.as_mut() {
        s.augmented = Some((
            bloodshot::fewshot::tta::Tta::Dihedral,
            Arc::new(super::tiny_prep(0.3)),
        ));
    }
    b.on_action(Action::NextTta);
    let s = b.kshot.session.as_ref().unwrap();
    assert!(s.sweep.is_none(), "the curves were of the plain embeddings");
}

/// The Train form's "start from" field offers "random", then every run with a checkpoint;
/// the run it names is what `s` trains from (`TrainConfig::init`, as `train --init`).
#[test]
fn the_train_form_starts_from_a_run() {
    use crate::tui::state::train::TrainField;
    let mut a = runs();
    a.runs.rows[2].checkpoints.clear(); // a run without a checkpoint is not offered
    a.tab = Tab::Train;
    a.train.field = TrainField::ALL
        .iter()
        .position(|f| *f == TrainField::Init)
        .unwrap();
    assert_eq!(a.train.form.init, None);
    let mut seen = vec![];
    for _ in 0..3 {
        a.on_action(Action::Right);
        seen.push(a.train.form.init.clone());
    }
    let path = |id: &str| Some(PathBuf::from("/runs").join(id));
    assert_eq!(
        seen,
        vec![
            path("20261126-100000-softmax"),
            path("20261126-110000-aam"),
            path("20261126-110000-aam"),
        ]
    );
    assert_eq!(
        crate::tui::panes::train::field_value(&a, TrainField::Init),
        "…126-110000-aam"
    );
    for _ in 0..3 {
        a.on_action(Action::Left);
    }
    assert_eq!(a.train.form.init, None, "back to a random start");
    assert_eq!(
        crate::tui::panes::train::field_value(&a, TrainField::Init),
        "random"
    );
}

/// The system history follows the run shown: samples of another folder (a run switched away
/// from) are dropped, the shown run's replace the old ones.
#[test]
fn system_history_belongs_to_the_run_shown() {
    let mut a = training();
    assert_eq!(a.train.view.system.len(), 12);
    a.on_event(AppEvent::System("/runs/other".into(), vec![]));
    assert_eq!(
        a.train.view.system.len(),
        12,
        "another run's samples are ignored"
    );
    a.on_event(AppEvent::System("/runs/x".into(), vec![]));
    assert!(a.train.view.system.is_empty());
    assert_eq!(
        a.train.view.run_dir.as_deref(),
        Some(std::path::Path::new("/runs/x"))
    );
}

/// `o` on the Runs tab overlays the marked runs on the Train tab; `o` there hides and shows
/// it; curves read for another overlay are ignored; `c` and `g` change what is drawn.
#[test]
fn overlay_keys() {
    let mut a = runs();
    let fx = a.on_action(Action::Overlay);
    let paths: Vec<PathBuf> = a.runs.export_paths();
    assert_eq!(paths.len(), 2);
    assert!(matches!(&fx[..], [Effect::LoadCurves(p)] if *p == paths));
    assert_eq!(a.tab, Tab::Train);
    assert!(a.compare.shown && a.compare.pending);
    a.on_event(AppEvent::Curves(
        vec!["/runs/other".into()],
        vec![curves(Objective::Aam, 0)],
        vec![],
    ));
    assert!(a.compare.curves.is_empty(), "stale curves are ignored");
    a.on_event(AppEvent::Curves(
        paths.clone(),
        vec![curves(Objective::Aam, 0)],
        vec![],
    ));
    assert_eq!(a.compare.curves.len(), 1);
    assert!(!a.compare.pending);
    assert!(a.on_action(Action::Overlay).is_empty());
    assert!(!a.compare.shown);
    assert!(matches!(
        &a.on_action(Action::Overlay)[..],
        [Effect::LoadCurves(_)]
    ));
    assert!(a.compare.shown);
    a.on_action(Action::NextMetric);
    assert_eq!(
        a.compare.metric,
        bloodshot::report::compare::Metric::TrainLoss
    );
    a.on_action(Action::SeedBands);
    assert!(a.compare.seed_bands);

    let mut fresh = app();
    fresh.tab = Tab::Train;
    assert!(fresh.on_action(Action::Overlay).is_empty());
    assert!(
        fresh
            .status
            .as_deref()
            .unwrap()
            .starts_with("nothing to overlay yet")
    );
}

/// `o` on the Sweeps tab overlays every job of the selected sweep.
#[test]
fn overlay_a_sweep() {
    let mut a = sweeps();
    let fx = a.on_action(Action::Overlay);
    let want: Vec<PathBuf> = a.sweeps.rows[0]
        .sweep
        .jobs
        .iter()
        .map(|j| PathBuf::from("/runs").join(&j.run_id))
        .collect();
    assert!(matches!(&fx[..], [Effect::LoadCurves(p)] if *p == want));
    assert!(matches!(
        &a.compare.source,
        Some((super::super::state::compare::Source::Sweep(id), _)) if id == "sweep-20261127-120000"
    ));
}

/// `b` pins the selected run as the baseline and unpins it; the refresh re-reads it.
#[test]
fn baseline_pin_and_unpin() {
    let mut a = runs();
    let path = a.runs.selected_row().unwrap().path.clone();
    let fx = a.on_action(Action::Baseline);
    assert!(matches!(&fx[..], [Effect::LoadBaseline(p)] if *p == path));
    let mut c = curves(Objective::Aam, 0);
    c.path = path.clone();
    a.on_event(AppEvent::Baseline(Ok(c)));
    assert!(a.compare.baseline.is_some());
    assert!(matches!(&a.compare.refresh()[..], [Effect::LoadBaseline(p)] if *p == path));
    assert!(a.on_action(Action::Baseline).is_empty());
    assert!(a.compare.baseline.is_none() && a.compare.baseline_path.is_none());
    assert_eq!(a.status.as_deref(), Some("baseline unpinned"));
    // A baseline that cannot be read says why and is not pinned.
    a.on_action(Action::Baseline);
    a.on_event(AppEvent::Baseline(Err(
        "cannot read /runs/x/config.json: gone".into(),
    )));
    assert!(a.compare.baseline_path.is_none());
    assert!(a.status.as_deref().unwrap().contains("gone"));
}

/// The explorer's keys: ↑↓ select a job, ←→ sort by another column, r reverses, / filters
/// (a bad filter keeps the one in force and says why), f follows the selected job.
#[test]
fn explorer_keys() {
    let mut a = explorer();
    let (_, t) = a.explorer.table.clone().unwrap();
    let k = t.column("k10").unwrap();
    assert_eq!((a.explorer.sort, a.explorer.descending), (k, true));
    let best = a.explorer.order()[0];
    // Best: consistency, seed 1, margin 0.3: 24 + 3 + 3 + 1 = 31 of 40.
    assert_eq!(
        t.rows[best].values[k],
        bloodshot::sweep::explore::Value::Number(31.0 / 40.0)
    );
    a.on_action(Action::Down);
    assert_eq!(a.explorer.selected, 1);
    assert_eq!(a.sweeps.field, 0, "the form keeps its field");
    a.on_action(Action::Left);
    assert_eq!(t.columns[a.explorer.sort].name, "test");
    a.on_action(Action::ReverseSort);
    assert!(!a.explorer.descending);
    a.on_action(Action::Filter);
    assert!(a.prompt_open());
    for ch in "seed=1".chars() {
        a.on_prompt_key(KeyCode::Char(ch));
    }
    a.on_prompt_key(KeyCode::Enter);
    assert!(!a.prompt_open());
    assert_eq!(a.explorer.order().len(), 6);
    a.on_action(Action::Filter);
    a.on_prompt_key(KeyCode::Backspace);
    a.on_prompt_key(KeyCode::Backspace);
    a.on_prompt_key(KeyCode::Char('>'));
    a.on_prompt_key(KeyCode::Char('x'));
    a.on_prompt_key(KeyCode::Enter);
    assert_eq!(a.explorer.order().len(), 6, "the old filter stays");
    assert_eq!(
        a.explorer.filter_error.as_deref(),
        Some("filter `seed>x`: `x` is not a number")
    );
    // Sorted by k10 again, best first: f follows that job's run.
    a.on_action(Action::Right);
    a.explorer.selected = 0;
    let id = a.explorer.selected_run().unwrap();
    let fx = a.on_action(Action::Watch);
    assert!(
        matches!(&fx[..], [Effect::Watch { path, .. }] if *path == PathBuf::from("/runs").join(&id))
    );
    assert_eq!(a.tab, Tab::Train);
    // e hides it; e again asks for a fresh table.
    a.tab = Tab::Sweeps;
    assert!(a.on_action(Action::Explore).is_empty());
    assert!(matches!(
        &a.on_action(Action::Explore)[..],
        [Effect::LoadExplorer(_)]
    ));
}

/// The K-shot form's "by subject" says beforehand that it applies to the pool protocol only
/// (auto picks held-out on a target with a labelled test set, and `p` refuses it there).
#[test]
fn by_subject_in_the_form_names_the_pool_protocol() {
    use crate::tui::panes::kshot::field_value;
    use crate::tui::state::kshot::KShotField;
    use bloodshot::fewshot::evaluate::Protocol;
    let mut a = app();
    let shown = |a: &App| field_value(a, KShotField::BySubject);
    a.kshot.opts.0.by_subject = false;
    assert_eq!(shown(&a), "no");
    a.kshot.opts.0.by_subject = true;
    for (protocol, expected) in [
        (Protocol::Pool, "yes"),
        (Protocol::Auto, "yes (pool only)"),
        (Protocol::HeldoutTest, "yes (pool only)"),
    ] {
        a.kshot.opts.0.protocol = protocol;
        assert_eq!(shown(&a), expected, "{protocol:?}");
    }
}

#[test]
fn the_runs_and_kshot_tabs_check_the_runs_folder_on_entry_and_while_shown() {
    // The Runs tab was read at start and on F5 only: runs of another process (a CLI sweep
    // in the next pane) never appeared.
    let mut a = app();
    let mut reload = crate::tui::Reload::new();
    let refresh = |fx: &[Effect]| {
        fx.iter()
            .filter_map(|e| match e {
                Effect::RefreshRuns { unless } => Some(*unless),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(refresh(&reload.due(&a)), vec![]);
    a.on_action(Action::GoRuns);
    assert_eq!(refresh(&reload.due(&a)), vec![None], "on entering the tab");
    assert_eq!(refresh(&reload.due(&a)), vec![], "not again at once");
    a.runs.fingerprint = Some(7);
    reload.runs -= crate::tui::Reload::EVERY;
    assert_eq!(refresh(&reload.due(&a)), vec![Some(7)], "every two seconds");
    a.on_action(Action::GoData);
    reload.runs -= crate::tui::Reload::EVERY;
    assert_eq!(
        refresh(&reload.due(&a)),
        vec![],
        "not while another tab is shown"
    );
    a.on_action(Action::GoRuns);
    assert_eq!(
        refresh(&reload.due(&a)),
        vec![Some(7)],
        "on entering it again"
    );
    // The K-shot form picks among the runs: the same there.
    a.on_action(Action::GoKShot);
    assert_eq!(
        refresh(&reload.due(&a)),
        vec![Some(7)],
        "on entering K-shot"
    );
    assert_eq!(refresh(&reload.due(&a)), vec![], "not again at once");
    reload.runs -= crate::tui::Reload::EVERY;
    assert_eq!(
        refresh(&reload.due(&a)),
        vec![Some(7)],
        "while K-shot is shown"
    );
}

#[test]
fn the_runs_are_read_again_only_when_their_folder_moved() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r1");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("config.json"), "{}").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cache = std::sync::Mutex::new(crate::tui::state::runs::RunsCache::default());
    crate::tui::worker::load_runs(tx.clone(), dir.path().into(), None, &cache);
    let Ok(AppEvent::Runs(_, _, fingerprint)) = rx.try_recv() else {
        panic!("no runs event");
    };
    assert_eq!(fingerprint, bloodshot::runs::fingerprint(dir.path()));
    crate::tui::worker::load_runs(tx.clone(), dir.path().into(), Some(fingerprint), &cache);
    assert!(rx.try_recv().is_err(), "unchanged: not read again");
    std::fs::write(run.join("status.json"), "{}").unwrap();
    crate::tui::worker::load_runs(tx, dir.path().into(), Some(fingerprint), &cache);
    assert!(matches!(rx.try_recv(), Ok(AppEvent::Runs(_, _, f)) if f != fingerprint));
}

#[test]
fn selections_stay_on_their_runs_when_others_appear() {
    let mut a = runs();
    let ids = |a: &App| {
        (
            a.runs.rows[a.runs.selected].id.clone(),
            a.runs.rows[a.kshot.run].id.clone(),
        )
    };
    a.kshot.run = 2;
    let before = ids(&a);
    assert_eq!(
        before,
        (
            "20261126-110000-aam".to_string(),
            "20261126-120000-aam-consistency".to_string()
        )
    );
    let table1 = a.runs.table1.clone();
    let table = || Box::new(table1.clone());
    // An imported run sorted first, and a run of another process at the end.
    let mut rows = a.runs.rows.clone();
    rows.insert(
        0,
        run_row(
            "20250101-000000-import",
            Objective::Softmax,
            RunState::Finished,
        ),
    );
    rows.push(run_row("elsewhere", Objective::Aam, RunState::Running));
    let t = table();
    a.on_event(AppEvent::Runs(rows.clone(), t, 1));
    assert_eq!(ids(&a), before, "neither selection moved to another run");
    assert_eq!(a.runs.fingerprint, Some(1));
    // The run this console trains, when it appears, is picked on the K-shot form.
    a.train.view.run_id = Some("ours".into());
    rows.push(run_row("ours", Objective::Softmax, RunState::Running));
    let t = table();
    a.on_event(AppEvent::Runs(rows.clone(), t, 2));
    assert_eq!(a.runs.rows[a.kshot.run].id, "ours");
    assert_eq!(a.runs.rows[a.runs.selected].id, before.0);
    // A removed run: the selection stays on its run, or on the same place when it went.
    a.kshot.run = 1;
    rows.remove(1);
    let t = table();
    a.on_event(AppEvent::Runs(rows, t, 3));
    assert_eq!(a.runs.rows[a.runs.selected].id, before.0);
    assert_eq!(a.kshot.run, 1);
}

/// A run's `config.json` contents.
fn run_info(id: &str, created_unix: u64) -> bloodshot::runs::RunInfo {
    bloodshot::runs::RunInfo {
        id: id.into(),
        config: bloodshot::runs::TrainConfig::default(),
        classes: vec!["A".into(), "B".into()],
        split_sizes: [7, 1, 2],
        device: "cpu".into(),
        version: "0.1.0".into(),
        burn_version: "0.22.1".into(),
        git_commit: None,
        created_unix,
        source: None,
    }
}

#[test]
fn the_explorer_reads_the_jobs_run_folders_through_the_cache() {
    use bloodshot::sweep::{Grid, KShotSpec, Sweep, SweepSpec};
    let dir = tempfile::tempdir().unwrap();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    let spec = SweepSpec {
        base: bloodshot::runs::TrainConfig {
            base: data.join("aml"),
            ..Default::default()
        },
        grid: Grid {
            objectives: vec![Objective::Softmax, Objective::Aam],
            ..Default::default()
        },
        kshot: KShotSpec {
            target: data.join("cnmc"),
            ks: vec![10],
            normalizations: vec![Normalization::None],
            methods: vec![Method::Prototype],
            ttas: vec![bloodshot::fewshot::tta::Tta::None],
            options: Default::default(),
        },
    };
    let sweep = Sweep::create(dir.path(), spec).unwrap();
    // Job 1 has begun (its run folder exists), job 2 has not.
    let job1 = dir.path().join(&sweep.jobs[0].run_id);
    std::fs::create_dir(&job1).unwrap();
    bloodshot::runs::write_json(&job1.join("config.json"), &run_info("job1", 1)).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cache = std::sync::Mutex::new(crate::tui::state::runs::RunsCache::default());
    crate::tui::worker::load_explorer(tx, dir.path().into(), sweep.id.clone(), &cache);
    let Ok(AppEvent::Explorer(id, table)) = rx.try_recv() else {
        panic!("no explorer event");
    };
    assert_eq!(id, sweep.id);
    assert_eq!(table.rows.len(), 2);
    let cached: Vec<PathBuf> = cache.lock().unwrap().0.keys().cloned().collect();
    assert_eq!(cached, [job1]);
}

#[test]
fn a_reload_reads_again_only_the_runs_that_changed() {
    use bloodshot::runs::write_json;
    let dir = tempfile::tempdir().unwrap();
    let info = run_info;
    for (id, t) in [("first", 1), ("second", 2)] {
        std::fs::create_dir(dir.path().join(id)).unwrap();
        write_json(&dir.path().join(id).join("config.json"), &info(id, t)).unwrap();
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cache = std::sync::Mutex::new(crate::tui::state::runs::RunsCache::default());
    let mut load = || {
        crate::tui::worker::load_runs(tx.clone(), dir.path().into(), None, &cache);
        match rx.try_recv() {
            Ok(AppEvent::Runs(rows, ..)) => rows.iter().map(|r| r.id.clone()).collect(),
            _ => Vec::<String>::new(),
        }
    };
    assert_eq!(load(), ["first", "second"]);
    // `first`'s config.json rewritten to something unreadable, of the same size and with the
    // same modification time: its folder looks unchanged, so its row comes from the cache.
    let config = dir.path().join("first").join("config.json");
    let (len, modified) = {
        let m = std::fs::metadata(&config).unwrap();
        (m.len() as usize, m.modified().unwrap())
    };
    std::fs::write(&config, "x".repeat(len)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&config)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    // `second` changed: read again, under its new id.
    write_json(
        &dir.path().join("second").join("config.json"),
        &info("second-renamed", 2),
    )
    .unwrap();
    assert_eq!(load(), ["first", "second-renamed"]);
    // A run removed leaves the cache.
    std::fs::remove_dir_all(dir.path().join("second")).unwrap();
    assert_eq!(load(), ["first"]);
    assert_eq!(cache.lock().unwrap().0.len(), 1);
}
