//! Loaders on the bundled sample data and, when present, on the real sample images.

use std::path::{Path, PathBuf};

use bloodshot::data::decode::{load_rgb, probe};
use bloodshot::data::labels::{parse, subject_of};
use bloodshot::data::scan::find_duplicates;
use bloodshot::data::split::split;
use bloodshot::data::{Layout, ScanOptions, scan};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data")
}

fn real() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/real-sample");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping real-image checks: ../shared/real-sample is not present");
        None
    }
}

fn scan_default(p: &Path) -> bloodshot::data::Dataset {
    scan(p, &ScanOptions::default(), &mut |_, _| {}).expect("scan")
}

#[test]
fn aml_sample_is_detected_and_small_classes_are_dropped() {
    let ds = scan_default(&sample().join("aml"));
    assert_eq!(ds.layout, Layout::Aml);
    assert_eq!(ds.class_table.len(), 15);
    let dropped: Vec<&str> = ds
        .class_table
        .iter()
        .filter(|c| !c.kept)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(dropped, ["KSC", "LYA", "MMZ", "MOB", "PMB"]);
    assert_eq!(ds.classes.len(), 10);
    assert!(ds.classes.windows(2).all(|w| w[0] < w[1]), "classes sorted");
    // Labels are the folder names.
    for s in &ds.samples {
        let folder = s
            .path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        assert_eq!(folder, ds.classes[s.class]);
    }
    assert_eq!(ds.formats.keys().collect::<Vec<_>>(), ["tiff"]);
    let with_small = scan(
        &sample().join("aml"),
        &ScanOptions {
            min_class_size: 1,
            limit_per_class: None,
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(with_small.classes.len(), 15);
}

#[test]
fn limit_per_class_caps_every_class() {
    let ds = scan(
        &sample().join("aml"),
        &ScanOptions {
            min_class_size: 30,
            limit_per_class: Some(5),
        },
        &mut |_, _| {},
    )
    .unwrap();
    for c in 0..ds.classes.len() {
        assert_eq!(ds.samples.iter().filter(|s| s.class == c).count(), 5);
    }
}

#[test]
fn cnmc_sample_has_folds_test_set_and_subjects() {
    let ds = scan_default(&sample().join("cnmc"));
    assert_eq!(ds.layout, Layout::Cnmc);
    assert_eq!(ds.classes, ["all", "hem"]);
    let parts = ds.parts();
    assert_eq!(
        parts.keys().collect::<Vec<_>>(),
        ["fold_0", "fold_1", "test"]
    );
    assert!(ds.has_labelled_test());
    assert!(
        ds.samples
            .iter()
            .filter(|s| s.part != "test")
            .all(|s| s.subject.is_some())
    );
    // Subjects: hem ids normalised to upper-case H.
    assert!(
        ds.samples
            .iter()
            .filter_map(|s| s.subject.as_deref())
            .all(|s| !s.starts_with('h'))
    );
    let test: Vec<_> = ds.samples.iter().filter(|s| s.part == "test").collect();
    assert_eq!(test.len(), 40);
    assert!(ds.warnings.is_empty(), "{:?}", ds.warnings);
}

#[test]
fn subject_ids_parse_like_the_real_names() {
    assert_eq!(subject_of("UID_53_4_8_all.bmp").as_deref(), Some("53"));
    assert_eq!(subject_of("UID_H6_5_1_hem.bmp").as_deref(), Some("H6"));
    assert_eq!(subject_of("UID_h3_4_1_hem.bmp").as_deref(), Some("H3"));
    assert_eq!(subject_of("1105.bmp"), None);
    assert_eq!(subject_of("UID__1_all.bmp"), None);
    assert_eq!(subject_of("UID_Hx_1_hem.bmp"), None);
}

#[test]
fn labels_csv_tolerates_bom_crlf_and_column_order() {
    let text = "\u{feff}labels,new_names,Patient_ID\r\n1,1.bmp,UID_57_29_1_all.bmp\r\n0,2.bmp,UID_H10_3_1_hem.bmp\r\n";
    let rows = parse(text, Path::new("x.csv")).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].is_all && !rows[1].is_all);
    assert_eq!(rows[1].new_name, "2.bmp");
    assert_eq!(subject_of(&rows[1].patient_id).as_deref(), Some("H10"));
}

#[test]
fn labels_csv_errors_name_the_file_line_and_value() {
    use bloodshot::data::labels::LabelsProblem;
    let e = parse(
        "Patient_ID,new_names\nUID_1_1_1_all.bmp,1.bmp\n",
        Path::new("l.csv"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "l.csv: header must have the columns Patient_ID,new_names,labels (found `Patient_ID,new_names`)"
    );
    let e = parse(
        "Patient_ID,new_names,labels\nUID_1_1_1_all.bmp,1.bmp,2\n",
        Path::new("l.csv"),
    )
    .unwrap_err();
    assert_eq!(
        (e.line, &e.problem),
        (Some(2), &LabelsProblem::Label("2".into()))
    );
    assert_eq!(
        e.to_string(),
        "l.csv line 2: label `2` is not 0 (hem) or 1 (all)"
    );
    let e = parse(
        "Patient_ID,new_names,labels\nUID_1_1_1_all.bmp,1.bmp\n",
        Path::new("l.csv"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = parse("", Path::new("l.csv")).unwrap_err();
    assert_eq!(e.to_string(), "l.csv: the labels CSV is empty");
}

#[test]
fn split_is_stratified_disjoint_and_seeded() {
    let labels: Vec<usize> = (0..100).map(|i| if i < 70 { 0 } else { 1 }).collect();
    let s = split(&labels, 2, 7);
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (70, 10, 20));
    // Class 0: 70 → 49/7/14; class 1: 30 → 21/3/6.
    assert_eq!(s.train.iter().filter(|&&i| labels[i] == 1).count(), 21);
    let mut all: Vec<usize> = s
        .train
        .iter()
        .chain(&s.val)
        .chain(&s.test)
        .copied()
        .collect();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    assert_eq!(split(&labels, 2, 7), s);
    assert_ne!(split(&labels, 2, 8), s);
}

#[test]
fn sample_data_duplicate_pair_is_found() {
    let ds = scan_default(&sample().join("cnmc"));
    let paths: Vec<&Path> = ds.samples.iter().map(|s| s.path.as_path()).collect();
    let groups = find_duplicates(&paths, &mut |_, _| {});
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].len(), 2);
}

#[test]
fn probe_rejects_empty_text_and_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.bmp");
    std::fs::write(&empty, b"").unwrap();
    let e = probe(&empty).unwrap_err();
    assert!(
        matches!(e, bloodshot::data::decode::ProbeError::Empty),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "empty file (0 bytes)");
    let text = dir.path().join("text.bmp");
    std::fs::write(&text, b"this is not an image at all").unwrap();
    assert_eq!(
        probe(&text).unwrap_err().to_string(),
        "not a recognised image: its first bytes match no image format although its name ends in .bmp"
    );
    // A real-format BMP cut in half.
    let img = image::RgbImage::from_pixel(20, 20, image::Rgb([9, 8, 7]));
    let full = dir.path().join("full.bmp");
    img.save(&full).unwrap();
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.bmp");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(probe(&full).is_ok());
    let e = probe(&cut).unwrap_err();
    assert!(
        matches!(e, bloodshot::data::decode::ProbeError::TruncatedBmp { .. }),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("truncated BMP: "), "{e}");
    assert!(load_rgb(&cut, 16).is_err());
}

#[test]
fn decode_keeps_rgb_resizes_and_scales() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rgba.png");
    image::RgbaImage::from_pixel(8, 8, image::Rgba([255, 0, 51, 7]))
        .save(&p)
        .unwrap();
    let rgb = load_rgb(&p, 4).unwrap();
    assert_eq!(rgb.len(), 4 * 4 * 3);
    assert_eq!(&rgb[..3], &[255, 0, 51], "alpha dropped, colour kept");
    let mut chw = Vec::new();
    bloodshot::data::decode::push_chw(&rgb, 4, &mut chw);
    assert_eq!(chw.len(), 48);
    assert_eq!((chw[0], chw[16], chw[32]), (1.0, 0.0, 0.2));
}

#[test]
fn real_cnmc_bmps_decode_with_both_header_variants() {
    let Some(root) = real() else { return };
    for (file, header) in [
        ("cnmc/all/UID_1_3_1_all.bmp", 40u32),
        ("cnmc/hem/UID_H6_5_1_hem.bmp", 40),
    ] {
        let p = root.join(file);
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(
            u32::from_le_bytes(bytes[14..18].try_into().unwrap()),
            header
        );
        let info = probe(&p).unwrap();
        assert_eq!(
            (info.format.as_str(), info.width, info.height),
            ("bmp", 450, 450)
        );
        assert_eq!(load_rgb(&p, 64).unwrap().len(), 64 * 64 * 3);
    }
    // Preliminary-test files carry a 124-byte BITMAPV5HEADER (pixel data at 138).
    let prelim: Vec<PathBuf> = std::fs::read_dir(root.join("cnmc/prelim_phase"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!prelim.is_empty());
    for p in prelim {
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[14..18].try_into().unwrap()), 124);
        assert_eq!(u32::from_le_bytes(bytes[10..14].try_into().unwrap()), 138);
        let rgb = load_rgb(&p, 450).unwrap();
        // Segmented cell on pure black: most pixels are black.
        let black = rgb
            .chunks(3)
            .filter(|px| px.iter().all(|&v| v == 0))
            .count();
        assert!(black as f64 / (450.0 * 450.0) > 0.5, "{}", p.display());
    }
}

#[test]
fn real_aml_pngs_and_cnmc_folders_scan() {
    let Some(root) = real() else { return };
    let ds = scan(
        &root.join("aml"),
        &ScanOptions {
            min_class_size: 1,
            limit_per_class: None,
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(ds.layout, Layout::Aml);
    assert_eq!(ds.classes, ["MOB", "MYB", "PMO"]);
    assert_eq!(ds.sizes.get("400x400"), Some(&6));
    // annotations.dat is named as skipped-or-ignored, never as a class.
    assert!(ds.class_table.iter().all(|c| c.name != "annotations.dat"));
    // The real class folders (all/hem) read as a class-per-folder set.
    let c = scan(
        &root.join("cnmc"),
        &ScanOptions {
            min_class_size: 1,
            limit_per_class: None,
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(c.layout, Layout::ClassFolders);
    assert_eq!(
        c.class_table
            .iter()
            .find(|x| x.name == "all")
            .unwrap()
            .count,
        40
    );
    assert_eq!(
        c.class_table
            .iter()
            .find(|x| x.name == "hem")
            .unwrap()
            .count,
        40
    );
}

#[test]
fn image_cache_returns_the_same_pixels_and_writes_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("a.png");
    image::RgbImage::from_fn(10, 10, |x, y| image::Rgb([x as u8 * 20, y as u8 * 20, 5]))
        .save(&img)
        .unwrap();
    let cache = bloodshot::data::cache::ImageCache::new(Some(&dir.path().join("c")), 8);
    let first = cache.load(&img).unwrap();
    let second = cache.load(&img).unwrap();
    assert_eq!(first, second);
    let entries = walk(&dir.path().join("c"));
    assert_eq!(
        entries
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "rgb"))
            .count(),
        1
    );
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn committed_sample_data_is_what_the_generator_writes() {
    let dir = tempfile::tempdir().unwrap();
    bloodshot::data::synth::generate(dir.path()).unwrap();
    let fresh = walk(dir.path());
    let committed = walk(&sample());
    let rel = |base: &Path, v: &[PathBuf]| {
        let mut r: Vec<PathBuf> = v
            .iter()
            .map(|p| p.strip_prefix(base).unwrap().to_path_buf())
            .collect();
        r.sort();
        r
    };
    assert_eq!(
        rel(dir.path(), &fresh),
        rel(&sample(), &committed),
        "file lists differ"
    );
    for p in rel(dir.path(), &fresh) {
        assert!(
            std::fs::read(dir.path().join(&p)).unwrap()
                == std::fs::read(sample().join(&p)).unwrap(),
            "{} differs from the generator's output: run `bloodshot sample-data`",
            p.display()
        );
    }
}

#[test]
fn kaggle_cnmc_layout_with_the_csv_beside_the_test_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("C-NMC_Leukemia");
    let src = sample().join("cnmc/C-NMC_training_data/fold_0");
    for class in ["all", "hem"] {
        let d = root.join("training_data/fold_0").join(class);
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(src.join(class))
            .unwrap()
            .flatten()
            .take(3)
        {
            std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
        }
    }
    let test = root.join("validation_data/C-NMC_test_prelim_phase_data");
    std::fs::create_dir_all(&test).unwrap();
    let prelim = sample().join("cnmc/C-NMC_test_prelim_phase_data");
    for n in ["1.bmp", "2.bmp"] {
        std::fs::copy(prelim.join(n), test.join(n)).unwrap();
    }
    std::fs::write(
        root.join("validation_data/C-NMC_test_prelim_phase_data_labels.csv"),
        "Patient_ID,new_names,labels\nUID_57_1_1_all.bmp,1.bmp,1\nUID_H21_1_1_hem.bmp,2.bmp,0\n",
    )
    .unwrap();
    let ds = scan(
        dir.path(),
        &ScanOptions {
            min_class_size: 1,
            limit_per_class: None,
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(ds.layout, Layout::Cnmc);
    assert_eq!(ds.part_indices("fold_0").len(), 6);
    let test: Vec<_> = ds.samples.iter().filter(|s| s.part == "test").collect();
    assert_eq!(test.len(), 2);
    assert_eq!(test[0].subject.as_deref(), Some("57"));
    assert_eq!(ds.classes[test[1].class], "hem");
}

/// A folder whose classes are all under the minimum size: statistics show it (every class
/// dropped, why, and a warning that nothing can train on it), while the scan training uses
/// refuses it in one sentence.
#[test]
fn statistics_show_a_folder_whose_classes_are_all_too_small() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tiny");
    for (class, n) in [("LYT", 3u32), ("MON", 2)] {
        let d = root.join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            image::RgbImage::from_pixel(8, 8, image::Rgb([i as u8 * 40, 90, 200]))
                .save(d.join(format!("{class}_{i}.png")))
                .unwrap();
        }
    }
    let e = scan(&root, &ScanOptions::default(), &mut |_, _| {}).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: no class has at least 30 readable images; lower --min-class-size to use smaller classes",
            root.display()
        )
    );
    let (ds, stats) = bloodshot::data::stats::dataset_stats(
        &root,
        &ScanOptions::default(),
        Some(0),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert!(ds.classes.is_empty());
    assert_eq!(stats.usable_images, 0);
    assert_eq!(stats.split_sizes, Some([0, 0, 0]));
    let table: Vec<(&str, usize, bool)> = stats
        .classes
        .iter()
        .map(|c| (c.name.as_str(), c.count, c.kept))
        .collect();
    assert_eq!(table, [("LYT", 3, false), ("MON", 2, false)]);
    assert_eq!(
        stats.warnings,
        [
            "nothing can train on this folder: no class has at least 30 readable images; lower --min-class-size to use smaller classes"
        ]
    );
    // An empty folder is still an error: there is nothing to show.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = bloodshot::data::stats::dataset_stats(
        &empty,
        &ScanOptions::default(),
        Some(0),
        &mut |_, _, _| {},
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("no class folders with images found"),
        "{e}"
    );
}
