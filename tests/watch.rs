//! The console follows a run that another process trains: `bloodshot train` runs on its
//! own, the console (in tmux) opens on the same runs folder, `f` on the Runs tab shows the
//! run's live dashboard, which keeps updating until the run finishes; then the Runs tab
//! shows a run that another process starts while it is shown. Skipped (with a message)
//! where tmux is not installed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bloodshot::runs::RunDir;

mod common;

/// `epoch E/N step S/M` → (E, S).
fn position(screen: &str) -> Option<(usize, usize)> {
    let i = screen.find("epoch ")?;
    let rest = &screen[i + 6..];
    let e = rest.split('/').next()?.trim().parse().ok()?;
    let j = rest.find(" step ")?;
    let s = rest[j + 6..].split('/').next()?.trim().parse().ok()?;
    Some((e, s))
}

/// `bloodshot train` at 32 px, batch 4, without recalibration, in the background.
fn train(
    home: &std::path::Path,
    runs: &std::path::Path,
    id: &str,
    objective: &str,
    epochs: &str,
    per_class: &str,
) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_bloodshot"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("BLOODSHOT_HOME", home)
        .args(["--runs-dir", &runs.display().to_string(), "train"])
        .args(["--run-id", id, "--objective", objective, "--epochs", epochs])
        .args(["--image-size", "32", "--batch-size", "4"])
        .args(["--limit-per-class", per_class, "--bn-recalibration", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn the_console_follows_a_run_trained_by_another_process() {
    if !common::tmux_available() {
        eprintln!("skipping the watch end-to-end test: tmux is not installed");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let mut trainer = train(home.path(), &runs, "elsewhere", "softmax", "8", "16");
    let start = Instant::now();
    while RunDir::open(&runs.join("elsewhere")).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let cmd = format!(
        "cd {} && BLOODSHOT_HOME={} {} --runs-dir {}; echo \"bloodshot exited with $?\"; sleep 600",
        env!("CARGO_MANIFEST_DIR"),
        home.path().display(),
        env!("CARGO_BIN_EXE_bloodshot"),
        runs.display()
    );
    let t = common::start("watch", &cmd);
    t.wait_for("Base (training)", 60);
    t.keys(&["4"]);
    t.wait_for("elsewhere", 30);
    t.keys(&["f"]);
    let first = t.wait_for("watching: trained by another process", 30);
    let (e0, s0) = position(&first)
        .or_else(|| {
            std::thread::sleep(Duration::from_secs(1));
            position(&t.capture())
        })
        .unwrap_or((1, 0));
    // Live: the dashboard moves on by at least one epoch while the other process trains.
    let start = Instant::now();
    loop {
        let screen = t.capture();
        if let Some((e, s)) = position(&screen)
            && (e, s) > (e0, s0)
            && e > e0
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the watched dashboard did not move past epoch {e0} step {s0}:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = trainer.wait().unwrap();
    assert!(status.success());
    let end = t.wait_for("finished", 60);
    assert!(end.contains("watching"), "{end}");
    // The Runs tab shows, without F5, a run another process starts while it is shown, and
    // follows it to its end (it was read once, at start, and on F5).
    t.keys(&["4"]);
    t.wait_for("elsewhere", 30);
    let mut later = train(home.path(), &runs, "later-run", "aam", "1", "4");
    t.wait_for("later-run", 60);
    assert!(later.wait().unwrap().success());
    let start = Instant::now();
    loop {
        let screen = t.capture();
        let row = screen.lines().find(|l| l.contains("later-run"));
        if row.is_some_and(|l| l.contains("1/1") && l.contains("finished")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the Runs tab did not show later-run finished:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Quitting the console does not ask about the run (it trains elsewhere).
    t.keys(&["q"]);
    t.wait_for("bloodshot exited with 0", 30);
}
