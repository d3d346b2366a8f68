//! A 2 objectives × 2 seeds sweep on the sample data from the console (in tmux): created on
//! the Sweeps tab from the forms, cancelled mid-way (trainings save their state), resumed with
//! `s`, finished with Table 1 written. Skipped (with a message) where tmux is not installed.

use std::time::{Duration, Instant};

use bloodshot::sweep::status::statuses;
use bloodshot::sweep::{JobState, Sweep};

mod common;

#[test]
fn the_console_runs_cancels_and_resumes_a_sweep() {
    if !common::tmux_available() {
        eprintln!("skipping the console sweep test: tmux is not installed");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let cmd = format!(
        "cd {} && BLOODSHOT_HOME={} {} --runs-dir {}; echo \"bloodshot exited with $?\"; sleep 600",
        env!("CARGO_MANIFEST_DIR"),
        home.path().display(),
        env!("CARGO_BIN_EXE_bloodshot"),
        runs.display()
    );
    let t = common::start("sweep", &cmd);
    t.wait_for("Base (training)", 60);
    // Train form (sample-friendly): 1 epoch. K-shot form: 10 draws.
    t.keys(&["2", "Down", "Left"]);
    t.keys(&["3", "Down", "Down", "Down", "Left"]);
    // Sweeps tab: objectives softmax,aam; seeds 0..1 (default); go.
    t.keys(&["5", "Right"]);
    t.wait_for("softmax,aam", 10);
    t.keys(&["n"]);
    t.wait_for("job 1 started on cpu", 60);
    // Cancel once the first job is done and another has started.
    let start = Instant::now();
    let sweep = loop {
        if let Some(s) = Sweep::list(&runs).pop() {
            let st = statuses(&runs, &s);
            if st[0].state == JobState::Done && st[1].state == JobState::Training {
                break s;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the sweep did not get to its second job:\n{}",
            t.capture()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    t.keys(&["x"]);
    t.wait_for("stopped (s resumes)", 120);
    let mid = statuses(&runs, &sweep);
    assert!(
        mid.iter().filter(|s| s.state == JobState::Done).count() < 4,
        "{mid:?}"
    );
    t.keys(&["s"]);
    t.wait_for("4 of 4 jobs done, 0 failed", 600);
    for s in statuses(&runs, &sweep) {
        assert_eq!(s.state, JobState::Done, "{s:?}");
    }
    let table = std::fs::read_to_string(sweep.dir(&runs).join("table1.md")).unwrap();
    assert!(
        table.contains("| softmax | 2 | ") && table.contains(" ± "),
        "{table}"
    );
    assert!(table.contains("[95 % CI]"), "{table}");
    // The Runs tab shows the same Table 1.
    t.keys(&["4"]);
    t.wait_for("Table 1", 30);
    t.keys(&["q"]);
    t.wait_for("bloodshot exited with 0", 30);
}
