//! Tidy CSV files of every run in a runs folder, for pandas and R: one row per run, per
//! epoch, per training step, per k-shot draw and per system-history sample.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::markdown::{RunReport, collect};
use crate::runs::{MetricRecord, list_runs};

/// What `bloodshot export --csv` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvExport {
    /// The files, in the order written.
    pub files: Vec<PathBuf>,
    /// Runs exported.
    pub runs: usize,
    /// Data rows per file (header excluded), in the order of `files`.
    pub rows: Vec<usize>,
}

/// One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// A table being written: its header and rows.
struct Table {
    text: String,
    rows: usize,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table {
            text: header.join(",") + "\n",
            rows: 0,
        }
    }

    fn row(&mut self, values: &[String]) {
        let fields: Vec<String> = values.iter().map(|v| field(v)).collect();
        let _ = writeln!(self.text, "{}", fields.join(","));
        self.rows += 1;
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

fn runs_table(reports: &[RunReport]) -> Table {
    let mut t = Table::new(&[
        "run_id",
        "objective",
        "state",
        "epochs_done",
        "epochs",
        "batch_size",
        "lr",
        "image_size",
        "margin",
        "scale",
        "lambda",
        "seed",
        "limit_per_class",
        "bn_recalibration",
        "init",
        "base",
        "device",
        "created_unix",
        "best_val_accuracy",
        "base_test_accuracy",
        "base_test_macro_f1",
        "source",
    ]);
    for r in reports {
        let c = &r.info.config;
        let state = serde_json::to_value(r.status.state)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let best_val = r
            .epochs
            .iter()
            .map(|e| e.val_accuracy)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        t.row(&[
            r.info.id.clone(),
            c.objective.as_str().into(),
            state,
            r.status.last_epoch.to_string(),
            c.epochs.to_string(),
            c.batch_size.to_string(),
            c.lr.to_string(),
            c.image_size.to_string(),
            c.aam.margin.to_string(),
            c.aam.scale.to_string(),
            c.lambda.to_string(),
            c.seed.to_string(),
            opt(c.limit_per_class),
            c.bn_recalibration.to_string(),
            opt(c.init.as_ref().map(|p| p.display())),
            c.base.display().to_string(),
            r.info.device.clone(),
            r.info.created_unix.to_string(),
            opt(best_val),
            opt(r.base_test.as_ref().map(|b| b.metrics.accuracy)),
            opt(r.base_test.as_ref().map(|b| b.metrics.macro_f1)),
            r.info.source.clone().unwrap_or_default(),
        ]);
    }
    t
}

fn epochs_table(reports: &[RunReport]) -> Table {
    let mut t = Table::new(&[
        "run_id",
        "epoch",
        "train_loss",
        "train_consistency",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
        "images_per_sec",
    ]);
    for r in reports {
        for e in &r.epochs {
            t.row(&[
                r.info.id.clone(),
                e.epoch.to_string(),
                e.train_loss.to_string(),
                e.train_consistency.to_string(),
                e.train_accuracy.to_string(),
                e.val_loss.to_string(),
                e.val_accuracy.to_string(),
                e.seconds.to_string(),
                e.images_per_sec.to_string(),
            ]);
        }
    }
    t
}

/// Every step of every run; a step logged twice (an epoch redone after a resume) keeps its
/// last record, as the run's epochs do.
fn steps_table(runs: &[(String, Vec<MetricRecord>)]) -> Table {
    let mut t = Table::new(&[
        "run_id",
        "epoch",
        "step",
        "loss",
        "metric_loss",
        "consistency_loss",
        "accuracy",
        "images_per_sec",
        "seconds",
    ]);
    for (id, records) in runs {
        let mut steps: std::collections::BTreeMap<(usize, usize), &MetricRecord> =
            std::collections::BTreeMap::new();
        for r in records {
            if let MetricRecord::Step { epoch, step, .. } = r {
                steps.insert((*epoch, *step), r);
            }
        }
        for r in steps.into_values() {
            if let MetricRecord::Step {
                epoch,
                step,
                loss,
                metric_loss,
                consistency_loss,
                accuracy,
                images_per_sec,
                seconds,
                ..
            } = r
            {
                t.row(&[
                    id.clone(),
                    epoch.to_string(),
                    step.to_string(),
                    loss.to_string(),
                    metric_loss.to_string(),
                    consistency_loss.to_string(),
                    accuracy.to_string(),
                    images_per_sec.to_string(),
                    seconds.to_string(),
                ]);
            }
        }
    }
    t
}

/// One row per run × saved k-shot result × k (a sweep's points too) × draw, with the draw's
/// accuracy, macro-F1 and the F1 of every class (one column per class name of any target).
fn draws_table(reports: &[RunReport]) -> Table {
    let mut classes: Vec<String> = Vec::new();
    for r in reports.iter().flat_map(|r| &r.kshot) {
        for c in &r.classes {
            if !classes.contains(c) {
                classes.push(c.clone());
            }
        }
    }
    let mut header: Vec<String> = [
        "run_id",
        "epoch",
        "target",
        "protocol",
        "support_part",
        "k",
        "bank_draws",
        "bank_seed",
        "by_subject",
        "with_replacement",
        "normalize",
        "method",
        "logistic_c",
        "tta",
        "draw",
        "accuracy",
        "macro_f1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(classes.iter().map(|c| format!("f1_{c}")));
    let mut t = Table::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for r in reports {
        for k in &r.kshot {
            let o = &k.options;
            let points = k
                .summary
                .iter()
                .filter(|_| k.sweep.is_empty())
                .map(|s| (o.k, s))
                .chain(k.sweep.iter().map(|p| (p.k, &p.summary)));
            for (kk, s) in points {
                for (d, acc) in s.draw_accuracies.iter().enumerate() {
                    let mut row = vec![
                        r.info.id.clone(),
                        k.epoch.to_string(),
                        k.target.display().to_string(),
                        k.protocol.as_str().into(),
                        support_part(k),
                        kk.to_string(),
                        o.draws.to_string(),
                        o.seed.to_string(),
                        o.by_subject.to_string(),
                        o.with_replacement.to_string(),
                        o.normalize.as_str().into(),
                        o.method.as_str().into(),
                        o.logistic_c.to_string(),
                        o.tta.as_str().into(),
                        d.to_string(),
                        acc.to_string(),
                        opt(s.draw_macro_f1.get(d)),
                    ];
                    let f1 = s.draw_class_f1.get(d);
                    row.extend(classes.iter().map(|c| {
                        let i = k.classes.iter().position(|x| x == c);
                        opt(i.and_then(|i| f1.and_then(|f| f.get(i))))
                    }));
                    t.row(&row);
                }
            }
        }
    }
    t
}

/// The part a held-out result drew its support from (`fold_0` unless `--support-part` named
/// another); empty for the pool protocol, which has no parts.
fn support_part(k: &crate::fewshot::evaluate::KShotResult) -> String {
    match k.protocol {
        crate::fewshot::evaluate::Protocol::HeldoutTest => k.options.support_part.clone(),
        _ => String::new(),
    }
}

/// The system history of every run: one row per sample of its `system.jsonl`.
fn system_table(runs: &[crate::runs::RunDir]) -> Table {
    let mut t = Table::new(&[
        "run_id",
        "t",
        "cpu_percent",
        "rss_mb",
        "gpu_percent",
        "gpu_mem_mb",
    ]);
    for run in runs {
        let id = run.id();
        for s in crate::train::system::read_history(&run.system_path()) {
            t.row(&[
                id.clone(),
                s.t.to_string(),
                s.cpu_percent.to_string(),
                s.rss_mb.to_string(),
                opt(s.gpu_percent),
                opt(s.gpu_mem_mb),
            ]);
        }
    }
    t
}

/// Writes `runs.csv`, `epochs.csv`, `steps.csv`, `draws.csv` and `system.csv` of every run in `runs_dir`
/// into `out` (created if needed; each file written atomically).
pub fn write_csv(runs_dir: &Path, out: &Path) -> Result<CsvExport, super::ReportError> {
    let runs = list_runs(runs_dir);
    let reports: Vec<RunReport> = runs.iter().filter_map(|r| collect(r).ok()).collect();
    if reports.is_empty() {
        return Err(super::ReportError::NoRuns(runs_dir.into()));
    }
    let records: Vec<(String, Vec<MetricRecord>)> = runs
        .iter()
        .filter_map(|r| Some((r.info().ok()?.id, r.metrics().0)))
        .collect();
    std::fs::create_dir_all(out).map_err(|source| {
        super::ReportError::from(crate::files::IoError {
            action: "create the export folder",
            path: out.into(),
            source,
        })
    })?;
    let tables = [
        ("runs.csv", runs_table(&reports)),
        ("epochs.csv", epochs_table(&reports)),
        ("steps.csv", steps_table(&records)),
        ("draws.csv", draws_table(&reports)),
        ("system.csv", system_table(&runs)),
    ];
    let mut export = CsvExport {
        files: Vec::new(),
        runs: reports.len(),
        rows: Vec::new(),
    };
    for (name, table) in tables {
        let path = out.join(name);
        crate::files::write_atomic(&path, table.text.as_bytes()).map_err(|source| {
            super::ReportError::from(crate::files::IoError {
                action: "write",
                path: path.clone(),
                source,
            })
        })?;
        export.files.push(path);
        export.rows.push(table.rows);
    }
    Ok(export)
}
