//! The binary end to end on the bundled sample data, with tiny settings:
//! `stats`, `train --epochs 1`, `kshot`, `export`, and clear errors for bad input.

use std::path::Path;
use std::process::{Command, Output};

fn bloodshot(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bloodshot"))
        .args(args)
        .env("BLOODSHOT_HOME", home)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run bloodshot")
}

/// A run folder's `config.json`.
fn run_config(run_dir: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(Path::new(run_dir).join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ok(o: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "failed: {stderr}");
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn err(o: &Output) -> String {
    assert!(!o.status.success(), "should have failed");
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!e.contains("panicked"), "panic instead of a message: {e}");
    e
}

#[test]
fn stats_train_kshot_export_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    let stats = ok(&bloodshot(h, &["stats", "--json"]));
    assert_eq!(stats["base"]["layout"], "aml");
    assert_eq!(stats["target"]["layout"], "cnmc");
    let kept = stats["base"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kept"] == true)
        .count();
    assert_eq!(kept, 10);
    assert_eq!(
        stats["target"]["duplicate_groups"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let train = ok(&bloodshot(
        h,
        &[
            "train",
            "--objective",
            "aam",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--image-size",
            "32",
            "--limit-per-class",
            "4",
            "--scale",
            "16",
            "--json",
        ],
    ));
    assert_eq!(train["last_epoch"], 1);
    let run_dir = train["run_dir"].as_str().unwrap().to_string();
    assert!(Path::new(&run_dir).starts_with(h.join("runs")));

    let k = ok(&bloodshot(
        h,
        &[
            "kshot", "--run", "latest", "--k", "3", "--draws", "7", "--json",
        ],
    ));
    assert_eq!(k["protocol"], "heldout-test");
    assert_eq!(k["summary"]["draws"], 7);
    assert_eq!(k["queries"], 40);
    let acc = k["summary"]["accuracy"]["mean"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    // Confusion matrix summed over 7 draws of 40 queries.
    let counts: u64 = k["summary"]["confusion"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 7 * 40);

    // Second evaluation reads the embedding cache and gives the same numbers.
    let k2 = ok(&bloodshot(
        h,
        &[
            "kshot", "--run", &run_dir, "--k", "3", "--draws", "7", "--json",
        ],
    ));
    assert_eq!(k["summary"], k2["summary"]);

    let sweep = ok(&bloodshot(
        h,
        &[
            "kshot",
            "--sweep",
            "1,2,3",
            "--k",
            "2",
            "--draws",
            "4",
            "--protocol",
            "pool",
            "--by-subject",
            "--json",
        ],
    ));
    assert_eq!(sweep["sweep"].as_array().unwrap().len(), 3);
    assert_eq!(sweep["protocol"], "pool");
    // Pool protocol: the queries are the pool itself (minus each draw's support).
    assert_eq!(sweep["queries"], sweep["support_pool"]);

    // Normalisation: saved with the result, in its file name, and the same numbers in the
    // export.
    let n = ok(&bloodshot(
        h,
        &[
            "kshot",
            "--run",
            "latest",
            "--k",
            "3",
            "--draws",
            "7",
            "--normalize",
            "cl2n",
            "--json",
        ],
    ));
    assert_eq!(n["options"]["normalize"], "cl2n");
    assert!(
        n["collapse"]["mean_pairwise_cosine"].as_f64().is_some(),
        "{n}"
    );
    let cl2n_acc = (
        n["summary"]["accuracy"]["mean"].as_f64().unwrap(),
        n["summary"]["accuracy"]["std"].as_f64().unwrap(),
    );
    assert!(
        Path::new(&run_dir)
            .join("kshot/e001-heldout-test-k3-d7-s0-cl2n.json")
            .is_file()
    );
    // Several normalisations on the same draws: one result each, compared to the first with
    // the engine's paired difference (the numbers the console's K-shot tab shows).
    let m = ok(&bloodshot(
        h,
        &[
            "kshot",
            "--run",
            "latest",
            "--k",
            "3",
            "--draws",
            "7",
            "--normalize",
            "none,cl2n,none",
            "--json",
        ],
    ));
    let results = m["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "a repeated normalisation is scored once");
    assert_eq!(
        results[0]["summary"], k["summary"],
        "none: the same numbers"
    );
    assert_eq!(
        results[1]["summary"], n["summary"],
        "cl2n: the same numbers"
    );
    let summaries: Vec<bloodshot::fewshot::metrics::KShotSummary> = results
        .iter()
        .map(|r| serde_json::from_value(r["summary"].clone()).unwrap())
        .collect();
    let engine =
        bloodshot::fewshot::paired::to_first(&summaries.iter().map(Some).collect::<Vec<_>>());
    assert!(m["paired_to_first"][0].is_null(), "{m}");
    let d = engine[1].expect("cl2n against none");
    assert_eq!(m["paired_to_first"][1]["mean"].as_f64(), Some(d.mean));
    assert_eq!(m["paired_to_first"][1]["low"].as_f64(), Some(d.low));
    // By hand: the mean of the 7 per-draw differences.
    let (none, cl2n) = (&summaries[0].draw_accuracies, &summaries[1].draw_accuracies);
    let hand = cl2n.iter().zip(none).map(|(a, b)| a - b).sum::<f64>() / 7.0;
    assert!((d.mean - hand).abs() < 1e-12, "{} vs {hand}", d.mean);
    assert!(d.low <= d.mean && d.mean <= d.high);
    let o = bloodshot(
        h,
        &[
            "kshot",
            "--run",
            "latest",
            "--k",
            "3",
            "--draws",
            "7",
            "--normalize",
            "none,cl2n",
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let line = format!("Δ {:+.3} [{:+.3}, {:+.3}]", d.mean, d.low, d.high);
    assert!(text.contains(&line), "{line} in:\n{text}");

    // Classifiers × normalisations on the same draws: one result per cell, in the order
    // given (methods outer), the prototype · none cell the same numbers as before.
    let g = ok(&bloodshot(
        h,
        &[
            "kshot",
            "--run",
            "latest",
            "--k",
            "3",
            "--draws",
            "7",
            "--method",
            "prototype,logistic,soft-kmeans",
            "--normalize",
            "none,cl2n",
            "--logistic-c",
            "0.5",
            "--json",
        ],
    ));
    let cells = g["results"].as_array().unwrap();
    let names: Vec<String> = cells
        .iter()
        .map(|r| format!("{} {}", r["options"]["method"], r["options"]["normalize"]))
        .collect();
    assert_eq!(
        names,
        [
            "\"prototype\" \"none\"",
            "\"prototype\" \"cl2n\"",
            "\"logistic\" \"none\"",
            "\"logistic\" \"cl2n\"",
            "\"soft-kmeans\" \"none\"",
            "\"soft-kmeans\" \"cl2n\""
        ]
    );
    assert_eq!(cells[0]["summary"], k["summary"], "prototype · none");
    assert_eq!(cells[1]["summary"], n["summary"], "prototype · cl2n");
    assert_eq!(cells[2]["options"]["logistic_c"].as_f64(), Some(0.5));
    for (i, cell) in cells.iter().enumerate() {
        assert_eq!(cell["summary"]["draws"].as_u64(), Some(7), "cell {i}");
        let acc = cell["summary"]["accuracy"]["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "cell {i}: {acc}");
        assert_eq!(g["paired_to_first"][i].is_null(), i == 0, "{g}");
    }
    for file in [
        "e001-heldout-test-k3-d7-s0-logistic-c0.5.json",
        "e001-heldout-test-k3-d7-s0-cl2n-logistic-c0.5.json",
        "e001-heldout-test-k3-d7-s0-soft-kmeans.json",
        "e001-heldout-test-k3-d7-s0-cl2n-soft-kmeans.json",
    ] {
        assert!(
            Path::new(&run_dir).join("kshot").join(file).is_file(),
            "{file}"
        );
    }
    for (args, words) in [
        (
            &["kshot", "--method", "knn"][..],
            &["`knn`", "logistic"][..],
        ),
        (
            &["kshot", "--logistic-c", "0"],
            &["--logistic-c 0", "positive"],
        ),
    ] {
        let o = bloodshot(h, args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && words.iter().all(|w| e.contains(w)),
            "{args:?}: {e}"
        );
    }

    // Test-time augmentation: a second embedding (8 views per image, cached apart), the
    // same draws, its results named and compared to the plain first cell.
    let cached_embeddings = || {
        std::fs::read_dir(Path::new(&run_dir).join("embeddings"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "f32")
            })
            .count()
    };
    let cached_before = cached_embeddings();
    let t = ok(&bloodshot(
        h,
        &[
            "kshot",
            "--run",
            "latest",
            "--k",
            "3",
            "--draws",
            "7",
            "--tta",
            "none,dihedral",
            "--json",
        ],
    ));
    let tta_cells = t["results"].as_array().unwrap();
    assert_eq!(tta_cells.len(), 2);
    assert_eq!(
        tta_cells[0]["summary"], k["summary"],
        "plain: the same numbers"
    );
    assert_eq!(tta_cells[1]["options"]["tta"], "dihedral");
    assert_eq!(tta_cells[1]["summary"]["draws"].as_u64(), Some(7));
    assert!(t["paired_to_first"][1]["mean"].as_f64().is_some(), "{t}");
    assert!(
        Path::new(&run_dir)
            .join("kshot/e001-heldout-test-k3-d7-s0-tta-dihedral.json")
            .is_file()
    );
    assert_eq!(
        cached_embeddings(),
        cached_before + 1,
        "plain and dihedral embeddings are cached apart"
    );
    let o = bloodshot(
        h,
        &[
            "kshot", "--run", "latest", "--k", "3", "--draws", "7", "--tta", "dihedral",
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("classifier prototype"), "{text}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("test-time augmentation dihedral: 8 views per image")
            || text.contains("8 views"),
        "the cost is said before embedding:\n{e}\n{text}"
    );

    let o = bloodshot(h, &["kshot", "--normalize", "l2"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("`l2`") && e.contains("cl2n"),
        "{e}"
    );

    let out = h.join("report.md");
    let o = bloodshot(
        h,
        &["export", "--run", "latest", "--out", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "# BloodShot run",
        "## Configuration",
        "| 1 |",
        "## K-shot evaluation",
        "Accuracy vs k",
        "| true \\ predicted |",
        "normalisation none (epoch 1)",
        "normalisation cl2n (transductive) (epoch 1)",
        "normalisation cl2n (transductive), classifier logistic (C = 0.5) (epoch 1)",
        "Classifier `soft-kmeans`: prototypes refined",
        "### Classifiers × normalisations on the same 7 draws (k = 3, epoch 1)",
        "| soft-kmeans* · cl2n* |",
    ] {
        assert!(md.contains(needle), "report lacks {needle}:\n{md}");
    }
    // The grid's Δ are the engine's paired differences, as `kshot --json` gave them.
    let d = &g["paired_to_first"][3];
    let row = format!(
        "| logistic · cl2n* | {:.3} ± {:.3} |",
        cells[3]["summary"]["accuracy"]["mean"].as_f64().unwrap(),
        cells[3]["summary"]["accuracy"]["std"].as_f64().unwrap()
    );
    let delta = format!(
        "{:+.3} [{:+.3}, {:+.3}]",
        d["mean"].as_f64().unwrap(),
        d["low"].as_f64().unwrap(),
        d["high"].as_f64().unwrap()
    );
    let line = md.lines().find(|l| l.starts_with(&row)).unwrap_or_default();
    assert!(line.contains(&delta), "{row} … {delta} in:\n{md}");
    // A checkpoint cut short: one sentence naming the file.
    let model = Path::new(&run_dir).join("checkpoints/epoch-001/model.bpk");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 3]).unwrap();
    let e = err(&bloodshot(
        h,
        &["kshot", "--run", &run_dir, "--k", "3", "--draws", "2"],
    ));
    assert!(
        e.contains("checkpoint ") && e.contains("epoch-001/model.bpk is truncated"),
        "{e}"
    );
    std::fs::write(&model, &bytes).unwrap();

    let cl2n_block = md
        .split("normalisation cl2n (transductive) (epoch 1)")
        .nth(1)
        .unwrap();
    let shown = format!("accuracy **{:.3} ± {:.3}**", cl2n_acc.0, cl2n_acc.1);
    assert!(cl2n_block.contains(&shown), "export lacks {shown}:\n{md}");

    // A new run whose embedder starts from this one's last checkpoint (a fresh head): the
    // config and the report say where it started.
    let e = err(&bloodshot(
        h,
        &["train", "--init", "no-such-run", "--epochs", "1"],
    ));
    assert!(
        e.contains("--init no-such-run: no such weights file, and run `no-such-run` not found"),
        "{e}"
    );
    let second = ok(&bloodshot(
        h,
        &[
            "train",
            "--init",
            &run_dir,
            "--objective",
            "softmax",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--image-size",
            "32",
            "--limit-per-class",
            "4",
            "--json",
        ],
    ));
    let second_dir = second["run_dir"].as_str().unwrap().to_string();
    let config = run_config(&second_dir);
    let from = std::fs::canonicalize(&run_dir).unwrap();
    assert_eq!(config["config"]["init"].as_str(), from.to_str(), "{config}");
    let o = bloodshot(h, &["export", "--run", &second_dir]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(Path::new(&second_dir).join("report.md")).unwrap();
    let row = format!(
        "| embedder initialised from | `{}` (fresh head for the base classes) |",
        from.display()
    );
    assert!(md.contains(&row), "{row} in\n{md}");

    // Every run as tidy CSV, read back and checked against the run files.
    let csv_dir = h.join("csv");
    let o = bloodshot(h, &["export", "--csv", csv_dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = |name: &str| -> Vec<std::collections::HashMap<String, String>> {
        let text = std::fs::read_to_string(csv_dir.join(name)).unwrap();
        assert!(!text.contains('"'), "no field here needs quoting: {name}");
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
        lines
            .map(|l| {
                let fields: Vec<&str> = l.split(',').collect();
                assert_eq!(fields.len(), header.len(), "{name}: {l}");
                header
                    .iter()
                    .cloned()
                    .zip(fields.into_iter().map(String::from))
                    .collect()
            })
            .collect()
    };
    let first_id = Path::new(&run_dir)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let second_id = second["run_id"].as_str().unwrap().to_string();
    let runs_csv = table("runs.csv");
    assert_eq!(runs_csv.len(), 2);
    let first_row = runs_csv.iter().find(|r| r["run_id"] == first_id).unwrap();
    assert_eq!(first_row["objective"], "aam");
    assert_eq!(first_row["state"], "finished");
    let second_row = runs_csv.iter().find(|r| r["run_id"] == second_id).unwrap();
    assert_eq!(second_row["init"], from.display().to_string());
    let run = bloodshot::runs::RunDir::open(Path::new(&run_dir)).unwrap();
    let (records, _) = run.metrics();
    let epochs: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            bloodshot::runs::MetricRecord::Epoch(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let epochs_csv = table("epochs.csv");
    let e1 = epochs_csv.iter().find(|r| r["run_id"] == first_id).unwrap();
    assert_eq!(e1["val_accuracy"], epochs[0].val_accuracy.to_string());
    assert_eq!(e1["train_loss"], epochs[0].train_loss.to_string());
    let steps = records
        .iter()
        .filter(|r| matches!(r, bloodshot::runs::MetricRecord::Step { .. }))
        .count();
    let steps_csv = table("steps.csv");
    assert_eq!(
        steps_csv.iter().filter(|r| r["run_id"] == first_id).count(),
        steps
    );
    let system = bloodshot::train::system::read_history(&run.system_path());
    assert!(!system.is_empty());
    let system_csv = table("system.csv");
    let mine: Vec<_> = system_csv
        .iter()
        .filter(|r| r["run_id"] == first_id)
        .collect();
    assert_eq!(mine.len(), system.len());
    assert_eq!(mine[0]["rss_mb"], system[0].rss_mb.to_string());
    // draws.csv: one row per draw of every saved result (a sweep's points too).
    let draws_csv = table("draws.csv");
    let expected: usize = bloodshot::fewshot::evaluate::KShotResult::load_all(&run)
        .iter()
        .map(|r| match r.sweep.is_empty() {
            true => r.summary.as_ref().map_or(0, |s| s.draw_accuracies.len()),
            false => r
                .sweep
                .iter()
                .map(|p| p.summary.draw_accuracies.len())
                .sum(),
        })
        .sum();
    assert_eq!(
        draws_csv.iter().filter(|r| r["run_id"] == first_id).count(),
        expected
    );
    // The first `kshot` (k = 3, 7 draws, prototype · none, plain), draw by draw.
    let rows: Vec<_> = draws_csv
        .iter()
        .filter(|r| {
            r["run_id"] == first_id
                && r["k"] == "3"
                && r["bank_draws"] == "7"
                && r["normalize"] == "none"
                && r["method"] == "prototype"
                && r["tta"] == "none"
        })
        .collect();
    assert_eq!(rows.len(), 7);
    let summary: bloodshot::fewshot::metrics::KShotSummary =
        serde_json::from_value(k["summary"].clone()).unwrap();
    for (d, row) in rows.iter().enumerate() {
        assert_eq!(row["draw"], d.to_string());
        assert_eq!(row["accuracy"], summary.draw_accuracies[d].to_string());
        assert_eq!(row["macro_f1"], summary.draw_macro_f1[d].to_string());
        assert_eq!(row["f1_hem"], summary.draw_class_f1[d][1].to_string());
    }
}

#[test]
fn bad_input_gives_one_clear_message_and_exit_1() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let e = err(&bloodshot(h, &["train", "--lr", "-1", "--epochs", "1"]));
    assert!(e.contains("learning rate -1"), "{e}");
    let e = err(&bloodshot(h, &["train", "--lr", "NaN", "--epochs", "1"]));
    assert!(e.contains("NaN"), "{e}");
    let e = err(&bloodshot(h, &["stats", "--base", "/no/such/dir"]));
    assert!(e.contains("/no/such/dir"), "{e}");
    let e = err(&bloodshot(h, &["kshot", "--run", "latest"]));
    assert!(e.contains("no runs"), "{e}");
    let e = err(&bloodshot(h, &["kshot", "--run", "nope-123"]));
    assert!(e.contains("nope-123"), "{e}");
    let e = err(&bloodshot(
        h,
        &["train", "--device", "cuda", "--epochs", "1"],
    ));
    assert!(e.contains("cuda") && e.contains("--device cpu"), "{e}");
}

#[test]
fn stats_table_stays_aligned_with_long_class_names() {
    let home = tempfile::tempdir().unwrap();
    let base = home.path().join("base");
    for (class, n) in [("eosinophil", 3), ("erythroblast", 2), ("LYT", 4)] {
        let dir = base.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            image::RgbImage::from_pixel(8, 8, image::Rgb([200, 100, 50 + i as u8]))
                .save(dir.join(format!("{class}_{i}.png")))
                .unwrap();
        }
    }
    let o = bloodshot(
        home.path(),
        &[
            "stats",
            "--base",
            base.to_str().unwrap(),
            "--min-class-size",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out
        .lines()
        .skip_while(|l| !(l.contains("images") && l.contains("share")))
        .take(4)
        .collect();
    // The image counts end where the header's "images" ends.
    let end = lines[0].find("images").unwrap() + "images".len();
    for line in &lines[1..] {
        let count = [("eosinophil", "3"), ("erythroblast", "2"), ("LYT", "4")]
            .iter()
            .find(|(c, _)| line.trim_start().starts_with(&format!("{c} ")))
            .map(|(_, n)| *n)
            .unwrap_or_else(|| panic!("unexpected row `{line}`"));
        assert_eq!(
            &line[end - 1..end],
            count,
            "misaligned row `{line}` under `{}`",
            lines[0]
        );
    }
}

/// The visible commands, as `--help` lists them (hand-written: a new command must be added
/// here and so gets a completion and a page checked).
const COMMANDS: [&str; 12] = [
    "stats",
    "train",
    "kshot",
    "export",
    "import",
    "export-weights",
    "sweep",
    "devices",
    "sample-data",
    "tui",
    "completions",
    "man",
];

#[test]
fn completions_and_man_pages_cover_every_command() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let text = |o: Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("UTF-8")
    };
    let bash = text(bloodshot(h, &["completions", "bash"]));
    assert!(bash.contains("_bloodshot()"), "a bash function");
    assert!(
        bash.contains("complete -F _bloodshot"),
        "registered for bloodshot"
    );
    let fish = text(bloodshot(h, &["completions", "fish"]));
    for c in COMMANDS {
        let case = format!("bloodshot__subcmd__{}", c.replace('-', "__subcmd__"));
        assert!(bash.contains(&case), "bash completes {c}");
        let offer = format!("\"__fish_bloodshot_needs_command\" -f -a \"{c}\"");
        assert!(fish.contains(&offer), "fish offers {c}");
    }
    // `train --objective` offers its three values.
    let objective = fish
        .lines()
        .find(|l| {
            l.contains("__fish_bloodshot_using_subcommand train") && l.contains("-l objective")
        })
        .expect("a fish line for train --objective");
    for value in ["softmax", "aam", "aam-consistency"] {
        assert!(objective.contains(value), "{value}: {objective}");
    }
    for shell in ["zsh", "elvish", "powershell"] {
        assert!(text(bloodshot(h, &["completions", shell])).contains("bloodshot"));
    }
    let o = bloodshot(h, &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "clap rejects an unknown shell");
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid value 'tcsh'"));

    let page = text(bloodshot(h, &["man"]));
    assert!(page.contains(".TH bloodshot 1"), "{page}");
    for c in COMMANDS {
        assert!(
            page.contains(&format!("bloodshot\\-{}", c.replace('-', "\\-"))),
            "{c}"
        );
    }
    let dir = h.join("man");
    let o = bloodshot(h, &["man", "--dir", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("bloodshot-{c}.1"))
        .collect();
    expected.push("bloodshot.1".into());
    expected.sort();
    assert_eq!(pages, expected);
    let train = std::fs::read_to_string(dir.join("bloodshot-train.1")).unwrap();
    assert!(train.contains(".TH bloodshot-train 1"), "{train}");
    assert!(
        train.contains(env!("CARGO_PKG_VERSION")),
        "the version is on every page"
    );
    assert!(
        train.contains("\\-\\-device"),
        "train's page documents --device"
    );
}

/// A run started with a relative `--base` records the folder absolute, so it resumes from
/// any folder (before, `train --resume` elsewhere failed: "base dataset folder
/// sample-data/aml does not exist"); its k-shot results record their target absolute, and a
/// result drawn from another support part is saved beside the first (it overwrote it).
#[test]
fn relative_folders_are_recorded_absolute_and_support_parts_saved_apart() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let first = ok(&bloodshot(
        h,
        &[
            "train",
            "--base",
            "sample-data/aml",
            "--epochs",
            "1",
            "--objective",
            "softmax",
            "--batch-size",
            "8",
            "--image-size",
            "32",
            "--limit-per-class",
            "4",
            "--bn-recalibration",
            "0",
            "--json",
        ],
    ));
    let run_dir = first["run_dir"].as_str().unwrap().to_string();
    let config = run_config(&run_dir);
    let expected =
        std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/aml"))
            .unwrap();
    assert_eq!(
        config["config"]["base"].as_str().map(Path::new),
        Some(expected.as_path()),
        "{config}"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_bloodshot"))
        .args(["train", "--resume", "latest", "--epochs", "2", "--json"])
        .env("BLOODSHOT_HOME", h)
        .current_dir(elsewhere.path())
        .output()
        .expect("run bloodshot");
    let resumed = ok(&o);
    assert_eq!(resumed["last_epoch"], 2);
    assert_eq!(resumed["run_dir"].as_str(), Some(run_dir.as_str()));

    // The k-shot target too, so a result compares with one made from another folder (the
    // console looks results up by its canonical target).
    ok(&bloodshot(
        h,
        &[
            "kshot",
            "--target",
            "sample-data/cnmc",
            "--k",
            "1",
            "--draws",
            "2",
            "--json",
        ],
    ));
    let results: Vec<serde_json::Value> = std::fs::read_dir(Path::new(&run_dir).join("kshot"))
        .unwrap()
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap()
        })
        .collect();
    let target =
        std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/cnmc"))
            .unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0]["target"].as_str().map(Path::new),
        Some(target.as_path()),
        "{}",
        results[0]
    );

    // Support drawn from another part is another result, beside the first, never over it.
    let kshot_dir = Path::new(&run_dir).join("kshot");
    let first = std::fs::read(kshot_dir.join("e002-heldout-test-k1-d2-s0.json")).unwrap();
    ok(&bloodshot(
        h,
        &[
            "kshot",
            "--support-part",
            "fold_1",
            "--k",
            "1",
            "--draws",
            "2",
            "--json",
        ],
    ));
    let mut names: Vec<String> = std::fs::read_dir(&kshot_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "e002-heldout-test-k1-d2-s0.json",
            "e002-heldout-test-support-fold_1-k1-d2-s0.json"
        ]
    );
    assert_eq!(
        std::fs::read(kshot_dir.join("e002-heldout-test-k1-d2-s0.json")).unwrap(),
        first
    );
    let report = h.join("report.md");
    let o = bloodshot(h, &["export", "--out", report.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(
        md.contains("### k = 1, 2 draws, seed 0, protocol heldout-test (support fold_1), normalisation none (epoch 2)"),
        "{md}"
    );
}
