//! One function per subcommand. Each returns `Err(one sentence)` for the caller to print
//! and exit non-zero.

use std::path::{Path, PathBuf};

use bloodshot::data::ScanOptions;
use bloodshot::data::stats::{DatasetStats, StatsPhase, dataset_stats};
use bloodshot::fewshot::evaluate::{self, KShotOptions, KShotResult, PrepareProgress};
use bloodshot::fewshot::method::{self, Method};
use bloodshot::fewshot::paired::{self, PairedDifference};
use bloodshot::paths;
use bloodshot::report;
use bloodshot::runs::{RunDir, RunState, Setting, TrainConfig, resolve};
use bloodshot::train::{self, Start, StopMode, StopSignal, TrainEvent};

use super::progress::Progress;
use super::{
    BenchArgs, DevicesArgs, ExportArgs, ExportWeightsArgs, ImportArgs, KshotArgs, SampleDataArgs,
    StatsArgs, TrainArgs,
};
use bloodshot::interop::ImportOptions;

fn runs_dir(opt: &Option<PathBuf>) -> PathBuf {
    opt.clone().unwrap_or_else(paths::default_runs_dir)
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    let s = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    println!("{s}");
    Ok(())
}

/// Text rendering of dataset statistics (also used by `cargo run` without a console).
pub fn stats_text(title: &str, s: &DatasetStats) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "{title}: {}", s.root.display());
    let _ = writeln!(o, "  layout: {}", s.layout.describe());
    let _ = writeln!(o, "  usable images: {}", s.usable_images);
    let total: usize = s.classes.iter().map(|c| c.count).sum();
    // The class column is as wide as the longest name (`eosinophil`, `erythroblast`, …).
    let w = s
        .classes
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let _ = writeln!(
        o,
        "  {:<w$} {:>6} {:>7}  {:>8}  status",
        "class", "images", "share", "subjects"
    );
    for c in &s.classes {
        let share = if total > 0 {
            c.count as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let subj = if c.subjects > 0 {
            c.subjects.to_string()
        } else {
            "-".into()
        };
        let status = if c.kept {
            "kept".to_string()
        } else {
            format!("dropped: {}", c.note)
        };
        let _ = writeln!(
            o,
            "  {:<w$} {:>6} {:>6.1}%  {:>8}  {status}",
            c.name, c.count, share, subj
        );
    }
    if s.parts.len() > 1 || s.parts.keys().any(|k| !k.is_empty()) {
        let parts: Vec<String> = s.parts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(o, "  parts: {}", parts.join(", "));
    }
    if let Some([a, b, c]) = s.split_sizes {
        let _ = writeln!(o, "  split 70/10/20 (seed 0): train {a}, val {b}, test {c}");
    }
    let f: Vec<String> = s.formats.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(o, "  formats: {}", f.join(", "));
    let z: Vec<String> = s.sizes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(o, "  sizes: {}", z.join(", "));
    let _ = writeln!(o, "  skipped files: {}", s.skipped.len());
    for k in s.skipped.iter().take(20) {
        let _ = writeln!(o, "    {}: {}", k.path.display(), k.reason);
    }
    if s.skipped.len() > 20 {
        let _ = writeln!(o, "    … and {} more (see --json)", s.skipped.len() - 20);
    }
    let _ = writeln!(
        o,
        "  duplicate groups (byte-identical): {}",
        s.duplicate_groups.len()
    );
    for g in s.duplicate_groups.iter().take(5) {
        let names: Vec<String> = g.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(o, "    {}", names.join(" = "));
    }
    for w in &s.warnings {
        let _ = writeln!(o, "  warning: {w}");
    }
    o
}

fn compute_stats(
    root: &Path,
    min: usize,
    split: bool,
    p: &mut Progress,
) -> Result<DatasetStats, String> {
    let (_, s) = dataset_stats(
        root,
        &ScanOptions {
            min_class_size: min,
            limit_per_class: None,
        },
        split.then_some(0),
        &mut |phase, d, t| {
            let label = match phase {
                StatsPhase::Scanning => "scanning",
                StatsPhase::Hashing => "hashing for duplicates",
            };
            p.update(label, d, t)
        },
    )
    .map_err(|e| e.to_string())?;
    p.finish();
    Ok(s)
}

/// `bloodshot stats`.
pub fn stats(a: StatsArgs) -> Result<(), String> {
    let base = a.base.unwrap_or_else(paths::default_base);
    let target = a.target.unwrap_or_else(paths::default_target);
    let mut p = Progress::new();
    let b = compute_stats(&base, a.min_class_size, true, &mut p)?;
    let t = compute_stats(&target, 1, false, &mut p)?;
    if a.json {
        return print_json(&serde_json::json!({ "base": b, "target": t }));
    }
    print!("{}", stats_text("base", &b));
    println!();
    print!("{}", stats_text("target", &t));
    Ok(())
}

fn install_signal_handlers(stop: &StopSignal) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let stop = stop.clone();
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            for sig in signals.forever() {
                // First Ctrl-C: finish the epoch and checkpoint; second: stop now.
                // SIGTERM / SIGHUP (scheduler, SSH dropped): checkpoint the current state at
                // the next step and stop; `--resume` continues from that step.
                let mode = if sig != SIGINT {
                    StopMode::Checkpoint
                } else if stop.mode() != StopMode::None {
                    StopMode::Now
                } else {
                    StopMode::AfterEpoch
                };
                eprintln!(
                    "\nbloodshot: {} — {}",
                    if sig == SIGINT {
                        "interrupted"
                    } else {
                        "signal received"
                    },
                    match mode {
                        StopMode::Now => "stopping now (last complete checkpoint kept)",
                        StopMode::Checkpoint => "saving the current state, then stopping",
                        _ => "stopping after this epoch's checkpoint (Ctrl-C again to stop now)",
                    }
                );
                stop.request(mode);
            }
        });
    }
}

/// `train --run-id ID`: a new run named ID, the resumption of a half-trained one, or `None`
/// (with a line saying so) when ID is already trained: a job can be run again safely.
fn start_named(runs_dir: &Path, id: &str, a: &TrainArgs) -> Result<Option<Start>, String> {
    let path = runs_dir.join(id);
    if let Ok(run) = RunDir::open(&path) {
        refuse_changed_settings(a, &run, Continue::Named(runs_dir))?;
        let status = run.status();
        let epochs = run.info()?.config.epochs;
        if status.state == RunState::Finished && status.last_epoch >= epochs {
            if a.json {
                print_json(&serde_json::json!({ "run_id": id, "already_trained": true }))?;
            } else {
                println!(
                    "run {id} is already trained ({}): nothing to do",
                    report::text::count(epochs, "epoch")
                );
            }
            return Ok(None);
        }
        return Ok(Some(Start::Resume {
            run,
            epochs: None,
            device: a.device,
        }));
    }
    // A start killed before it wrote anything leaves an empty folder: take it over.
    if path.is_dir() && std::fs::remove_dir(&path).is_err() {
        return Err(format!(
            "{} exists but is not a run folder (no config.json); move it away to train run {id}",
            path.display()
        ));
    }
    Ok(Some(Start::Named {
        runs_dir: runs_dir.to_path_buf(),
        id: id.to_string(),
    }))
}

/// `bloodshot train`.
pub fn train_cmd(a: TrainArgs, runs: &Option<PathBuf>) -> Result<(), String> {
    if let Some(device) = a.device {
        bloodshot::device::inventory::require(&[device])?;
    }
    let runs_dir = runs_dir(runs);
    let start = match (&a.resume, &a.run_id) {
        (Some(r), _) => {
            // Only --epochs counts on a resumed run, and like every setting it takes one value.
            a.settings.single(TrainConfig::default())?;
            let run = resolve(&runs_dir, r)?;
            refuse_changed_settings(&a, &run, Continue::Resume)?;
            Start::Resume {
                run,
                epochs: a.settings.epochs.first().copied(),
                device: a.device,
            }
        }
        (None, Some(id)) => match start_named(&runs_dir, id, &a)? {
            Some(start) => start,
            None => return Ok(()),
        },
        (None, None) => Start::New(runs_dir.clone()),
    };
    let config = train_config(&a, &runs_dir)?;
    let stop = StopSignal::new();
    install_signal_handlers(&stop);
    let mut printer = TrainPrinter::default();
    let outcome = train::train(start, Some(config), &mut |ev| printer.print(ev), &stop)?;
    if a.json {
        print_json(&serde_json::json!({
            "run_id": outcome.run_dir.id(),
            "run_dir": outcome.run_dir.path,
            "last_epoch": outcome.last_epoch,
            "stopped_early": outcome.stopped_early,
            "epochs": printer.epochs,
        }))?;
    }
    Ok(())
}

/// How `train` continues an existing run.
#[derive(Clone, Copy)]
enum Continue<'a> {
    /// `--resume`: `--epochs` may extend the run.
    Resume,
    /// `--run-id` of a run that exists (a sweep's job, started again), in this runs folder:
    /// every setting is the run's.
    Named(&'a Path),
}

/// A continued run keeps its settings: a setting given that differs from the run's is
/// refused in one sentence instead of being ignored (with `--resume`, `--epochs` and
/// `--device` apply; a flag given with the run's own value is accepted).
fn refuse_changed_settings(a: &TrainArgs, run: &RunDir, how: Continue) -> Result<(), String> {
    let kept = run.info()?.config;
    let (with, applies) = match how {
        Continue::Resume => (
            "--resume",
            "only --epochs and --device apply to a resumed run",
        ),
        Continue::Named(_) => (
            "--run-id",
            "--run-id continues an existing run as it is (only --device applies)",
        ),
    };
    let refuse = |flag: &str, asked: String, kept: String| {
        Err(format!(
            "--{flag} {asked} with {with}: run {} keeps its own settings ({flag} {kept}); {applies} (to change it, train a new run, e.g. with --init {})",
            run.id(),
            run.id()
        ))
    };
    let grid = a.settings.grid();
    let extends = matches!(how, Continue::Resume);
    for s in Setting::ALL
        .into_iter()
        .filter(|s| !(extends && *s == Setting::Epochs))
    {
        if let [asked] = grid.axis(s)[..]
            && asked != s.get(&kept)
        {
            return refuse(
                &s.field().replace('_', "-"),
                asked.text(),
                s.get(&kept).text(),
            );
        }
    }
    if let Some(base) = &a.data.base
        && std::fs::canonicalize(base).ok().as_ref() != Some(&kept.base)
    {
        return refuse(
            "base",
            base.display().to_string(),
            kept.base.display().to_string(),
        );
    }
    let or_none = |n: Option<usize>| n.map_or("none".into(), |n| n.to_string());
    if a.data.limit_per_class.is_some() && a.data.limit_per_class != kept.limit_per_class {
        return refuse(
            "limit-per-class",
            or_none(a.data.limit_per_class),
            or_none(kept.limit_per_class),
        );
    }
    // These two have defaults: a value other than the default and the run's was typed.
    let defaults = TrainConfig::default();
    for (flag, asked, default, own) in [
        (
            "min-class-size",
            a.data.min_class_size,
            defaults.min_class_size,
            kept.min_class_size,
        ),
        (
            "bn-recalibration",
            a.data.bn_recalibration,
            defaults.bn_recalibration,
            kept.bn_recalibration,
        ),
    ] {
        if asked != default && asked != own {
            return refuse(flag, asked.to_string(), own.to_string());
        }
    }
    match (how, &a.init) {
        (Continue::Resume, Some(init)) => Err(format!(
            "--init {init} with --resume: run {} continues from its own last checkpoint; --init starts a new run",
            run.id()
        )),
        (Continue::Named(runs_dir), Some(init))
            if Some(init_source(runs_dir, init)?) != kept.init =>
        {
            refuse(
                "init",
                init.clone(),
                kept.init
                    .as_ref()
                    .map_or("none".into(), |p| p.display().to_string()),
            )
        }
        _ => Ok(()),
    }
}

/// The checked configuration `train`'s options ask for (a resumed run keeps its own).
fn train_config(a: &TrainArgs, runs_dir: &Path) -> Result<TrainConfig, String> {
    let defaults = TrainConfig::default();
    let config = TrainConfig {
        device: a.device.unwrap_or(defaults.device),
        init: a
            .init
            .as_deref()
            .map(|s| init_source(runs_dir, s))
            .transpose()?,
        ..a.settings
            .single(a.data.apply(defaults.clone(), Path::to_path_buf))?
    };
    config.validate()?;
    Ok(config)
}

/// `train`'s progress on the terminal: a progress bar on a terminal, a line every 20 steps
/// in a log; the epochs kept for `--json`.
#[derive(Default)]
struct TrainPrinter {
    p: Progress,
    epochs: Vec<bloodshot::runs::EpochSummary>,
    first_step_shown: bool,
}

impl TrainPrinter {
    fn print(&mut self, ev: TrainEvent) {
        let p = &mut self.p;
        match ev {
            TrainEvent::Started {
                run_id,
                run_dir,
                device,
                classes,
                split_sizes,
                steps_per_epoch,
                first_epoch,
                epochs,
            } => p.line(&format!(
                "run {run_id} in {}\n  device {device}; {} classes; train/val/test {}/{}/{}; {steps_per_epoch} steps per epoch; epochs {first_epoch}..={epochs}",
                run_dir.display(), classes.len(), split_sizes[0], split_sizes[1], split_sizes[2]
            )),
            TrainEvent::WarmingUp { what } => p.line(&format!("warming up: {what}")),
            TrainEvent::Step {
                epoch,
                step,
                steps,
                loss,
                accuracy,
                images_per_sec,
                seconds,
                ..
            } => {
                if !self.first_step_shown {
                    // Bounded, visible warm-up: the first step's time (kernel compilation on a
                    // GPU) is always printed.
                    self.first_step_shown = true;
                    p.line(&format!("first step took {seconds:.2} s"));
                }
                if p.is_tty() {
                    p.update(
                        &format!("epoch {epoch} loss {loss:.4} acc {accuracy:.2} {images_per_sec:.1} img/s"),
                        step,
                        steps,
                    );
                } else if step == 1 || step == steps || step % 20 == 0 {
                    eprintln!(
                        "epoch {epoch} step {step}/{steps}: loss {loss:.4}, acc {accuracy:.3}, {images_per_sec:.1} img/s ({seconds:.2} s)"
                    );
                }
            }
            TrainEvent::Validating { epoch } => p.line(&format!("epoch {epoch}: validating")),
            TrainEvent::Epoch(e) => {
                p.line(&format!(
                    "epoch {}: train loss {:.4} acc {:.3} | val loss {:.4} acc {:.3} | {:.1} s, {:.1} img/s",
                    e.epoch, e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy, e.seconds, e.images_per_sec
                ));
                self.epochs.push(e);
            }
            TrainEvent::Checkpoint { epoch, path } => {
                p.line(&format!("checkpoint epoch {epoch}: {}", path.display()))
            }
            TrainEvent::Warning(w) => p.line(&format!("warning: {w}")),
            TrainEvent::BaseTest { accuracy, macro_f1 } => p.line(&format!(
                "base test split: accuracy {accuracy:.3}, macro F1 {macro_f1:.3}"
            )),
            TrainEvent::Finished {
                run_dir,
                last_epoch,
                stopped_early,
            } => p.line(&format!(
                "{} after epoch {last_epoch}: {}",
                if stopped_early { "stopped" } else { "finished" },
                run_dir.display()
            )),
            // The error itself is printed once, by `main`.
            TrainEvent::Failed { .. } => {}
        }
    }
}

/// `--init RUN|FILE` as an absolute path: a weights file, else a run (folder, id or
/// `latest`).
fn init_source(runs_dir: &Path, s: &str) -> Result<PathBuf, String> {
    let path = Path::new(s);
    if path.is_file() {
        return Ok(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
    }
    resolve(runs_dir, s)
        .map(|run| std::fs::canonicalize(&run.path).unwrap_or(run.path))
        .map_err(|e| format!("--init {s}: no such weights file, and {e}"))
}

/// Each value once, in the order given.
pub(crate) fn distinct<T: PartialEq + Copy>(values: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(v) {
            out.push(*v);
        }
    }
    out
}

/// `--out FILE` whose folder does not exist (or is not a folder): one sentence naming it.
fn check_out_folder(out: &Path) -> Result<(), String> {
    match out.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(folder) if !folder.is_dir() => Err(format!(
            "--out {}: the folder {} does not exist",
            out.display(),
            folder.display()
        )),
        _ => Ok(()),
    }
}

/// `bloodshot kshot`.
pub fn kshot(a: KshotArgs, runs: &Option<PathBuf>) -> Result<(), String> {
    a.classifier.check()?;
    let opts = a.sampling.apply(KShotOptions {
        k: a.k.unwrap_or(KShotOptions::default().k),
        draws: a.draws,
        seed: a.seed,
        normalize: a.normalize.first().copied().unwrap_or_default(),
        method: a.classifier.method.first().copied().unwrap_or_default(),
        logistic_c: a.classifier.logistic_c,
        tta: a.classifier.tta.first().copied().unwrap_or_default(),
        ..KShotOptions::default()
    });
    opts.validate(&a.sweep)?;
    if let Some(k) = a.k.filter(|k| !a.sweep.is_empty() && !a.sweep.contains(k)) {
        let ks: Vec<String> = a.sweep.iter().map(usize::to_string).collect();
        return Err(format!(
            "--k {k} is not in --sweep {}: the per-class scores and confusion matrix are kept at --k, so it must be one of the sweep's ks (or leave --k out)",
            ks.join(",")
        ));
    }
    if let Some(out) = &a.out {
        // Said now, not after the embedding and the draws (the results are saved either way).
        check_out_folder(out)?;
    }
    let runs_dir = runs_dir(runs);
    let run = resolve(&runs_dir, &a.run)?;
    let target = a.target.clone().unwrap_or_else(paths::default_target);
    let mut p = Progress::new();
    if a.device.is_gpu() {
        p.line(&format!(
            "embedding on {}",
            bloodshot::device::describe(a.device)
        ));
    }
    let device = bloodshot::device::open(a.device)?;
    let ScoredGrid {
        results,
        saved,
        scoring: elapsed,
        epoch,
        prep,
    } = score_grid(&a, &opts, &run, &target, &device, &mut p)?;
    let summaries: Vec<_> = results.iter().map(|r| r.summary.as_ref()).collect();
    let paired = paired::to_first(&summaries);
    if let Some(out) = &a.out {
        report::write(&run, Some(out))?;
    }
    if a.json && results.len() == 1 {
        return print_json(&results[0]);
    }
    if a.json {
        return print_json(&serde_json::json!({
            "results": results,
            "paired_to_first": paired,
        }));
    }
    let header = format!(
        "run {} epoch {epoch}, protocol {}, support pool {}, queries {} ({} in {:.1} ms)",
        run.id(),
        prep.protocol.as_str(),
        results[0].support_pool,
        results[0].queries,
        report::text::count(a.draws * a.sweep.len().max(1) * results.len(), "draw"),
        elapsed.as_secs_f64() * 1e3
    );
    print_first_cell(&header, &results, &prep);
    if results.len() > 1 {
        print!("{}", grid_table(&results, &paired));
    }
    for path in &saved {
        println!("saved {}", path.display());
    }
    if let Some(out) = &a.out {
        println!("report {}", out.display());
    }
    Ok(())
}

/// `kshot`'s results, saved, with the first embedding's preparation.
struct ScoredGrid {
    results: Vec<KShotResult>,
    saved: Vec<PathBuf>,
    /// Time spent scoring (embedding excluded).
    scoring: std::time::Duration,
    epoch: usize,
    prep: evaluate::Prepared,
}

/// The grid: per test-time augmentation (one embedding each), every classifier with every
/// normalisation, in the order given; the first cell is the baseline of the paired
/// differences. The bank depends on the labels only, so every cell scores the same draws.
fn score_grid(
    a: &KshotArgs,
    opts: &KShotOptions,
    run: &RunDir,
    target: &Path,
    device: &burn::prelude::Device,
    p: &mut Progress,
) -> Result<ScoredGrid, String> {
    let mut results = Vec::new();
    let mut saved = Vec::new();
    let mut scoring = std::time::Duration::ZERO;
    let mut first_prep = None;
    for tta in distinct(&a.classifier.tta) {
        let embed_opts = KShotOptions {
            tta,
            ..opts.clone()
        };
        let (epoch, _ds, prep) = evaluate::prepare_checkpoint(
            run,
            a.checkpoint,
            target,
            &embed_opts,
            &a.sweep,
            device,
            &mut |ev| match ev {
                PrepareProgress::Scanning => p.line(&format!("scanning {}", target.display())),
                PrepareProgress::Embedding { done, total } => {
                    p.update("embedding target images", done, total)
                }
                PrepareProgress::Warning(w) => p.line(&format!("warning: {w}")),
                PrepareProgress::Note(n) => p.line(&n),
            },
        )?;
        p.finish();
        // A large bank takes the Gram path unless its matrix would not fit: say so.
        if a.draws >= bloodshot::fewshot::score::GRAM_MIN_DRAWS
            && a.classifier.method.contains(&Method::Prototype)
            && let Some(why) = prep.scorer(opts.normalize).gram_refusal()
        {
            println!("note: {why}");
        }
        let started = std::time::Instant::now();
        for method in distinct(&a.classifier.method) {
            for normalize in distinct(&a.normalize) {
                let o = KShotOptions {
                    method,
                    normalize,
                    ..embed_opts.clone()
                };
                let (summary, sweep) = evaluate::run(&prep, &o, &a.sweep)?;
                let result =
                    KShotResult::new(run, epoch, target.to_path_buf(), o, &prep, summary, sweep);
                saved.push(result.save(run)?);
                results.push(result);
            }
        }
        scoring += started.elapsed();
        first_prep.get_or_insert((epoch, prep));
    }
    let (Some((epoch, prep)), false) = (first_prep, results.is_empty()) else {
        return Err("--tta, --method and --normalize need at least one value each".into());
    };
    Ok(ScoredGrid {
        results,
        saved,
        scoring,
        epoch,
        prep,
    })
}

/// The text of `kshot`'s first cell: where it ran, the classifier and normalisation, the
/// warnings, the summary with per-class scores and the confusion matrix, the k sweep.
fn print_first_cell(header: &str, results: &[KShotResult], prep: &evaluate::Prepared) {
    let (result, opts) = (&results[0], &results[0].options);
    println!("{header}");
    println!("classifier {}: {}", opts.method, opts.method.description());
    println!(
        "normalisation {}{}",
        opts.normalize.label(),
        if opts.normalize.transductive() {
            ": the unlabelled target embeddings were used to centre them"
        } else {
            ""
        }
    );
    if results
        .iter()
        .any(|r| r.options.method == Method::SoftKmeans)
        && let Some(w) = method::balance_warning(&prep.query_labels, &prep.classes)
    {
        println!("warning: {w}");
    }
    if let Some(c) = &prep.collapse {
        match c.warning() {
            Some(w) => println!("warning: {w}"),
            None => println!(
                "target embeddings: mean pairwise cosine {}, median angle to their mean {}",
                bloodshot::fewshot::score::format_cosine(c.mean_pairwise_cosine),
                bloodshot::fewshot::score::format_angle(c.median_angle_deg)
            ),
        }
    }
    if let Some(s) = &result.summary {
        println!(
            "k = {}: {}",
            opts.k,
            report::text::summary_sentence(s, false)
        );
        for (c, name) in result.classes.iter().enumerate() {
            let pc = &s.per_class[c];
            println!(
                "  {name:<6} F1 {:.3} ± {:.3}  precision {:.3}  recall {:.3}",
                pc.f1.mean, pc.f1.std, pc.precision.mean, pc.recall.mean
            );
        }
        println!(
            "  confusion matrix summed over {}:",
            report::text::the_draws(s.draws)
        );
        print!(
            "{}",
            report::text::confusion(&result.classes, &s.confusion).plain("  ")
        );
    }
    for pnt in &result.sweep {
        println!(
            "  k = {:>3}: accuracy {:.3} ± {:.3}",
            pnt.k, pnt.summary.accuracy.mean, pnt.summary.accuracy.std
        );
    }
}

/// The classifier × normalisation cells scored on the same draws, each with its accuracy and
/// its paired difference to the first (the numbers the console's K-shot tab shows).
fn grid_table(results: &[KShotResult], paired: &[Option<PairedDifference>]) -> String {
    let Some(first) = results.first() else {
        return String::new();
    };
    let mut out = format!(
        "classifier · normalisation on {} (Δ: paired difference in accuracy to {}, 95 % bootstrap interval; * transductive):\n",
        report::text::the_same_draws(first.options.draws),
        first.options.cell_name()
    );
    for (r, d) in results.iter().zip(paired) {
        let name = r.options.cell_name();
        let acc = r.summary.as_ref().map_or("–".into(), |s| {
            format!("{:.3} ± {:.3}", s.accuracy.mean, s.accuracy.std)
        });
        let delta = d.map_or(String::new(), |d| format!("  Δ {d}"));
        out.push_str(&format!("  {name:<44}{acc}{delta}\n"));
    }
    out
}

/// `bloodshot export`.
pub fn export(a: ExportArgs, runs: &Option<PathBuf>) -> Result<(), String> {
    if let Some(dir) = &a.csv {
        let e = report::csv::write_csv(&runs_dir(runs), dir)?;
        for (file, rows) in e.files.iter().zip(&e.rows) {
            println!("{} ({rows} rows)", file.display());
        }
        return Ok(());
    }
    let run = resolve(&runs_dir(runs), &a.run)?;
    let out = report::write(&run, a.out.as_deref())?;
    println!("{}", out.display());
    Ok(())
}

/// `bloodshot import`.
pub fn import(a: ImportArgs, runs: &Option<PathBuf>) -> Result<(), String> {
    let opts = ImportOptions {
        name: a.name.clone(),
        classes: a.classes.clone(),
        objective: a.objective,
        image_size: Some(a.image_size),
    };
    let device = bloodshot::device::open(bloodshot::device::DeviceSpec::Cpu)?;
    let imported = bloodshot::interop::import_checkpoint(&a.file, &runs_dir(runs), &opts, &device)?;
    if a.json {
        return print_json(&serde_json::json!({
            "run_id": imported.run.id(),
            "run_dir": imported.run.path,
            "kind": imported.kind.describe(),
            "objective": imported.objective,
            "classes": imported.classes,
            "weights": imported.applied,
            "ignored": imported.ignored,
        }));
    }
    println!(
        "imported {} ({}): {} weights, objective {}, {} classes",
        a.file.display(),
        imported.kind.describe(),
        imported.applied,
        imported.objective,
        imported.classes.len()
    );
    if !imported.ignored.is_empty() {
        let shown: Vec<&String> = imported.ignored.iter().take(4).collect();
        println!(
            "not used: {} entries ({}{})",
            imported.ignored.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if imported.ignored.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        );
    }
    println!("run {}: {}", imported.run.id(), imported.run.path.display());
    Ok(())
}

/// `bloodshot export-weights`.
pub fn export_weights(a: ExportWeightsArgs, runs: &Option<PathBuf>) -> Result<(), String> {
    let run = resolve(&runs_dir(runs), &a.run)?;
    let out = a
        .out
        .unwrap_or_else(|| run.path.join("weights.safetensors"));
    let device = bloodshot::device::open(bloodshot::device::DeviceSpec::Cpu)?;
    let s = bloodshot::interop::export::export_run(&run, a.checkpoint, &out, &device)?;
    println!(
        "{} ({} tensors, {:.1} MB, torchvision names)",
        out.display(),
        s.tensors,
        s.bytes as f64 / 1e6
    );
    Ok(())
}

/// `bloodshot sample-data`.
pub fn sample_data(a: SampleDataArgs) -> Result<(), String> {
    let s = bloodshot::data::synth::generate(&a.out).map_err(|e| e.to_string())?;
    println!(
        "wrote {} files ({:.1} MB) under {}",
        s.files,
        s.bytes as f64 / 1e6,
        a.out.display()
    );
    Ok(())
}

/// `bloodshot devices`.
pub fn devices(a: DevicesArgs) -> Result<(), String> {
    use bloodshot::device::inventory::{Inventory, render};
    let inv = Inventory::scan();
    if a.json {
        let text = serde_json::to_string_pretty(&inv).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", render(&inv));
    }
    Ok(())
}

/// `bloodshot bench` (hidden): throughput lines, `RESULT` lines for scripts.
pub fn bench(a: BenchArgs) -> Result<(), String> {
    use bloodshot::bench;
    bloodshot::device::inventory::require(&[a.device])?;
    println!("device: {}", bloodshot::device::describe(a.device));
    let dev = bloodshot::device::open(a.device)?;
    let batch = a
        .embed_batch
        .unwrap_or_else(|| bloodshot::fewshot::embed::batch_size(&dev));
    let say = |lines: [String; 2]| {
        for l in lines {
            println!("{l}");
        }
    };
    {
        let _memory = bloodshot::memory::Hold::for_device(&dev);
        let t = bench::embed(&dev, a.size, batch, a.embed_reps, true, None);
        say(bench::embed_lines(&t, a.size, true));
    }
    for objective in a.objectives {
        let _memory = bloodshot::memory::Hold::for_device(&dev);
        let t = bench::train(&dev, objective, a.size, a.batch_size, a.steps, None);
        say(bench::train_lines(&t, objective, a.size));
    }
    Ok(())
}
