//! Property tests (a short fuzz run) of the labels-CSV parser and the dataset scanner:
//! arbitrary input never panics, and valid input round-trips.

use std::path::Path;

use bloodshot::data::labels::{parse, subject_of};
use bloodshot::data::{ScanOptions, scan};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn labels_parser_never_panics(text in ".{0,400}") {
        match parse(&text, Path::new("fuzz.csv")) {
            Ok(rows) => prop_assert!(rows.len() <= text.lines().count()),
            Err(e) => {
                let e = e.to_string();
                prop_assert!(e.contains("fuzz.csv"), "error names the file: {}", e);
                prop_assert!(!e.contains('\n'), "one line: {}", e);
            }
        }
    }

    #[test]
    fn labels_parser_reads_back_what_was_written(
        rows in proptest::collection::vec((1u32..200, 1u32..60, 1u32..9, any::<bool>()), 0..30),
        crlf in any::<bool>(),
        bom in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        if bom { text.push('\u{feff}'); }
        text.push_str("Patient_ID,new_names,labels");
        text.push_str(eol);
        let mut seen = std::collections::BTreeSet::new();
        let mut expected = Vec::new();
        for (i, (subj, img, cell, all)) in rows.iter().enumerate() {
            let name = format!("{}.bmp", i + 1);
            if !seen.insert(name.clone()) { continue; }
            let pid = if *all { format!("UID_{subj}_{img}_{cell}_all.bmp") } else { format!("UID_H{subj}_{img}_{cell}_hem.bmp") };
            text.push_str(&format!("{pid},{name},{}{eol}", u8::from(*all)));
            expected.push((pid, name, *all));
        }
        let parsed = parse(&text, Path::new("x.csv")).unwrap();
        prop_assert_eq!(parsed.len(), expected.len());
        for (r, (pid, name, all)) in parsed.iter().zip(&expected) {
            prop_assert_eq!(&r.patient_id, pid);
            prop_assert_eq!(&r.new_name, name);
            prop_assert_eq!(r.is_all, *all);
            prop_assert!(subject_of(pid).is_some());
        }
    }

    #[test]
    fn subject_parser_never_panics(name in ".{0,40}") {
        if let Some(s) = subject_of(&name) {
            prop_assert!(!s.is_empty() && !s.starts_with('h'));
        }
    }

    #[test]
    fn scanner_never_panics_and_accounts_for_every_image_file(
        files in proptest::collection::vec(
            (0usize..4, 0usize..6, proptest::collection::vec(any::<u8>(), 0..64), 0usize..4),
            1..16,
        )
    ) {
        let dir = tempfile::tempdir().unwrap();
        // Class folders only: every image-named file must be counted or skipped with a reason.
        let classes = ["A", "B", "C", "D"];
        let exts = ["bmp", "png", "tiff", "jpg", "txt", "csv"];
        let heads: [&[u8]; 4] = [b"", b"BM", b"\x89PNG\r\n\x1a\n", b"II*\0"];
        let mut image_files = 0;
        for (i, (c, e, body, h)) in files.iter().enumerate() {
            let d = dir.path().join(classes[*c]);
            std::fs::create_dir_all(&d).unwrap();
            let mut bytes = heads[*h].to_vec();
            bytes.extend(body);
            std::fs::write(d.join(format!("f{i}.{}", exts[*e])), bytes).unwrap();
            if *e < 4 { image_files += 1; }
        }
        match scan(dir.path(), &ScanOptions { min_class_size: 1, limit_per_class: None }, &mut |_, _| {}) {
            Ok(ds) => {
                let counted: usize = ds.class_table.iter().map(|c| c.count).sum();
                let skipped_images = ds.skipped.iter().filter(|s| s.reason != "not an image file name").count();
                prop_assert_eq!(counted + skipped_images, image_files);
                for s in &ds.skipped {
                    prop_assert!(!s.reason.is_empty() && !s.reason.contains('\n'));
                }
            }
            // Only a tree without any readable image may be refused.
            Err(e) => {
                prop_assert!(!e.to_string().contains('\n'));
                prop_assert!(e.to_string().contains(&dir.path().display().to_string()));
            }
        }
    }

    #[test]
    fn scanner_never_panics_on_cnmc_like_trees(
        files in proptest::collection::vec((0usize..5, 0usize..3, proptest::collection::vec(any::<u8>(), 0..40)), 1..12)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let folders = ["C-NMC_training_data/fold_0/all", "C-NMC_training_data/fold_1/hem", "training_data/fold_0/hem", "C-NMC_test_prelim_phase_data", "fold_2/all"];
        let names = ["UID_1_2_3_all.bmp", "UID_h4_1_1_hem.bmp", "C-NMC_test_prelim_phase_data_labels.csv"];
        for (i, (f, n, body)) in files.iter().enumerate() {
            let d = dir.path().join(folders[*f]);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{i}{}", names[*n])), body).unwrap();
        }
        let _ = scan(dir.path(), &ScanOptions::default(), &mut |_, _| {});
    }
}
