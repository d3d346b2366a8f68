//! Background work for the console: every slow call runs off the UI thread and reports back
//! through typed [`AppEvent`]s. Each function here is a thin wrapper over an engine call.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bloodshot::data::ScanOptions;
use bloodshot::data::stats::{StatsPhase, dataset_stats};
use bloodshot::fewshot::classify::Prototypes;
use bloodshot::fewshot::evaluate::{self, Cell, KShotOptions, PrepareProgress};
use bloodshot::fewshot::method::Method;
use bloodshot::fewshot::pca::project;
use bloodshot::fewshot::score::Normalization;
use bloodshot::fewshot::tta::Tta;
use bloodshot::report;
use bloodshot::runs::{RunDir, TrainConfig};
use bloodshot::train::{self, Follower, Start, StopSignal, TrainEvent};

use super::action::SweepStart;
use super::event::{AppEvent, Evaluated, KSweep, PreparedSession, RunRow, Tx, Which};
use super::state::kshot::{KShotSession, SWEEP_KS};
use super::state::runs::RunsCache;
use super::state::sweeps::SweepRow;
use super::thumb::Thumb;
use bloodshot::sweep::{Control, Sweep};

/// Thumbnail resolution: enough for a nucleus when a cell is enlarged (`z`); strips scale
/// it down.
const THUMB_PX: u32 = 64;

/// Support images shown per class, and misclassified queries shown, per draw.
const SUPPORT_THUMBS: usize = 4;
const MISS_THUMBS: usize = 8;

/// Scans one dataset, with one thumbnail per kept class.
pub fn scan(tx: Tx, which: Which, root: PathBuf) {
    let split_seed = (which == Which::Base).then_some(0);
    let min = if which == Which::Base {
        bloodshot::data::DEFAULT_MIN_CLASS_SIZE
    } else {
        1
    };
    let opts = ScanOptions {
        min_class_size: min,
        limit_per_class: None,
    };
    let progress_tx = tx.clone();
    let r = dataset_stats(&root, &opts, split_seed, &mut |phase, d, n| {
        let label = match phase {
            StatsPhase::Scanning => "reading headers",
            StatsPhase::Hashing => "hashing for duplicates",
        };
        if d % 64 == 0 || d == n {
            let _ = progress_tx.send(AppEvent::ScanProgress(which, label.into(), d, n));
        }
    })
    .map_err(|e| e.to_string())
    .map(|(ds, stats)| {
        let thumbs = ds
            .classes
            .iter()
            .enumerate()
            .filter_map(|(c, name)| {
                let s = ds.samples.iter().find(|s| s.class == c)?;
                Thumb::from_path(&s.path, THUMB_PX)
                    .ok()
                    .map(|t| (name.clone(), t))
            })
            .collect();
        (Box::new(stats), thumbs)
    });
    let _ = tx.send(AppEvent::Scanned(which, r));
}

/// Trains or resumes, forwarding every event.
pub fn train(tx: Tx, start: Start, config: Option<TrainConfig>, stop: StopSignal) {
    let ev_tx = tx.clone();
    // Errors also arrive as a `Failed` event; nothing more to send.
    let _ = train::train(
        start,
        config,
        &mut |ev| {
            let _ = ev_tx.send(AppEvent::Train(ev));
        },
        &stop,
    );
}

/// Follows a run's files (trained by another process) every half second until it ends or
/// `running` is cleared.
pub fn watch(tx: Tx, run_path: PathBuf, running: Arc<AtomicBool>) {
    let run = match RunDir::open(&run_path) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(AppEvent::Watched(TrainEvent::Failed { error: e.into() }));
            return;
        }
    };
    let mut follower = Follower::new(run);
    while running.load(Ordering::SeqCst) {
        for ev in follower.poll() {
            if tx.send(AppEvent::Watched(ev)).is_err() {
                return;
            }
        }
        if follower.ended() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Reads the run list and Table 1, reading each run folder once.
/// The devices this machine can train on.
pub fn scan_devices(tx: Tx) {
    let usable = bloodshot::device::inventory::Inventory::scan().usable();
    let _ = tx.send(AppEvent::Devices(usable));
}

/// A run's system history (its `system.jsonl`).
pub fn load_system(tx: Tx, dir: PathBuf) {
    let samples = bloodshot::train::system::read_history(&dir.join("system.jsonl"));
    let _ = tx.send(AppEvent::System(dir, samples));
}

/// The pinned baseline run's curves.
pub fn load_baseline(tx: Tx, path: PathBuf) {
    let curves = report::compare::Curves::load(&RunDir { path });
    let _ = tx.send(AppEvent::Baseline(curves.map_err(|e| e.to_string())));
}

/// Reads the runs of `runs_dir` (those changed since `cache` saw them) and sends the rows and
/// Table 1; with `unless`, only when the folder's fingerprint differs from it.
pub fn load_runs(tx: Tx, runs_dir: PathBuf, unless: Option<u64>, cache: &Mutex<RunsCache>) {
    // Taken first: a run that changes while the folder is read moves it again.
    let (fingerprint, runs) = bloodshot::runs::fingerprints(&runs_dir);
    if unless == Some(fingerprint) {
        return;
    }
    // A load that panicked left the cache as it was between runs: still usable.
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rows = Vec::with_capacity(runs.len());
    let mut reports = Vec::with_capacity(runs.len());
    for (run, print) in &runs {
        if let Some((row, rep)) = read_cached(&mut cache, run, *print) {
            rows.push(row);
            reports.push(rep);
        }
    }
    cache
        .0
        .retain(|path, _| runs.iter().any(|(r, _)| r.path == *path));
    let table = report::table1::build(&reports, bloodshot::model::Objective::Softmax);
    let _ = tx.send(AppEvent::Runs(rows, Box::new(table), fingerprint));
}

/// Reads the curves of the overlaid runs. A folder that does not exist yet (a sweep's job
/// not started) is left out quietly; one that exists but cannot be read is named.
pub fn load_curves(tx: Tx, paths: Vec<PathBuf>) {
    let mut curves = vec![];
    let mut unreadable = vec![];
    for path in paths.iter().filter(|p| p.is_dir()) {
        match bloodshot::report::compare::Curves::load(&RunDir { path: path.clone() }) {
            Ok(c) => curves.push(c),
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    let _ = tx.send(AppEvent::Curves(paths, curves, unreadable));
}

/// A run's row and report: from `cache` when its folder's fingerprint is still `print`, else
/// read (and kept); `None` when the folder cannot be read as a run.
fn read_cached(
    cache: &mut RunsCache,
    run: &RunDir,
    print: u64,
) -> Option<(RunRow, report::RunReport)> {
    if let Some((_, row, rep)) = cache.0.get(&run.path).filter(|(p, ..)| *p == print) {
        return Some((row.clone(), rep.clone()));
    }
    let rep = report::collect(run).ok()?;
    let row = run_row(run, &rep);
    cache
        .0
        .insert(run.path.clone(), (print, row.clone(), rep.clone()));
    Some((row, rep))
}

/// Builds the explorer table of sweep `id` from its jobs' run folders (read again only where
/// they changed: the explorer reloads every two seconds while shown).
pub fn load_explorer(tx: Tx, runs_dir: PathBuf, id: String, cache: &Mutex<RunsCache>) {
    let Ok(sweep) = Sweep::open(&runs_dir, &id) else {
        return;
    };
    // A load that panicked left the cache as it was between runs: still usable.
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reports: Vec<Option<report::RunReport>> = sweep
        .jobs
        .iter()
        .map(|j| {
            let run = RunDir::open(&runs_dir.join(&j.run_id)).ok()?;
            let print = bloodshot::runs::run_fingerprint(&run);
            read_cached(&mut cache, &run, print).map(|(_, rep)| rep)
        })
        .collect();
    drop(cache);
    let table = bloodshot::sweep::explore::build(&sweep, &reports);
    let _ = tx.send(AppEvent::Explorer(id, Box::new(table)));
}

/// Reads the sweeps of the runs folder and where each job stands.
pub fn load_sweeps(tx: Tx, runs_dir: PathBuf) {
    let rows = Sweep::list(&runs_dir)
        .into_iter()
        .map(|s| SweepRow {
            jobs: bloodshot::sweep::status::statuses(&runs_dir, &s),
            runner: bloodshot::runs::read_json(&s.dir(&runs_dir).join("runner.json")).ok(),
            sweep: Arc::new(s),
        })
        .collect();
    let _ = tx.send(AppEvent::Sweeps(rows));
}

/// Creates (or opens) a sweep and runs it with this console's binary, reporting each job.
pub fn run_sweep(
    tx: Tx,
    runs_dir: PathBuf,
    start: SweepStart,
    devices: Vec<bloodshot::device::DeviceSpec>,
    control: Arc<Control>,
) {
    let result = (|| -> Result<_, String> {
        let sweep = match start {
            SweepStart::New(spec) => Sweep::create(&runs_dir, *spec)?,
            SweepStart::Resume(id) => Sweep::open(&runs_dir, &id)?,
        };
        let _ = tx.send(AppEvent::SweepCreated(sweep.id.clone()));
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the bloodshot binary: {e}"))?;
        let progress = std::sync::Mutex::new(tx.clone());
        Ok(bloodshot::sweep::runner::run(
            &runs_dir,
            &sweep,
            &devices,
            &exe,
            &control,
            &|ev| {
                if let Ok(tx) = progress.lock() {
                    let _ = tx.send(AppEvent::SweepProgress(ev));
                }
            },
        )?)
    })();
    let _ = tx.send(AppEvent::SweepEnded(result));
}

/// How the Runs tab names a k-shot result after its k: the protocol, then whatever differs
/// from the seed's evaluation ("pool by-subject cl2n logistic tta-dihedral").
pub fn kshot_label(k: &evaluate::KShotResult) -> String {
    let o = &k.options;
    let mut label = k.protocol.as_str().to_string();
    if o.by_subject {
        label.push_str(" by-subject");
    }
    if o.normalize != Normalization::None {
        label.push_str(&format!(" {}", o.normalize));
    }
    if o.method != Method::Prototype {
        label.push_str(&format!(" {}", o.method));
    }
    if o.tta != Tta::None {
        label.push_str(&format!(" tta-{}", o.tta));
    }
    label
}

/// A row of the Runs tab from what the report read of the run.
fn run_row(r: &RunDir, rep: &report::RunReport) -> RunRow {
    let best_val = rep
        .epochs
        .iter()
        .map(|e| e.val_accuracy)
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
    // The result computed last, not the last in the report's order (epoch, k, seed, name).
    let newest = evaluate::KShotResult::newest(r);
    let kshot = newest.as_ref().and_then(|k| {
        let s = k.summary.as_ref()?;
        Some((k.options.k, kshot_label(k), s.accuracy.mean, s.accuracy.std))
    });
    let kshot_target = newest.map(|k| std::fs::canonicalize(&k.target).unwrap_or(k.target));
    RunRow {
        id: rep.info.id.clone(),
        objective: rep.info.config.objective,
        epochs: (rep.status.last_epoch, rep.info.config.epochs),
        best_val,
        kshot,
        kshot_target,
        state: rep.status.state,
        interrupted: r.interrupted(),
        checkpoints: r.checkpoints(),
        path: r.path.clone(),
    }
}

/// Loads a checkpoint, embeds the target and computes the PCA view.
pub fn prepare(
    tx: Tx,
    run: RunDir,
    epoch: Option<usize>,
    target: PathBuf,
    opts: KShotOptions,
    spec: bloodshot::device::DeviceSpec,
) {
    let device = match bloodshot::device::open(spec) {
        Ok(d) => d,
        Err(e) => {
            let _ = tx.send(AppEvent::Prepared(Err(e.to_string())));
            return;
        }
    };
    let ptx = tx.clone();
    let mut progress = |p: PrepareProgress| {
        let _ = match p {
            PrepareProgress::Embedding { done, total } => {
                ptx.send(AppEvent::PrepareProgress(done, total))
            }
            PrepareProgress::Warning(w) | PrepareProgress::Note(w) => {
                ptx.send(AppEvent::PrepareWarning(w))
            }
            PrepareProgress::Scanning => Ok(()),
        };
    };
    // The plain embeddings always (the bank, the PCA and the baseline of every Δ), and the
    // augmented ones too when the form asks for them: both grids on the same draws.
    let plain = KShotOptions {
        tta: Tta::None,
        ..opts.clone()
    };
    // The bank at the form's k is checked before embedding; the accuracy-vs-k sweep leaves
    // out the ks a class is too small for, so they are not checked here.
    let r = evaluate::prepare_checkpoint(&run, epoch, &target, &plain, &[], &device, &mut progress)
        .and_then(|(epoch, ds, prep)| {
            let augmented = match opts.tta {
                Tta::None => None,
                _ => Some(
                    evaluate::prepare_checkpoint(
                        &run,
                        Some(epoch),
                        &target,
                        &opts,
                        &[],
                        &device,
                        &mut progress,
                    )?
                    .2,
                ),
            };
            // The bank is drawn here, off the UI thread.
            let bank: Arc<[bloodshot::fewshot::sampler::Draw]> =
                evaluate::draw_bank(&prep, &opts)?.into();
            Ok((epoch, ds, prep, augmented, bank))
        })
        .map(|(epoch, ds, prep, augmented, bank)| {
            let (pca, points) = bloodshot::fewshot::pca::target_view(&prep);
            Box::new(PreparedSession {
                epoch,
                prep: Arc::new(prep),
                augmented: augmented.map(|a| (opts.tta, Arc::new(a))),
                dataset: Arc::new(ds),
                pca: Arc::new(pca),
                points,
                bank,
            })
        });
    let _ = tx.send(AppEvent::Prepared(r.map_err(|e| e.to_string())));
}

/// Evaluates draws `from..to` of the session's bank in every classifier × normalisation cell
/// (the same draws, so the cells are compared paired); thumbnails and prototypes of the
/// last, with the misclassifications of `cell`.
pub fn evaluate_draws(tx: Tx, s: KShotSession, from: usize, to: usize, cell: Cell) {
    let draws = &s.bank[from..to.min(s.bank.len())];
    // Cells of an augmentation this session did not embed stay empty.
    let by_cell = Cell::grid(cell.logistic_c)
        .into_iter()
        .map(|c| {
            s.prep_for(c.tta)
                .map_or_else(Vec::new, |prep| evaluate::evaluate_cell(prep, c, draws))
        })
        .collect();
    let Some(last) = draws.last() else {
        return;
    };
    let prep = &s.prep;
    let path_of_support = |i: usize| s.dataset.samples[prep.support_samples[i]].path.clone();
    let support_thumbs = last
        .support
        .per_class
        .iter()
        .map(|idx| {
            idx.iter()
                .take(SUPPORT_THUMBS)
                .filter_map(|&i| Thumb::from_path(&path_of_support(i), THUMB_PX).ok())
                .collect()
        })
        .collect();
    let protos = Prototypes::from_support(&prep.support_emb, &last.support);
    let labels = &prep.query_labels;
    let preds = evaluate::predict_cell(
        s.prep_for(cell.tta).unwrap_or(prep),
        cell,
        &last.support,
        &last.queries,
    );
    let miss_thumbs = last
        .queries
        .iter()
        .zip(&preds)
        .filter(|(q, p)| labels[**q] != **p)
        .take(MISS_THUMBS)
        .filter_map(|(&q, &p)| {
            Thumb::from_path(&s.dataset.samples[prep.query_samples[q]].path, THUMB_PX)
                .ok()
                .map(|t| (labels[q], p, t))
        })
        .collect();
    let prototypes = (0..protos.n_classes)
        .map(|c| project(protos.row(c), &s.pca_basis.components, &s.pca_basis.mean))
        .collect();
    let _ = tx.send(AppEvent::Evaluated(Ok(Box::new(Evaluated {
        by_cell,
        thumbs_cell: cell,
        support_thumbs,
        miss_thumbs,
        prototypes,
    }))));
}

/// Accuracy-vs-k sweep on the prepared sets, same seed as the bank: every classifier under
/// the selected normalisation, at each k of [`SWEEP_KS`] that the classes allow.
pub fn sweep(tx: Tx, s: KShotSession, opts: KShotOptions) {
    let prep = s.prep_for(opts.tta).unwrap_or(&s.prep);
    let (ks, refusal) = evaluate::feasible_ks(prep, &opts, &SWEEP_KS);
    let left_out: Vec<usize> = SWEEP_KS
        .iter()
        .copied()
        .filter(|k| !ks.contains(k))
        .collect();
    let r = match (ks.is_empty(), refusal) {
        (true, Some(e)) => Err(e),
        (_, refusal) => Method::ALL
            .iter()
            .map(|&method| {
                let o = KShotOptions {
                    method,
                    ..opts.clone()
                };
                evaluate::run(prep, &o, &ks).map(|(_, pts)| pts)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
            .map(|by_method| KSweep {
                normalize: opts.normalize,
                tta: opts.tta,
                by_method,
                left_out: refusal.map(|why| (left_out, why)),
            }),
    };
    let _ = tx.send(AppEvent::Swept(r));
}

/// Imports a checkpoint file as a new run (on the CPU), then reloads the run list.
pub fn import(tx: Tx, path: PathBuf, runs_dir: PathBuf, cache: Arc<Mutex<RunsCache>>) {
    let cpu = bloodshot::device::open(bloodshot::device::DeviceSpec::Cpu).map_err(String::from);
    let r = cpu.and_then(|device| {
        bloodshot::interop::import_checkpoint(
            &path,
            &runs_dir,
            &bloodshot::interop::ImportOptions::default(),
            &device,
        )
        .map_err(String::from)
    });
    let ok = r.is_ok();
    let _ = tx.send(AppEvent::Interop(r.map(|i| {
        format!(
            "imported {} as run {} ({}, {} classes)",
            path.display(),
            i.run.id(),
            i.objective,
            i.classes.len()
        )
    })));
    if ok {
        load_runs(tx, runs_dir, None, &cache);
    }
}

/// Writes the run's last checkpoint as `weights.safetensors` in its folder.
pub fn export_weights(tx: Tx, run_path: PathBuf) {
    let out = run_path.join("weights.safetensors");
    let r = (|| -> Result<_, String> {
        let run = RunDir::open(&run_path)?;
        let device = bloodshot::device::open(bloodshot::device::DeviceSpec::Cpu)?;
        Ok(bloodshot::interop::export::export_run(
            &run, None, &out, &device,
        )?)
    })();
    let _ = tx.send(AppEvent::Interop(r.map(|s| {
        format!(
            "wrote {} ({} tensors, torchvision names)",
            out.display(),
            s.tensors
        )
    })));
}

/// Writes `report.md` in each run folder (the same rendering as `bloodshot export`).
pub fn export(tx: Tx, runs: Vec<PathBuf>) {
    let r = runs
        .iter()
        .map(|p| {
            let run = RunDir::open(p)?;
            Ok(report::write(&run, None)?)
        })
        .collect::<Result<Vec<_>, String>>();
    let _ = tx.send(AppEvent::Exported(r));
}

/// Saves the session's results as a `kshot/*.json` of the run (complete banks only), then
/// reloads the run list so the Runs tab shows them.
pub fn save_kshot(
    tx: Tx,
    run_path: PathBuf,
    s: KShotSession,
    opts: KShotOptions,
    target: PathBuf,
    runs_dir: PathBuf,
    cache: Arc<Mutex<RunsCache>>,
) {
    let Ok(run) = RunDir::open(&run_path) else {
        return;
    };
    let complete = s.done.len() == s.bank.len();
    let summary = if complete {
        s.summary_by_cell
            .get(Cell::of(&opts).index())
            .cloned()
            .flatten()
    } else {
        None
    };
    let sweep = s.sweep_points(Cell::of(&opts)).to_vec();
    if summary.is_none() && sweep.is_empty() {
        return;
    }
    let Some(prep) = s.prep_for(opts.tta) else {
        return;
    };
    let result = evaluate::KShotResult::new(&run, s.epoch, target, opts, prep, summary, sweep);
    if let Err(e) = result.save(&run) {
        let _ = tx.send(AppEvent::PrepareWarning(e.to_string()));
    }
    load_runs(tx, runs_dir, None, &cache);
}
