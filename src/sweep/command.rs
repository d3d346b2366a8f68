//! The command lines of a job: `bloodshot train --run-id …` with every setting spelled out,
//! then one `bloodshot kshot` per k and normalisation on the sweep's shared bank. The sweep
//! runner starts exactly these, and `--print-commands` prints them for GNU parallel or a
//! Slurm array, so both produce the same runs. Each command is idempotent: a trained run is
//! not trained again, a half-trained one resumes from its checkpoint.

use std::path::Path;

use crate::device::DeviceSpec;
use crate::fewshot::method::Method;

use super::plan::{Job, Sweep};

/// Arguments (after the program name) of the training command of `job`.
pub fn train_args(runs_dir: &Path, job: &Job, device: DeviceSpec) -> Vec<String> {
    let c = &job.config;
    let mut a: Vec<String> = vec![
        "--runs-dir".into(),
        runs_dir.display().to_string(),
        "train".into(),
        "--run-id".into(),
        job.run_id.clone(),
        "--base".into(),
        c.base.display().to_string(),
        "--objective".into(),
        c.objective.as_str().into(),
        "--epochs".into(),
        c.epochs.to_string(),
        "--batch-size".into(),
        c.batch_size.to_string(),
        "--lr".into(),
        c.lr.to_string(),
        "--image-size".into(),
        c.image_size.to_string(),
        "--margin".into(),
        c.aam.margin.to_string(),
        "--scale".into(),
        c.aam.scale.to_string(),
        "--lambda".into(),
        c.lambda.to_string(),
        "--seed".into(),
        c.seed.to_string(),
        "--min-class-size".into(),
        c.min_class_size.to_string(),
        "--bn-recalibration".into(),
        c.bn_recalibration.to_string(),
        "--device".into(),
        device.to_string(),
    ];
    if let Some(n) = c.limit_per_class {
        a.extend(["--limit-per-class".into(), n.to_string()]);
    }
    if !c.use_cache {
        a.push("--no-cache".into());
    }
    a
}

/// Arguments of the k-shot commands of `job`: one per k, which scores every classifier with
/// every normalisation on that k's bank.
pub fn kshot_args(
    runs_dir: &Path,
    sweep: &Sweep,
    job: &Job,
    device: DeviceSpec,
) -> Vec<Vec<String>> {
    let spec = &sweep.spec.kshot;
    let list = |items: Vec<&str>| items.join(",");
    let o = &spec.options;
    spec.ks
        .iter()
        .map(|&k| {
            let mut a: Vec<String> = vec![
                "--runs-dir".into(),
                runs_dir.display().to_string(),
                "kshot".into(),
                "--run".into(),
                job.run_id.clone(),
                "--target".into(),
                spec.target.display().to_string(),
                "--k".into(),
                k.to_string(),
                "--draws".into(),
                o.draws.to_string(),
                "--seed".into(),
                o.seed.to_string(),
                "--protocol".into(),
                o.protocol.as_str().into(),
                "--support-part".into(),
                o.support_part.clone(),
                "--normalize".into(),
                list(spec.normalizations.iter().map(|m| m.as_str()).collect()),
                "--method".into(),
                list(spec.methods.iter().map(|m| m.as_str()).collect()),
                "--tta".into(),
                list(spec.ttas.iter().map(|t| t.as_str()).collect()),
                "--device".into(),
                device.to_string(),
            ];
            if spec.methods.contains(&Method::Logistic) {
                a.extend(["--logistic-c".into(), o.logistic_c.to_string()]);
            }
            if o.by_subject {
                a.push("--by-subject".into());
            }
            if o.with_replacement {
                a.push("--with-replacement".into());
            }
            a
        })
        .collect()
}

/// All commands of `job`, in order.
pub fn job_args(runs_dir: &Path, sweep: &Sweep, job: &Job, device: DeviceSpec) -> Vec<Vec<String>> {
    let mut all = vec![train_args(runs_dir, job, device)];
    all.extend(kshot_args(runs_dir, sweep, job, device));
    all
}

/// One shell line running `job`'s commands with `exe`, stopping at the first failure.
pub fn shell_line(exe: &str, commands: &[Vec<String>]) -> String {
    commands
        .iter()
        .map(|args| {
            std::iter::once(quote(exe))
                .chain(args.iter().map(|a| quote(a)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

/// POSIX shell quoting: bare when safe, else single quotes (with `'\''` for a quote).
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
