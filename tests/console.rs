//! The real binary in tmux on the sample data: open the console, start a 1-epoch run and see
//! the step counter advance, draw k-shot sets, check that the K-shot grid shows what
//! `bloodshot kshot` computes for the same run and bank, export, quit; the terminal is
//! restored and the markdown file exists. Skipped (with a message) where tmux is not
//! installed.

use std::path::Path;

mod common;

fn step_of(screen: &str) -> Option<usize> {
    let i = screen.find(" step ")?;
    let rest = &screen[i + 6..];
    rest.split('/').next()?.trim().parse().ok()
}

/// The K-shot tab's "Classifiers × modes" grid: per normalisation (as named on screen,
/// without the transductive `*`), the accuracy shown for each classifier, left to right.
fn grid_of(screen: &str) -> Vec<(String, Vec<String>)> {
    const MODES: [&str; 4] = ["none", "centre-support", "centre-target", "cl2n"];
    let mut rows = Vec::new();
    for line in screen.lines() {
        let Some(cell) = line.split('│').nth(1) else {
            continue;
        };
        let mut words = cell.split_whitespace();
        let Some(mode) = words.next().map(|w| w.trim_end_matches('*')) else {
            continue;
        };
        let values: Vec<String> = words.map(str::to_string).collect();
        if MODES.contains(&mode)
            && values.len() == 3
            && values.iter().all(|v| v.parse::<f64>().is_ok())
        {
            rows.push((mode.to_string(), values));
        }
    }
    rows
}

#[test]
fn console_trains_draws_exports_and_quits_cleanly() {
    if !common::tmux_available() {
        eprintln!("skipping the console end-to-end test: tmux is not installed");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let cmd = format!(
        "cd {} && BLOODSHOT_HOME={} {}; echo \"bloodshot exited with $?\"; sleep 600",
        env!("CARGO_MANIFEST_DIR"),
        home.path().display(),
        env!("CARGO_BIN_EXE_bloodshot")
    );
    let t = common::start("test", &cmd);

    t.wait_for("Base (training)", 60);
    t.wait_for("usable images", 60);

    // Train tab: one epoch with the sample-friendly form, then start.
    t.keys(&["2", "Down", "Left", "s"]);
    let first = step_of(&t.wait_for(" step 1/", 120)).unwrap_or(0);
    let later = t.wait_for(" step 3/", 120);
    assert!(
        step_of(&later).unwrap_or(0) > first,
        "the step counter advances"
    );
    t.wait_for("finished: 1 epoch", 300);

    // K-shot tab: embed, draw two support sets, then the rest of the bank.
    t.keys(&["3", "p"]);
    t.wait_for("ready: bank of", 120);
    t.keys(&["r"]);
    t.wait_for("draw 1: accuracy", 30);
    t.keys(&["r"]);
    t.wait_for("draw 2: accuracy", 30);
    t.keys(&["a"]);
    t.wait_for("All 50 draws", 60);
    // Every cell of the grid is drawn on the same bank; wait until all twelve are shown.
    let start = std::time::Instant::now();
    let grid = loop {
        let grid = grid_of(&t.capture());
        if grid.len() == 4 || start.elapsed().as_secs() > 60 {
            break grid;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(grid.len(), 4, "the grid's four rows:\n{}", t.capture());

    // The CLI on the same run, same bank (k 10, 50 draws, seed 0): the same numbers, per
    // normalisation and classifier.
    let run = std::fs::read_dir(home.path().join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("config.json").is_file())
        .expect("the console's run");
    let out = common::bloodshot_in(
        home.path(),
        &[
            "kshot",
            "--run",
            run.to_str().unwrap(),
            "--k",
            "10",
            "--draws",
            "50",
            "--seed",
            "0",
            "--normalize",
            "none,centre-support,centre-target,cl2n",
            "--method",
            "prototype,logistic,soft-kmeans",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), 12);
    for (mode, shown) in &grid {
        for (method, shown) in ["prototype", "logistic", "soft-kmeans"].iter().zip(shown) {
            let r = results
                .iter()
                .find(|r| r["options"]["normalize"] == *mode && r["options"]["method"] == *method)
                .unwrap_or_else(|| panic!("no CLI result for {method} · {mode}"));
            let mean = r["summary"]["accuracy"]["mean"].as_f64().unwrap();
            assert_eq!(
                &format!("{mean:.3}"),
                shown,
                "{method} · {mode}: CLI {mean}, console {shown}"
            );
        }
    }

    // Runs tab: export the selected run.
    t.keys(&["4"]);
    t.wait_for("finished", 30);
    t.keys(&["e"]);
    t.wait_for("exported", 30);

    t.keys(&["q"]);
    let screen = t.wait_for("bloodshot exited with 0", 30);
    assert!(
        !screen.contains("Base (training)"),
        "the alternate screen is gone:\n{screen}"
    );

    let runs: Vec<_> = std::fs::read_dir(home.path().join("runs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1);
    let report = runs[0].path().join("report.md");
    let md =
        std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{}: {e}", report.display()));
    assert!(
        md.contains("## K-shot evaluation") && md.contains("50 draws"),
        "{md}"
    );
    assert!(Path::new(&runs[0].path().join("checkpoints/epoch-001/model.bpk")).is_file());
}
