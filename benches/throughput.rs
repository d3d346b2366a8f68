//! Throughput benchmark (a bench binary, not a test): image decode + resize, embedding and
//! training images/s, on the device named by `BENCH_DEVICE` (cpu, cuda:0, vulkan:0).
//!
//! `cargo bench --bench throughput` — `BENCH_QUICK=1` for a shorter run, `BENCH_SIZE=64` for
//! 64 px (default 224), `BENCH_STEPS=N`
//! training steps per objective (default 4), `BENCH_OBJECTIVES=aam-consistency` to choose.
//! `BENCH_BUSY_PID=PID` (Unix): the timed batches and steps alternate quiet and beside that
//! process, which the bench continues (`SIGCONT`) and stops (`SIGSTOP`); both figures are
//! reported (`scripts/cpu-bench.sh` with `BUSY=paired`).
//! Lines starting with `RESULT` are machine-readable (scripts/gpu-check.sh reads them).

use std::path::PathBuf;
use std::time::Instant;

use bloodshot::bench;
use bloodshot::data::decode::load_rgb;
use bloodshot::device::{self, DeviceSpec};
use bloodshot::model::Objective;

fn images() -> Vec<PathBuf> {
    let real = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/real-sample/cnmc/all");
    let dir = if real.is_dir() {
        real
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("sample-data/cnmc/C-NMC_training_data/fold_0/all")
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// Continues (`true`) or stops the process `pid`; a process that has gone is an error.
#[cfg(unix)]
fn set_running(pid: i32, on: bool) {
    let signal = if on { libc::SIGCONT } else { libc::SIGSTOP };
    // SAFETY: `kill` takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } != 0 {
        eprintln!("throughput: BENCH_BUSY_PID={pid}: cannot signal that process (is it running?)");
        std::process::exit(1);
    }
}

/// The busy process to alternate with, from `BENCH_BUSY_PID`.
fn busy_pid() -> Option<i32> {
    let v = std::env::var("BENCH_BUSY_PID")
        .ok()
        .filter(|v| !v.is_empty())?;
    match v.parse::<i32>() {
        Ok(pid) if pid > 0 && cfg!(unix) => Some(pid),
        _ => {
            eprintln!("throughput: BENCH_BUSY_PID={v:?} is not a process id on a Unix system");
            std::process::exit(1);
        }
    }
}

/// Elsewhere there is no busy process to signal ([`busy_pid`] refuses one).
#[cfg(not(unix))]
fn set_running(_pid: i32, _on: bool) {}

/// A switch for [`bench::Busy`] that signals `pid`.
fn switch(pid: Option<i32>) -> Option<impl FnMut(bool)> {
    pid.map(|pid| move |on| set_running(pid, on))
}

fn main() {
    bloodshot::memory::init(); // as the program does
    let busy = busy_pid();
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let spec: DeviceSpec = std::env::var("BENCH_DEVICE")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or_default();
    let size: usize = std::env::var("BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(224);
    println!("throughput device: {}", device::describe(spec));
    let dev = match device::open(spec) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("throughput: {e}");
            std::process::exit(1);
        }
    };
    // Freed memory stays in the process during each measurement, as `train` and
    // `embed_images` keep it on the CPU (src/memory.rs); BENCH_NO_HOLD=1 measures without.
    let hold = || {
        if std::env::var("BENCH_NO_HOLD").is_ok_and(|v| v == "1") {
            None
        } else {
            bloodshot::memory::Hold::for_device(&dev)
        }
    };
    println!(
        "throughput on {spec} ({} threads)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // Decode + resize to 224 (no cache).
    let files = images();
    let t = Instant::now();
    let mut n = 0;
    let rounds = if quick { 1 } else { 3 };
    for _ in 0..rounds {
        for f in &files {
            load_rgb(f, 224).unwrap();
            n += 1;
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "decode+resize to 224: {n} images ({}) in {:.2} s = {:.1} images/s",
        files[0].parent().unwrap().display(),
        s,
        n as f64 / s
    );

    // BENCH_SIZE (default 224) for embedding and training (`bloodshot::bench`, which the
    // GPU check's `bloodshot bench` runs too). The k-shot path embeds with batch norm folded
    // (`InferenceB0`); the unfolded network in evaluation mode is measured on request.
    let batch: usize = std::env::var("BENCH_EMBED_BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| bloodshot::fewshot::embed::batch_size(&dev));
    // Batches timed after the first (their median is reported): a 64 px batch takes about
    // a tenth of a second on two cores, so it takes many for a stable median.
    let reps = match (quick, size) {
        (true, _) => 1,
        (false, s) if s <= 96 => 20,
        _ => 5,
    };
    let mut folds = vec![true];
    if std::env::var_os("BENCH_UNFOLDED").is_some() {
        folds.push(false);
    }
    for folded in folds {
        let _memory = hold();
        let mut set = switch(busy);
        let t = bench::embed(
            &dev,
            size,
            batch,
            reps,
            folded,
            set.as_mut().map(|f| f as bench::Busy),
        );
        for line in bench::embed_lines(&t, size, folded) {
            println!("{line}");
        }
    }

    let objectives: Vec<Objective> = std::env::var("BENCH_OBJECTIVES")
        .ok()
        .map(|v| v.split(',').filter_map(|o| o.parse().ok()).collect())
        .unwrap_or_else(|| vec![Objective::Softmax, Objective::AamConsistency]);
    let steps: usize = std::env::var("BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 2 } else { 4 })
        .max(2);
    for objective in objectives {
        let _memory = hold();
        let mut set = switch(busy);
        let t = bench::train(
            &dev,
            objective,
            size,
            32,
            steps,
            set.as_mut().map(|f| f as bench::Busy),
        );
        for line in bench::train_lines(&t, objective, size) {
            println!("{line}");
        }
    }
}
