//! The bad-input corpus (see tests/corpus/README.md), through the engine and the CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bloodshot::data::decode::{load_rgb, probe};
use bloodshot::data::{ScanOptions, scan};

fn cli(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bloodshot"))
        .args(args)
        .env("BLOODSHOT_HOME", home)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!e.contains("panicked"), "panic: {e}");
    e
}

fn good_png(path: &Path, w: u32, h: u32) {
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]))
        .save(path)
        .unwrap();
}

/// A BMP header (54 bytes) claiming `w`×`h` at 24 bpp, followed by `pixels` bytes.
fn bmp_claiming(w: i32, h: i32, pixels: usize) -> Vec<u8> {
    let row = ((w as usize * 24).div_ceil(32)) * 4;
    let size = 54 + row * h.unsigned_abs() as usize;
    let mut v = b"BM".to_vec();
    v.extend((size as u32).to_le_bytes());
    v.extend([0u8; 4]);
    v.extend(54u32.to_le_bytes());
    v.extend(40u32.to_le_bytes());
    v.extend(w.to_le_bytes());
    v.extend(h.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(24u16.to_le_bytes());
    v.extend([0u8; 24]);
    v.extend(vec![128u8; pixels]);
    v
}

/// Builds the corpus: a class-folder dataset with one good class and every bad case.
fn corpus(root: &Path) -> PathBuf {
    let ds = root.join("base");
    let good = ds.join("GOOD");
    let bad = ds.join("BAD");
    let odd = ds.join("ODD");
    for d in [&good, &bad, &odd, &ds.join("EMPTY")] {
        std::fs::create_dir_all(d).unwrap();
    }
    for i in 0..4 {
        good_png(&good.join(format!("g{i}.png")), 20, 20);
    }
    std::fs::write(bad.join("zero.bmp"), b"").unwrap();
    std::fs::write(bad.join("text.bmp"), b"hello, I am not a picture\n").unwrap();
    let full = bmp_claiming(30, 30, 30 * 92);
    std::fs::write(bad.join("truncated.bmp"), &full[..full.len() / 2]).unwrap();
    std::fs::write(bad.join("huge.bmp"), bmp_claiming(10_000, 10_000, 64)).unwrap();
    std::fs::write(bad.join("giant.bmp"), bmp_claiming(20_000, 20_000, 64)).unwrap();
    // A TIFF cut short (its directory is at the end, so the header probe already fails).
    let tiff_path = bad.join("truncated.tiff");
    image::RgbImage::from_pixel(32, 32, image::Rgb([1, 2, 3]))
        .save(&tiff_path)
        .unwrap();
    let t = std::fs::read(&tiff_path).unwrap();
    std::fs::write(&tiff_path, &t[..t.len() / 3]).unwrap();
    // A PNG cut inside its pixel data: the header probes fine, decoding fails later.
    let png_path = odd.join("cut.png");
    image::RgbImage::from_fn(64, 64, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 3) as u8, (x ^ y) as u8])
    })
    .save(&png_path)
    .unwrap();
    let p = std::fs::read(&png_path).unwrap();
    std::fs::write(&png_path, &p[..p.len() / 2]).unwrap();
    // Unusual but valid: 1×1, RGBA, grayscale, 16-bit.
    good_png(&odd.join("one.png"), 1, 1);
    image::RgbaImage::from_pixel(9, 9, image::Rgba([10, 200, 30, 0]))
        .save(odd.join("rgba.png"))
        .unwrap();
    image::GrayImage::from_pixel(9, 9, image::Luma([77]))
        .save(odd.join("gray.png"))
        .unwrap();
    image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_pixel(
        9,
        9,
        image::Rgb([65535, 0, 32768]),
    )
    .save(odd.join("deep.png"))
    .unwrap();
    ds
}

#[test]
fn corrupt_files_are_skipped_counted_and_named_never_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let ds = corpus(dir.path());
    let scanned = scan(
        &ds,
        &ScanOptions {
            min_class_size: 1,
            limit_per_class: None,
        },
        &mut |_, _| {},
    )
    .unwrap();
    let reason = |name: &str| {
        scanned
            .skipped
            .iter()
            .find(|s| s.path.ends_with(name))
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{name} not skipped: {:?}", scanned.skipped))
    };
    assert!(reason("zero.bmp").contains("0 bytes"));
    assert!(reason("text.bmp").contains("not a recognised image"));
    assert!(reason("truncated.bmp").contains("truncated"));
    assert!(
        reason("huge.bmp").contains("truncated"),
        "header claims 10000×10000 with 64 bytes"
    );
    assert!(
        reason("giant.bmp").contains("20000x20000"),
        "{}",
        reason("giant.bmp")
    );
    assert!(
        reason("truncated.tiff").contains("tiff"),
        "{}",
        reason("truncated.tiff")
    );
    // The cut PNG passes the header probe; decoding it fails with a sentence.
    let cut = ds.join("ODD/cut.png");
    assert!(probe(&cut).is_ok());
    assert!(
        load_rgb(&cut, 16)
            .unwrap_err()
            .to_string()
            .starts_with("cannot decode: ")
    );
    // Classes: GOOD and ODD kept, BAD and EMPTY dropped (no readable image).
    let table: Vec<(String, usize, bool)> = scanned
        .class_table
        .iter()
        .map(|c| (c.name.clone(), c.count, c.kept))
        .collect();
    assert!(table.contains(&("EMPTY".into(), 0, false)), "{table:?}");
    assert!(table.contains(&("GOOD".into(), 4, true)));
    assert!(table.contains(&("ODD".into(), 5, true)));
    assert!(table.contains(&("BAD".into(), 0, false)));
    // Unusual formats decode to RGB of the asked size.
    for f in ["one.png", "rgba.png", "gray.png", "deep.png"] {
        let rgb = load_rgb(&ds.join("ODD").join(f), 8).unwrap();
        assert_eq!(rgb.len(), 8 * 8 * 3, "{f}");
    }
    assert_eq!(
        &load_rgb(&ds.join("ODD/gray.png"), 4).unwrap()[..3],
        &[77, 77, 77]
    );
    assert_eq!(
        &load_rgb(&ds.join("ODD/deep.png"), 4).unwrap()[..3],
        &[255, 0, 128]
    );
}

#[test]
fn training_on_the_corpus_warns_about_the_corrupt_tiff_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let ds = corpus(dir.path());
    let home = dir.path().join("home");
    let o = cli(
        &home,
        &[
            "train",
            "--base",
            ds.to_str().unwrap(),
            "--min-class-size",
            "1",
            "--epochs",
            "1",
            "--image-size",
            "32",
            "--batch-size",
            "2",
            "--objective",
            "softmax",
            "--no-cache",
        ],
    );
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("zero.bmp: empty file"), "{e}");
    assert!(e.contains("truncated.tiff: unreadable tiff header"), "{e}");
    assert!(
        e.contains("cut.png: cannot decode"),
        "the decode failure during training is named: {e}"
    );
    assert!(
        e.contains("class EMPTY not used: no readable images"),
        "{e}"
    );
}

#[test]
fn stats_names_every_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let ds = corpus(dir.path());
    let o = cli(
        dir.path(),
        &[
            "stats",
            "--base",
            ds.to_str().unwrap(),
            "--min-class-size",
            "1",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in [
        "zero.bmp",
        "text.bmp",
        "truncated.bmp",
        "huge.bmp",
        "giant.bmp",
        "truncated.tiff",
    ] {
        assert!(out.contains(name), "{name} missing from:\n{out}");
    }
    assert!(out.contains("skipped files: 6"), "{out}");
}

fn cnmc_with_csv(root: &Path, csv: &str) -> PathBuf {
    let t = root.join("cnmc");
    for (fold, class, subj) in [("fold_0", "all", "1"), ("fold_0", "hem", "H1")] {
        let d = t.join("C-NMC_training_data").join(fold).join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..3 {
            good_png(&d.join(format!("UID_{subj}_{i}_1_{class}.bmp")), 12, 12);
        }
    }
    let test = t.join("C-NMC_test_prelim_phase_data");
    std::fs::create_dir_all(&test).unwrap();
    for i in 1..=2 {
        good_png(&test.join(format!("{i}.bmp")), 12, 12);
    }
    std::fs::write(test.join("C-NMC_test_prelim_phase_data_labels.csv"), csv).unwrap();
    t
}

#[test]
fn broken_labels_csvs_are_named_and_the_test_set_is_left_out() {
    let cases = [
        (
            "Patient_ID,new_names\nUID_5_1_1_all.bmp,1.bmp\n",
            "header must have the columns",
        ),
        (
            "Patient_ID,new_names,labels\nUID_5_1_1_all.bmp,1.bmp,7\n",
            "label `7` is not 0 (hem) or 1 (all)",
        ),
        (
            "Patient_ID,new_names,labels\nUID_5_1_1_all.bmp,1.bmp,1\n",
            "has no label",
        ),
        (
            "Patient_ID,new_names,labels\nUID_5_1_1_all.bmp,1.bmp,1\nUID_5_2_1_all.bmp,2.bmp,0\nUID_H5_1_1_hem.bmp,9.bmp,0\n",
            "lists `9.bmp`, which is not in",
        ),
    ];
    for (csv, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let t = cnmc_with_csv(dir.path(), csv);
        let ds = scan(
            &t,
            &ScanOptions {
                min_class_size: 1,
                limit_per_class: None,
            },
            &mut |_, _| {},
        )
        .unwrap();
        let all: Vec<String> = ds
            .warnings
            .iter()
            .cloned()
            .chain(
                ds.skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.path.display(), s.reason)),
            )
            .collect();
        assert!(
            all.iter().any(|w| w.contains(needle)),
            "{needle} not in {all:?}"
        );
        assert!(
            all.iter()
                .any(|w| w.contains("labels.csv") || w.contains(".bmp")),
            "names the file: {all:?}"
        );
    }
    // BOM and CRLF are fine.
    let dir = tempfile::tempdir().unwrap();
    let t = cnmc_with_csv(
        dir.path(),
        "\u{feff}Patient_ID,new_names,labels\r\nUID_5_1_1_all.bmp,1.bmp,1\r\nUID_H5_1_1_hem.bmp,2.bmp,0\r\n",
    );
    let ds = scan(
        &t,
        &ScanOptions {
            min_class_size: 1,
            limit_per_class: None,
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert!(ds.warnings.is_empty(), "{:?}", ds.warnings);
    assert_eq!(ds.part_indices("test").len(), 2);
}

#[test]
fn bad_values_and_paths_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let file = h.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let runs_under_file = file.join("runs");
    // A target of class folders whose file names carry no subject id.
    let plain = h.join("plain-target");
    for class in ["x", "y"] {
        std::fs::create_dir_all(plain.join(class)).unwrap();
        for i in 0..3 {
            good_png(&plain.join(class).join(format!("{i}.png")), 8, 8);
        }
    }
    let no_subject = format!(
        "--by-subject: {} carries no subject id",
        plain.join("x").join("0.png").display()
    );
    let checks: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["train".into(), "--lr".into(), "-0.5".into()],
            "learning rate -0.5",
        ),
        (vec!["train".into(), "--lr".into(), "nan".into()], "NaN"),
        (
            vec!["train".into(), "--base".into(), "/does/not/exist".into()],
            "/does/not/exist does not exist",
        ),
        (
            vec!["stats".into(), "--base".into(), file.display().to_string()],
            "is not a folder",
        ),
        (
            vec![
                "--runs-dir".into(),
                runs_under_file.display().to_string(),
                "train".into(),
                "--epochs".into(),
                "1".into(),
            ],
            "cannot create runs folder",
        ),
        (vec!["kshot".into(), "--k".into(), "0".into()], "k = 0"),
        (
            vec!["kshot".into(), "--draws".into(), "0".into()],
            "--draws 0",
        ),
        (
            vec![
                "kshot".into(),
                "--protocol".into(),
                "heldout-test".into(),
                "--by-subject".into(),
            ],
            "--by-subject applies to the pool protocol only: --protocol heldout-test was asked for",
        ),
        // Refused before anything trains: banks the sample target cannot give.
        (
            vec![
                "sweep".into(),
                "--k".into(),
                "2,500".into(),
                "--epochs".into(),
                "1".into(),
            ],
            "k = 500 is larger than class",
        ),
        (
            vec![
                "sweep".into(),
                "--support-part".into(),
                "fold_7".into(),
                "--epochs".into(),
                "1".into(),
            ],
            "no images in part `fold_7` to draw support from (parts: fold_0, fold_1)",
        ),
        // Support from the test set would also be queried: refused before anything trains.
        (
            vec![
                "sweep".into(),
                "--support-part".into(),
                "test".into(),
                "--epochs".into(),
                "1".into(),
            ],
            "--support-part test: the heldout-test protocol's queries are the test set, so support drawn from it would be scored as queries too; name a training part (fold_0, fold_1)",
        ),
        // The pool protocol has no support part: refused, not ignored.
        (
            vec![
                "sweep".into(),
                "--protocol".into(),
                "pool".into(),
                "--support-part".into(),
                "fold_1".into(),
                "--epochs".into(),
                "1".into(),
            ],
            "--support-part fold_1 applies to the heldout-test protocol only: --protocol pool was asked for",
        ),
        // Refused before anything trains: `auto` picks heldout-test for the sample target.
        (
            vec![
                "sweep".into(),
                "--by-subject".into(),
                "--epochs".into(),
                "1".into(),
            ],
            "protocol auto chose heldout-test for",
        ),
        (
            vec!["train".into(), "--margin".into(), "2".into()],
            "margin 2",
        ),
        // A mistyped bank size is refused, not an out-of-memory abort (it was: 56 GB).
        (
            vec!["kshot".into(), "--draws".into(), "1000000000".into()],
            "--draws 1000000000: at most 100000 draws per bank",
        ),
        // By subject on images without subject ids: the file is named (it was "item 0").
        (
            vec![
                "sweep".into(),
                "--target".into(),
                plain.display().to_string(),
                "--protocol".into(),
                "pool".into(),
                "--by-subject".into(),
                "--k".into(),
                "1".into(),
                "--epochs".into(),
                "1".into(),
            ],
            &no_subject,
        ),
        // A --k outside the sweep has no numbers (it was ignored, and headed the report).
        (
            vec![
                "kshot".into(),
                "--k".into(),
                "7".into(),
                "--sweep".into(),
                "1,2".into(),
            ],
            "--k 7 is not in --sweep 1,2",
        ),
        // A report path in a missing folder is refused before the embedding.
        (
            vec![
                "kshot".into(),
                "--out".into(),
                "/does/not/exist/report.md".into(),
            ],
            "--out /does/not/exist/report.md: the folder /does/not/exist does not exist",
        ),
        // A value listed twice would score, or train, the same thing twice.
        (
            vec!["kshot".into(), "--sweep".into(), "1,2,1".into()],
            "--sweep lists 1 twice",
        ),
        (
            vec![
                "sweep".into(),
                "--seed".into(),
                "0,1,0".into(),
                "--epochs".into(),
                "1".into(),
            ],
            "--seed lists 0 twice: each value is one point of the grid, so the same configuration would be trained twice and counted as two seeds",
        ),
        // A target with no image: no advice to lower a minimum of one image.
        (
            vec![
                "sweep".into(),
                "--target".into(),
                h.display().to_string(),
                "--epochs".into(),
                "1".into(),
            ],
            "no class folder holds a readable image",
        ),
        (
            vec!["sweep".into(), "--image-size".into(), "64,64".into()],
            "--image-size lists 64 twice",
        ),
        (
            vec![
                "sweep".into(),
                "--objective".into(),
                "aam,softmax,aam".into(),
            ],
            "--objective lists aam twice",
        ),
        (
            vec!["sweep".into(), "--k".into(), "5,5".into()],
            "--k lists 5 twice: each k is one bank",
        ),
        // Unreadable starting weights fail before the run is recorded (checked below).
        (
            vec![
                "train".into(),
                "--init".into(),
                file.display().to_string(),
                "--image-size".into(),
                "32".into(),
                "--limit-per-class".into(),
                "3".into(),
            ],
            "cannot start from --init",
        ),
        (
            vec!["train".into(), "--device".into(), "tpu".into()],
            "unknown device `tpu`",
        ),
        // C is the logistic classifier's: without it, --logistic-c was ignored.
        (
            vec!["kshot".into(), "--logistic-c".into(), "5".into()],
            "--logistic-c 5 applies to the logistic classifier, and --method prototype does not include it",
        ),
        (
            vec![
                "sweep".into(),
                "--method".into(),
                "prototype,soft-kmeans".into(),
                "--logistic-c".into(),
                "0.1".into(),
            ],
            "--logistic-c 0.1 applies to the logistic classifier, and --method prototype,soft-kmeans does not",
        ),
        // The setting flags are sweep's too: a list is a grid, not a training run.
        (
            vec!["train".into(), "--seed".into(), "0,1".into()],
            "--seed has 2 values: train takes one",
        ),
        (
            vec![
                "train".into(),
                "--resume".into(),
                "latest".into(),
                "--epochs".into(),
                "3,4".into(),
            ],
            "--epochs has 2 values",
        ),
    ];
    for (args, needle) in checks {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = cli(h, &a);
        let e = stderr(&o);
        assert!(!o.status.success(), "{a:?} should fail");
        assert!(e.contains(needle), "{a:?}: `{needle}` not in: {e}");
        assert!(
            e.lines().filter(|l| !l.trim().is_empty()).count() <= 3,
            "short message: {e}"
        );
    }
    assert!(!runs_under_file.exists());
    // None of these left a run behind (a failed one would list in the console's Runs tab).
    let runs: Vec<_> = std::fs::read_dir(h.join("runs"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(runs.is_empty(), "runs left behind: {runs:?}");
}

#[test]
fn kshot_refuses_a_k_larger_than_a_class_and_a_one_class_target() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let o = cli(
        h,
        &[
            "train",
            "--objective",
            "softmax",
            "--epochs",
            "1",
            "--image-size",
            "32",
            "--batch-size",
            "8",
            "--limit-per-class",
            "3",
            "--min-class-size",
            "30",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Refused from the labels, before the target is embedded (at k or in the sweep).
    for args in [
        &["kshot", "--k", "500", "--draws", "3"][..],
        &["kshot", "--k", "1", "--sweep", "1,500", "--draws", "3"],
    ] {
        let o = cli(h, args);
        let e = stderr(&o);
        assert!(
            !o.status.success() && e.contains("k = 500 is larger than class"),
            "{args:?}: {e}"
        );
        assert!(!e.contains("embedding target images"), "{args:?}: {e}");
    }
    // `auto` resolves to heldout-test on the sample target, which --by-subject cannot
    // change: refused, and no result saved under a "by subject" name.
    let o = cli(h, &["kshot", "--by-subject", "--k", "2", "--draws", "3"]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("protocol auto chose heldout-test for"),
        "{e}"
    );
    let o = cli(
        h,
        &[
            "kshot",
            "--by-subject",
            "--protocol",
            "pool",
            "--k",
            "2",
            "--draws",
            "3",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let runs = h.join("runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("config.json").is_file())
        .unwrap();
    let mut saved: Vec<String> = std::fs::read_dir(run.join("kshot"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    saved.sort();
    assert_eq!(saved, ["e001-pool-k2-d3-s0-bysubject.json"]);
    // A target with a single class.
    let one = h.join("one");
    std::fs::create_dir_all(one.join("only")).unwrap();
    for i in 0..3 {
        good_png(&one.join("only").join(format!("{i}.png")), 10, 10);
    }
    let o = cli(
        h,
        &[
            "kshot",
            "--target",
            one.to_str().unwrap(),
            "--k",
            "1",
            "--draws",
            "2",
        ],
    );
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("only one class"), "{e}");
}

/// `train --resume` with a setting other than `--epochs` or `--device` that differs from the
/// run's was silently ignored (`--lr 0.5` trained on at the run's 0.001); it is refused in
/// one sentence before anything is written, and the run's own values are accepted.
#[test]
fn resume_and_run_id_refuse_settings_the_run_does_not_have() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path();
    let tiny = [
        "--image-size",
        "32",
        "--limit-per-class",
        "4",
        "--bn-recalibration",
        "0",
        "--epochs",
        "1",
    ];
    let o = cli(h, &[&["train", "--run-id", "r"][..], &tiny].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let run = h.join("runs").join("r");
    let config = std::fs::read(run.join("config.json")).unwrap();
    let metrics = std::fs::read(run.join("metrics.jsonl")).unwrap();
    for (args, needle) in [
        (
            vec!["--lr", "0.5"],
            "--lr 0.5 with --resume: run r keeps its own settings (lr 0.001)",
        ),
        (vec!["--image-size", "48"], "(image-size 32)"),
        (
            vec!["--objective", "softmax"],
            "(objective aam-consistency)",
        ),
        (vec!["--limit-per-class", "5"], "(limit-per-class 4)"),
        (vec!["--bn-recalibration", "5"], "(bn-recalibration 0)"),
        (
            vec!["--base", "sample-data/cnmc"],
            "--base sample-data/cnmc with --resume",
        ),
        (vec!["--init", "latest"], "--init latest with --resume"),
    ] {
        let a = [&["train", "--resume", "r", "--epochs", "2"][..], &args].concat();
        let o = cli(h, &a);
        let e = stderr(&o);
        assert!(!o.status.success(), "{a:?} should fail");
        assert!(e.contains(needle), "{a:?}: `{needle}` not in: {e}");
        assert_eq!(e.trim().lines().count(), 1, "one sentence: {e}");
    }
    assert_eq!(std::fs::read(run.join("config.json")).unwrap(), config);
    assert_eq!(std::fs::read(run.join("metrics.jsonl")).unwrap(), metrics);
    // The run's own values (a script that repeats its flags) and --device are accepted.
    let o = cli(
        h,
        &[
            &[
                "train",
                "--resume",
                "r",
                "--device",
                "cpu",
                "--base",
                "sample-data/aml",
            ][..],
            &tiny[..6],
            &["--epochs", "2"],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // --run-id of an existing run (a sweep's job started again) continues it as it is: its
    // settings, --epochs included, were ignored there too.
    let named = |extra: &[&str]| {
        cli(
            h,
            &[&["train", "--run-id", "r"][..], &tiny[..6], extra].concat(),
        )
    };
    for (extra, needle) in [
        (
            &["--epochs", "3"][..],
            "--epochs 3 with --run-id: run r keeps its own settings (epochs 2)",
        ),
        (
            &["--epochs", "2", "--lr", "0.5"][..],
            "--lr 0.5 with --run-id",
        ),
    ] {
        let o = named(extra);
        let e = stderr(&o);
        assert!(!o.status.success(), "{extra:?} should fail");
        assert!(e.contains(needle), "{extra:?}: `{needle}` not in: {e}");
    }
    let o = named(&["--epochs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("run r is already trained (2 epochs)"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let status = std::fs::read_to_string(run.join("status.json")).unwrap();
    assert!(
        status.contains("\"last_epoch\": 2") || status.contains("\"last_epoch\":2"),
        "{status}"
    );
}
