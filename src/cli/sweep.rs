//! `bloodshot sweep`: create a sweep (or resume one), run it on the devices given, print its
//! status, or print its jobs as shell commands for a scheduler.

use std::io::Write;
use std::path::{Path, PathBuf};

use bloodshot::fewshot::evaluate::KShotOptions;
use bloodshot::model::Objective;
use bloodshot::paths;
use bloodshot::runs::TrainConfig;
use bloodshot::sweep::command::{job_args, shell_line};
use bloodshot::sweep::status::statuses;
use bloodshot::sweep::{Control, Grid, JobState, KShotSpec, Sweep, SweepEvent, SweepSpec, runner};

use super::SweepArgs;
use super::commands::distinct;

/// Writes a line and ignores a closed terminal (a dropped SSH session must not stop a sweep).
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `bloodshot sweep`.
pub fn sweep(a: SweepArgs, runs: &Option<PathBuf>) -> Result<(), String> {
    // Jobs printed for a scheduler run elsewhere; here, refuse a device this machine lacks
    // before anything is created.
    if !a.print_commands && a.status.is_none() {
        bloodshot::device::inventory::require(&a.devices)?;
    }
    a.classifier.check()?;
    let runs_dir = runs.clone().unwrap_or_else(paths::default_runs_dir);
    let _ = std::fs::create_dir_all(&runs_dir);
    let runs_dir = absolute(&runs_dir);
    if let Some(id) = &a.status {
        return print_status(&runs_dir, &Sweep::open(&runs_dir, id)?);
    }
    let sweep = match &a.resume {
        Some(id) => {
            let sweep = Sweep::open(&runs_dir, id)?;
            refuse_changed_spec(&a, &sweep)?;
            sweep
        }
        None => {
            let s = Sweep::create(&runs_dir, spec(&a))?;
            say(&format!(
                "sweep {}: {} jobs → {}",
                s.id,
                s.jobs.len(),
                s.dir(&runs_dir).display()
            ));
            s
        }
    };
    if a.print_commands {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the bloodshot binary: {e}"))?;
        let exe = exe.display().to_string();
        let device = a.devices.first().copied().unwrap_or_default();
        let todo = statuses(&runs_dir, &sweep);
        for job in &sweep.jobs {
            if todo[job.index].state == JobState::Done {
                continue;
            }
            let line = shell_line(&exe, &job_args(&runs_dir, &sweep, job, device));
            let _ = writeln!(std::io::stdout(), "{line}");
        }
        return Ok(());
    }
    run(&runs_dir, &sweep, &a)
}

/// A resumed sweep keeps the spec it was created with: a flag given with `--resume` whose
/// value differs from the sweep's is refused in one sentence instead of being ignored (only
/// `--devices` applies). A flag is taken as given where the spec the flags make differs from
/// the one no flags make; a flag repeating the sweep's own value is accepted.
fn refuse_changed_spec(a: &SweepArgs, sweep: &Sweep) -> Result<(), String> {
    use clap::{Args, FromArgMatches};
    let bare = SweepArgs::augment_args(clap::Command::new("sweep"))
        .try_get_matches_from(["sweep"])
        .and_then(|m| SweepArgs::from_arg_matches(&m))
        .map_err(|e| e.to_string())?;
    let (asked, bare) = (spec(a), spec(&bare));
    // The grid, setting by setting (an axis the sweep does not vary takes the base's value).
    for s in bloodshot::runs::Setting::ALL {
        let axis = |spec: &SweepSpec| spec.grid.axis(s);
        let (want, kept) = (axis(&asked), axis(&sweep.spec));
        if want != axis(&bare) && want != kept {
            let text = |v: &[bloodshot::runs::SettingValue]| {
                v.iter().map(|x| x.text()).collect::<Vec<_>>().join(",")
            };
            let kept = match kept.is_empty() {
                true => s.get(&sweep.spec.base).text(),
                false => text(&kept),
            };
            return Err(refusal(
                &s.field().replace('_', "-"),
                &text(&want),
                &kept,
                sweep,
            ));
        }
    }
    // Everything else field by field.
    let json = |s: &SweepSpec| serde_json::to_value(s).unwrap_or_default();
    let mut changed = vec![];
    spec_changes(
        &json(&asked),
        &json(&bare),
        &json(&sweep.spec),
        String::new(),
        &mut changed,
    );
    // The grid is checked above; where a job trains and whether it reads the image cache may
    // change between sessions.
    changed.retain(|(path, ..)| {
        !path.starts_with("grid.") && path != "base.device" && path != "base.use_cache"
    });
    match changed.first() {
        None => Ok(()),
        Some((path, want, kept)) => Err(refusal(&flag_of(path), want, kept, sweep)),
    }
}

/// The sentence refusing `--flag asked` on a resumed sweep that has `kept`.
fn refusal(flag: &str, asked: &str, kept: &str, sweep: &Sweep) -> String {
    format!(
        "--{flag} {asked} with --resume: sweep {} keeps the settings it was created with ({kept} there); only --devices applies to a resumed sweep (start a new sweep to change it)",
        sweep.id
    )
}

/// The leaves of `asked` that differ from both `bare` and `kept`, as (path, asked, kept).
fn spec_changes(
    asked: &serde_json::Value,
    bare: &serde_json::Value,
    kept: &serde_json::Value,
    path: String,
    out: &mut Vec<(String, String, String)>,
) {
    use serde_json::Value;
    if let Value::Object(fields) = asked {
        for (name, value) in fields {
            let at = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let field = |v: &Value| v.get(name).cloned().unwrap_or(Value::Null);
            spec_changes(value, &field(bare), &field(kept), at, out);
        }
    } else if asked != bare && asked != kept {
        let text = |v: &Value| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or(i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            Value::String(s) => s.clone(),
            Value::Null => "none".into(),
            v => v.to_string(),
        };
        out.push((path, text(asked), text(kept)));
    }
}

/// The flag that sets a k-shot field of the spec (`kshot.options.seed` → `kshot-seed`).
fn flag_of(path: &str) -> String {
    let flag = match path {
        "kshot.ks" | "kshot.options.k" => "k",
        "kshot.normalizations" | "kshot.options.normalize" => "normalize",
        "kshot.methods" | "kshot.options.method" => "method",
        "kshot.ttas" | "kshot.options.tta" => "tta",
        "kshot.options.seed" => "kshot-seed",
        other => other.rsplit('.').next().unwrap_or(other),
    };
    flag.replace('_', "-")
}

/// The absolute form of `p` when it exists: job commands must work from any folder and on
/// any node that mounts the same paths.
fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn spec(a: &SweepArgs) -> SweepSpec {
    let d = TrainConfig::default();
    let device = a.devices.first().copied().unwrap_or(d.device);
    let base = TrainConfig {
        device,
        ..a.data.apply(d, absolute)
    };
    SweepSpec {
        base,
        grid: Grid {
            // A sweep compares the objectives: all three unless some are named.
            objectives: if a.settings.objective.is_empty() {
                Objective::ALL.to_vec()
            } else {
                a.settings.objective.clone()
            },
            ..a.settings.grid()
        },
        kshot: KShotSpec {
            target: absolute(&a.target.clone().unwrap_or_else(paths::default_target)),
            ks: a.ks.clone(),
            // Sets of cells, as in `kshot`: a repeat is scored once.
            normalizations: distinct(&a.normalize),
            methods: distinct(&a.classifier.method),
            ttas: distinct(&a.classifier.tta),
            options: a.sampling.apply(KShotOptions {
                k: a.ks.first().copied().unwrap_or(0),
                draws: a.draws,
                seed: a.kshot_seed,
                normalize: a.normalize.first().copied().unwrap_or_default(),
                method: a.classifier.method.first().copied().unwrap_or_default(),
                logistic_c: a.classifier.logistic_c,
                tta: a.classifier.tta.first().copied().unwrap_or_default(),
                ..KShotOptions::default()
            }),
        },
    }
}

fn run(runs_dir: &Path, sweep: &Sweep, a: &SweepArgs) -> Result<(), String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the bloodshot binary: {e}"))?;
    let control = std::sync::Arc::new(Control::new());
    install_signal_handlers(&control, &sweep.id);
    let n = sweep.jobs.len();
    let name = |j: usize| {
        let job = &sweep.jobs[j];
        format!(
            "job {}/{n} ({} seed {})",
            j + 1,
            job.config.objective.as_str(),
            job.config.seed
        )
    };
    let outcome = runner::run(
        runs_dir,
        sweep,
        &a.devices,
        &exe,
        &control,
        &|ev| match ev {
            SweepEvent::Started { job, device } => {
                say(&format!("{} started on {device}", name(job)))
            }
            SweepEvent::Finished { job } => {
                say(&format!("{} done: {}", name(job), sweep.jobs[job].run_id))
            }
            SweepEvent::Failed { job, message } => say(&format!("{} failed: {message}", name(job))),
            SweepEvent::Stopped { job } => {
                say(&format!("{} stopped; its state is saved", name(job)))
            }
        },
    )?;
    if let Some(t) = &outcome.table1 {
        say(&format!("Table 1: {}", t.display()));
    }
    say(&format!(
        "sweep {}: {} of {n} jobs done, {} failed",
        sweep.id, outcome.done, outcome.failed
    ));
    if outcome.interrupted || outcome.left > outcome.failed {
        say(&format!(
            "continue with: bloodshot --runs-dir {} sweep --resume {}",
            runs_dir.display(),
            sweep.id
        ));
    }
    if outcome.failed > 0 {
        return Err(format!(
            "{} job(s) failed; their logs are in {}",
            outcome.failed,
            sweep.dir(runs_dir).join("logs").display()
        ));
    }
    Ok(())
}

/// Ctrl-C or SIGTERM: the running trainings save their state and the sweep stops (resume it
/// later). SIGHUP (the SSH session dropped): the sweep carries on.
fn install_signal_handlers(control: &std::sync::Arc<Control>, id: &str) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let control = std::sync::Arc::clone(control);
    let id = id.to_string();
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    continue;
                }
                say(&format!(
                    "\nbloodshot: stopping sweep {id}: running trainings save their state; resume with `bloodshot sweep --resume {id}`"
                ));
                control.cancel();
            }
        });
    }
}

fn print_status(runs_dir: &Path, sweep: &Sweep) -> Result<(), String> {
    let all = statuses(runs_dir, sweep);
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "sweep {} · {} jobs · {}",
        sweep.id,
        sweep.jobs.len(),
        sweep.dir(runs_dir).display()
    );
    let _ = writeln!(
        out,
        "{:>4}  {:<16} {:>5}  {:<10} {:>6}  {:<20} run",
        "job", "objective", "seed", "state", "done", "device"
    );
    for s in &all {
        let job = &sweep.jobs[s.index];
        let _ = writeln!(
            out,
            "{:>4}  {:<16} {:>5}  {:<10} {:>5.0}%  {:<20} {}",
            s.index + 1,
            job.config.objective.as_str(),
            job.config.seed,
            s.state.word(),
            s.progress * 100.0,
            s.device.as_deref().unwrap_or("–"),
            s.run_id
        );
        if let JobState::Failed(m) = &s.state {
            let _ = writeln!(out, "      {m}");
        }
    }
    Ok(())
}
