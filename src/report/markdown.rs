//! The markdown export: run configuration, training curves per epoch, base-test report,
//! k-shot results, and a table comparing objectives like the seed's Table 1.
//! `collect` reads files; `render` is a pure function of what was collected.

use std::fmt::Write;

use crate::fewshot::evaluate::{Cell, KShotOptions, KShotResult};
use crate::fewshot::method::Method;
use crate::fewshot::metrics::{ConfusionMatrix, KShotSummary};
use crate::fewshot::paired;
use crate::model::Objective;
use crate::runs::{EpochSummary, MetricRecord, RunDir, RunInfo, RunStatus, list_runs, read_json};
use crate::train::base_test::BaseTestReport;

/// Everything the report shows about one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// `config.json`.
    pub info: RunInfo,
    /// `status.json`.
    pub status: RunStatus,
    /// Epoch summaries (the last one per epoch, if an epoch was redone after a resume).
    pub epochs: Vec<EpochSummary>,
    /// `base_test.json`, when training finished.
    pub base_test: Option<BaseTestReport>,
    /// Saved k-shot evaluations.
    pub kshot: Vec<KShotResult>,
}

/// Reads a run folder into a [`RunReport`].
pub fn collect(run: &RunDir) -> Result<RunReport, crate::runs::RunsError> {
    let info = run.info()?;
    let (records, _) = run.metrics();
    let mut epochs: Vec<EpochSummary> = Vec::new();
    for r in records {
        if let MetricRecord::Epoch(e) = r {
            epochs.retain(|x| x.epoch != e.epoch);
            epochs.push(e);
        }
    }
    epochs.sort_by_key(|e| e.epoch);
    let base_test = read_json(&run.base_test_path()).ok();
    let mut kshot = KShotResult::load_all(run);
    kshot.sort_by_key(|r: &KShotResult| (r.epoch, r.options.k, r.options.seed, r.file_name()));
    Ok(RunReport {
        info,
        status: run.status(),
        epochs,
        base_test,
        kshot,
    })
}

/// Reports of the runs in the same runs folder trained on the same base data, for the
/// comparison table (includes `run` itself).
pub fn collect_comparable(run: &RunDir) -> Vec<RunReport> {
    let Some(parent) = run.path.parent() else {
        return Vec::new();
    };
    let Ok(me) = run.info() else {
        return Vec::new();
    };
    list_runs(parent)
        .iter()
        .filter_map(|r| collect(r).ok())
        .filter(|r| {
            r.info.config.base == me.config.base && r.info.config.image_size == me.config.image_size
        })
        .collect()
}

use super::text::{count, pm, the_draws, the_same_draws};

fn confusion_table(out: &mut String, classes: &[String], cm: &ConfusionMatrix) {
    out.push_str(&super::text::confusion(classes, cm).markdown());
    out.push('\n');
}

fn kshot_block(out: &mut String, r: &KShotResult, s: &KShotSummary) {
    let _ = writeln!(out, "- {}\n", super::text::summary_sentence(s, true));
    out.push_str("| class | precision | recall | F1 |\n|---|---|---|---|\n");
    for (c, name) in r.classes.iter().enumerate() {
        if let Some(pc) = s.per_class.get(c) {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} |",
                pm(&pc.precision),
                pm(&pc.recall),
                pm(&pc.f1)
            );
        }
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "Confusion matrix summed over {}:\n",
        the_draws(s.draws)
    );
    confusion_table(out, &r.classes, &s.confusion);
}

/// The k-shot section: one block per saved result, then the classifier × normalisation grid
/// of each bank scored more than one way.
fn render_kshot(out: &mut String, report: &RunReport) {
    out.push_str("## K-shot evaluation\n\n");
    if report.kshot.is_empty() {
        out.push_str("No k-shot evaluation yet (`bloodshot kshot --run …`).\n\n");
    }
    for (i, r) in report.kshot.iter().enumerate() {
        // The console saves a bank's result again with its sweep: say the bank once.
        let repeated = r.summary.is_some()
            && report.kshot[..i].iter().any(|p| {
                p.summary == r.summary
                    && p.options == r.options
                    && p.epoch == r.epoch
                    && p.target == r.target
            });
        if repeated && r.sweep.is_empty() {
            continue;
        }
        kshot_heading(out, r);
        match &r.summary {
            Some(_) if repeated => out.push_str("The bank's numbers are the same as above.\n\n"),
            Some(s) => kshot_block(out, r, s),
            None => {}
        }
        sweep_table(out, r);
    }
    render_grids(out, &report.kshot);
}

/// The protocol as a heading names it: "heldout-test (support fold_1)" for a support part
/// other than the default, "pool by subject" when support and query subjects were kept
/// apart, so two results that differ only there never read alike.
fn protocol_label(r: &KShotResult) -> String {
    let by = if r.options.by_subject {
        " by subject"
    } else {
        ""
    };
    let part = r
        .support_part()
        .map_or(String::new(), |p| format!(" (support {p})"));
    format!("{}{part}{by}", r.protocol.as_str())
}

/// The ks a result holds: "k = 10"; with an accuracy-vs-k sweep, "k = 10 (sweep 1, 5, 10)"
/// when its details are at k = 10, else "k sweep 1, 2" (`kshot --sweep` ignores a `--k`
/// outside the sweep, so that k has no numbers and must not head them).
pub fn ks_label(r: &KShotResult) -> String {
    if r.sweep.is_empty() {
        return format!("k = {}", r.options.k);
    }
    let ks: Vec<String> = r.sweep.iter().map(|p| p.k.to_string()).collect();
    match r.summary {
        Some(_) => format!("k = {} (sweep {})", r.options.k, ks.join(", ")),
        None => format!("k sweep {}", ks.join(", ")),
    }
}

/// A result's heading and the sentences that say how it was scored: normalisation (and
/// whether it is transductive), classifier, collapse warning, target and sampling.
fn kshot_heading(out: &mut String, r: &KShotResult) {
    let _ = writeln!(
        out,
        "### {}, {}, seed {}, protocol {}, normalisation {}{} (epoch {})\n",
        ks_label(r),
        count(r.options.draws, "draw"),
        r.options.seed,
        protocol_label(r),
        r.options.normalize.label(),
        r.options.variant_label(),
        r.epoch
    );
    if r.options.normalize.transductive() {
        out.push_str("Transductive: the unlabelled target embeddings (support pool and queries) were used to centre the embeddings.\n\n");
    }
    if r.options.method != Method::Prototype {
        let _ = writeln!(
            out,
            "Classifier `{}`: {}.\n",
            r.options.method,
            r.options.method.description()
        );
    }
    if let Some(w) = r.collapse.as_ref().and_then(|c| c.warning()) {
        let _ = writeln!(out, "> **Warning.** {w}\n");
    }
    let _ = writeln!(
        out,
        "Target `{}`; support pool {} images{}; {} queries; sampling {} replacement.\n",
        r.target.display(),
        r.support_pool,
        if r.protocol == crate::fewshot::evaluate::Protocol::HeldoutTest {
            format!(" ({})", r.options.support_part)
        } else {
            String::new()
        },
        r.queries,
        if r.options.with_replacement {
            "with"
        } else {
            "without"
        },
    );
}

/// A result's accuracy-vs-k table, when it has one.
fn sweep_table(out: &mut String, r: &KShotResult) {
    if !r.sweep.is_empty() {
        out.push_str(
            "Accuracy vs k:\n\n| k | accuracy | 95 % CI | macro F1 |\n|---:|---|---|---|\n",
        );
        for p in &r.sweep {
            let _ = writeln!(
                out,
                "| {} | {} | {:.3}–{:.3} | {} |",
                p.k,
                pm(&p.summary.accuracy),
                p.summary.accuracy.ci95_low,
                p.summary.accuracy.ci95_high,
                pm(&p.summary.macro_f1)
            );
        }
        out.push('\n');
    }
}

/// One table per bank (same checkpoint, target and draws) that was scored by more than one
/// classifier or normalisation, each cell against the bank's first with the paired Δ.
fn render_grids(out: &mut String, results: &[KShotResult]) {
    let same_bank = |a: &KShotResult, b: &KShotResult| {
        a.epoch == b.epoch
            && a.target == b.target
            && a.protocol == b.protocol
            && KShotOptions {
                normalize: b.options.normalize,
                method: b.options.method,
                logistic_c: b.options.logistic_c,
                tta: b.options.tta,
                ..a.options.clone()
            } == b.options
    };
    let scored: Vec<&KShotResult> = results.iter().filter(|r| r.summary.is_some()).collect();
    let mut seen = vec![false; scored.len()];
    for i in 0..scored.len() {
        if seen[i] {
            continue;
        }
        let mut bank: Vec<&KShotResult> = Vec::new();
        for j in i..scored.len() {
            let cell = Cell::of(&scored[j].options);
            if !seen[j]
                && same_bank(scored[i], scored[j])
                && !bank.iter().any(|b| Cell::of(&b.options) == cell)
            {
                seen[j] = true;
                bank.push(scored[j]);
            }
        }
        if bank.len() < 2 {
            continue;
        }
        // The seed's cell (prototype · none) first when present: the baseline of the Δ.
        bank.sort_by_key(|r| {
            (
                r.options.tta.index(),
                r.options.method.index(),
                r.options.normalize.index(),
            )
        });
        let first = bank[0];
        let _ = writeln!(
            out,
            "### Classifiers × normalisations on {} (k = {}, epoch {})\n",
            the_same_draws(first.options.draws),
            first.options.k,
            first.epoch
        );
        let _ = writeln!(
            out,
            "Δ: paired difference in accuracy to {} on the same support sets, with a 95 % bootstrap interval; * transductive.\n",
            first.options.cell_name()
        );
        out.push_str("| classifier · normalisation | accuracy | macro F1 | Δ accuracy [95 % CI] |\n|---|---|---|---|\n");
        let summaries: Vec<_> = bank.iter().map(|r| r.summary.as_ref()).collect();
        for (r, d) in bank.iter().zip(paired::to_first(&summaries)) {
            let Some(s) = &r.summary else { continue };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                r.options.cell_name(),
                pm(&s.accuracy),
                pm(&s.macro_f1),
                d.map_or("–".into(), |d| d.to_string())
            );
        }
        out.push('\n');
    }
}

/// Renders the report of one run, plus the comparison table when `comparable` holds more
/// than one run.
pub fn render(report: &RunReport, comparable: &[RunReport]) -> String {
    let mut out = String::new();
    let i = &report.info;
    let c = &i.config;
    let _ = writeln!(out, "# BloodShot run `{}`\n", i.id);
    let _ = writeln!(
        out,
        "Objective **{}**, status **{}** after epoch {} of {}.\n",
        c.objective.title(),
        if report.status.interrupted() {
            "interrupted (resumable)".to_string()
        } else {
            format!("{:?}", report.status.state).to_lowercase()
        },
        report.status.last_epoch,
        c.epochs
    );
    if let Some(source) = &i.source {
        // An imported model: training happened elsewhere, only these settings are known.
        let _ = writeln!(
            out,
            "Not trained here: {source}.\n\n## Configuration\n\n| setting | value |\n|---|---|\n| objective | {} |\n| classes | {} ({}) |\n| image size | {} px |\n| bloodshot | {} |\n",
            c.objective.as_str(),
            i.classes.len(),
            i.classes.join(", "),
            c.image_size,
            i.version
        );
    } else {
        render_configuration(&mut out, report);
    }
    if i.source.is_none() {
        render_training(&mut out, report);
    }

    render_base_test(&mut out, report);

    render_kshot(&mut out, report);

    if comparable.len() > 1 {
        render_comparison(&mut out, report, comparable);
        let table = super::table1::build(comparable, crate::model::Objective::Softmax);
        if table.groups.iter().any(|g| g.rows.len() > 1) {
            super::table1::render(&mut out, &table);
        }
    }
    out
}

/// The base test split: the head's scores, a warning when it answers one class, the
/// per-class table and the confusion matrix.
fn render_base_test(out: &mut String, report: &RunReport) {
    out.push_str("## Base test split\n\n");
    match &report.base_test {
        None => out.push_str("No base-test report yet (written when training finishes).\n\n"),
        Some(b) => {
            let m = &b.metrics;
            let _ = writeln!(
                out,
                "Epoch {} head on the 20 % test split: accuracy **{:.3}**, balanced accuracy {:.3}, macro F1 {:.3}, weighted F1 {:.3}.\n",
                b.epoch, m.accuracy, m.balanced_accuracy, m.macro_f1, m.weighted_f1
            );
            let cm = &m.confusion;
            let n = cm.n_classes;
            let predicted: Vec<usize> = (0..n).filter(|&p| cm.column_total(p) > 0).collect();
            let true_classes = (0..n).filter(|&t| cm.row_total(t) > 0).count();
            if let ([only], true) = (predicted.as_slice(), true_classes >= 2) {
                let _ = writeln!(
                    out,
                    "> **Warning.** Every base-test image was predicted `{}` although the split holds {true_classes} classes: the network answers one class in evaluation mode.\n",
                    b.classes.get(*only).map_or("?", String::as_str)
                );
            }
            out.push_str(
                "| class | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|\n",
            );
            for (name, s) in b.classes.iter().zip(&m.per_class) {
                let _ = writeln!(
                    out,
                    "| {name} | {:.3} | {:.3} | {:.3} | {} |",
                    s.precision, s.recall, s.f1, s.support
                );
            }
            out.push('\n');
            confusion_table(out, &b.classes, &m.confusion);
        }
    }
}

/// The seed's Table 1 from data: per normalisation this run was evaluated with, one row per
/// run with a k-shot result on the same protocol, k, draws, seed and normalisation as this
/// run's first result in that normalisation.
fn render_comparison(out: &mut String, me: &RunReport, runs: &[RunReport]) {
    out.push_str("## Objectives compared\n\n");
    // One table per bank (k, draws, seed, protocol, target, sampling) and classifier ·
    // normalisation this run was scored on, in Table 1's order.
    let mut keys: Vec<&KShotResult> = Vec::new();
    for r in me.kshot.iter().filter(|r| r.summary.is_some()) {
        if !keys.iter().any(|k| same_evaluation(k, r)) {
            keys.push(r);
        }
    }
    keys.sort_by_key(|k| {
        (
            k.options.tta.index(),
            k.options.method.index(),
            k.options.normalize.index(),
        )
    });
    if keys.is_empty() {
        out.push_str("Run a k-shot evaluation of this run to compare it with the other runs on the same base data.\n\n");
        return;
    }
    // Evaluations no other run shares are named in one sentence, not a table each; with
    // none shared, the first one's table stands alone.
    let shared = |key: &KShotResult| {
        runs.iter()
            .filter(|r| {
                r.kshot
                    .iter()
                    .any(|x| x.summary.is_some() && same_evaluation(x, key))
            })
            .count()
            >= 2
    };
    let (tables, alone): (Vec<&KShotResult>, Vec<&KShotResult>) =
        keys.iter().partition(|k| shared(k));
    if tables.is_empty() {
        render_comparison_table(out, keys[0], runs);
        return;
    }
    for key in tables {
        render_comparison_table(out, key, runs);
    }
    if !alone.is_empty() {
        let names: Vec<String> = alone.iter().map(|k| evaluation_label(k, "")).collect();
        let _ = writeln!(out, "No other run has a result on: {}.\n", names.join("; "));
    }
}

/// Whether two results were scored on the same bank (k, draws, seed, protocol, target,
/// sampling) by the same classifier · normalisation: what a comparison row needs.
fn same_evaluation(a: &KShotResult, b: &KShotResult) -> bool {
    a.options.k == b.options.k
        && a.options.draws == b.options.draws
        && a.options.seed == b.options.seed
        && a.protocol == b.protocol
        && a.target == b.target
        && a.support_part() == b.support_part()
        && a.options.by_subject == b.options.by_subject
        && a.options.with_replacement == b.options.with_replacement
        && Cell::of(&a.options) == Cell::of(&b.options)
}

/// "k = 10, 100 draws (seed 0{note}), protocol pool by subject, normalisation none".
fn evaluation_label(key: &KShotResult, note: &str) -> String {
    format!(
        "k = {}, {} (seed {}{note}), protocol {}, normalisation {}{}",
        key.options.k,
        count(key.options.draws, "draw"),
        key.options.seed,
        protocol_label(key),
        key.options.normalize.label(),
        key.options.variant_label()
    )
}

fn render_comparison_table(out: &mut String, key: &KShotResult, runs: &[RunReport]) {
    let same = |r: &KShotResult| r.summary.is_some() && same_evaluation(r, key);
    let _ = writeln!(
        out,
        "Same base data, {}:\n",
        evaluation_label(key, ", same support sets")
    );
    let _ = write!(out, "| objective | run | val acc | accuracy |");
    for c in &key.classes {
        let _ = write!(out, " F1 {c} |");
    }
    out.push_str("\n|---|---|---:|---|");
    for _ in &key.classes {
        out.push_str("---|");
    }
    out.push('\n');
    let mut shown = 0;
    for r in runs {
        let Some(k) = r.kshot.iter().rev().find(|x| same(x)) else {
            continue;
        };
        let Some(s) = &k.summary else { continue };
        let val = r
            .epochs
            .last()
            .map_or("–".into(), |e| format!("{:.3}", e.val_accuracy));
        let _ = write!(
            out,
            "| {} | `{}` | {} | {} |",
            r.info.config.objective.title(),
            r.info.id,
            val,
            pm(&s.accuracy)
        );
        for pc in &s.per_class {
            let _ = write!(out, " {} |", pm(&pc.f1));
        }
        out.push('\n');
        shown += 1;
    }
    out.push('\n');
    if shown < 2 {
        out.push_str("Only this run has a matching k-shot result so far.\n\n");
    }
}

/// The configuration table of a trained run.
fn render_configuration(out: &mut String, report: &RunReport) {
    let i = &report.info;
    let c = &i.config;
    out.push_str("## Configuration\n\n| setting | value |\n|---|---|\n");
    let rows: Vec<(&str, String)> = vec![
        ("objective", c.objective.as_str().into()),
        (
            "embedder initialised from",
            c.init
                .as_ref()
                .map_or("random (trained from scratch)".into(), |p| {
                    format!("`{}` (fresh head for the base classes)", p.display())
                }),
        ),
        ("base dataset", c.base.display().to_string()),
        (
            "classes",
            format!("{} ({})", i.classes.len(), i.classes.join(", ")),
        ),
        (
            "split train/val/test",
            format!(
                "{} / {} / {}",
                i.split_sizes[0], i.split_sizes[1], i.split_sizes[2]
            ),
        ),
        ("epochs", c.epochs.to_string()),
        ("batch size", c.batch_size.to_string()),
        ("learning rate (Adam)", format!("{}", c.lr)),
        ("image size", format!("{} px", c.image_size)),
        ("margin m", format!("{} rad", c.aam.margin)),
        ("scale s", format!("{}", c.aam.scale)),
        ("consistency λ", format!("{}", c.lambda)),
        ("seed", c.seed.to_string()),
        (
            "limit per class",
            c.limit_per_class.map_or("none".into(), |l| l.to_string()),
        ),
        ("min class size", c.min_class_size.to_string()),
        ("BN recalibration passes", c.bn_recalibration.to_string()),
        ("device", i.device.clone()),
        ("bloodshot", i.version.clone()),
        ("burn", i.burn_version.clone()),
        (
            "git commit",
            i.git_commit.clone().unwrap_or_else(|| "unknown".into()),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out.push('\n');
}

/// The per-epoch table of a trained run.
fn render_training(out: &mut String, report: &RunReport) {
    out.push_str("## Training\n\n");
    if report.epochs.is_empty() {
        out.push_str("No epoch has finished yet.\n\n");
    } else {
        out.push_str("| epoch | train loss | consistency | train acc | val loss | val acc | seconds | images/s |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        // Only aam-consistency computes the rotation-consistency loss: elsewhere a dash,
        // not a zero that reads like a measured one.
        let has_consistency = report.info.config.objective == Objective::AamConsistency;
        for e in &report.epochs {
            let consistency = if has_consistency {
                format!("{:.4}", e.train_consistency)
            } else {
                "–".into()
            };
            let _ = writeln!(
                out,
                "| {} | {:.4} | {consistency} | {:.3} | {:.4} | {:.3} | {:.1} | {:.1} |",
                e.epoch,
                e.train_loss,
                e.train_accuracy,
                e.val_loss,
                e.val_accuracy,
                e.seconds,
                e.images_per_sec
            );
        }
        out.push('\n');
    }
}
