//! Tests of the deterministic synthetic sample-dataset generator.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bloodshot::data::synth::{self, AML_CLASSES, AML_SIZE, CNMC_SIZE, generate};

const AML_EXPECTED: [(&str, usize); 15] = [
    ("BAS", 32),
    ("EBO", 32),
    ("EOS", 36),
    ("KSC", 8),
    ("LYA", 6),
    ("LYT", 48),
    ("MMZ", 8),
    ("MOB", 12),
    ("MON", 40),
    ("MYB", 32),
    ("MYO", 48),
    ("NGB", 32),
    ("NGS", 60),
    ("PMB", 10),
    ("PMO", 32),
];

/// One generated tree shared by the read-only tests.
fn tree() -> &'static Path {
    static TREE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TREE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        generate(dir.path()).expect("generate");
        dir
    })
    .path()
}

/// All files under `root`, as sorted relative paths.
fn walk(root: &Path) -> Vec<PathBuf> {
    fn rec(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rec(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    rec(root, root, &mut out);
    out.sort();
    out
}

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn cnmc_train() -> PathBuf {
    tree().join("cnmc/C-NMC_training_data")
}

fn prelim_dir() -> PathBuf {
    tree().join("cnmc/C-NMC_test_prelim_phase_data")
}

/// Parses `UID_<subject>_<image>_<cell>_all.bmp` / `UID_[Hh]<subject>_<image>_<cell>_hem.bmp`
/// into (class, subject as written, image, cell).
fn parse_cnmc(name: &str) -> Option<(&'static str, String, u32, u32)> {
    let stem = name.strip_suffix(".bmp")?.strip_prefix("UID_")?;
    let parts: Vec<&str> = stem.split('_').collect();
    if parts.len() != 4 {
        return None;
    }
    let image: u32 = parts[1].parse().ok()?;
    let cell: u32 = parts[2].parse().ok()?;
    match parts[3] {
        "all" => {
            parts[0].parse::<u32>().ok()?;
            Some(("all", parts[0].to_string(), image, cell))
        }
        "hem" => {
            let digits = parts[0]
                .strip_prefix('H')
                .or_else(|| parts[0].strip_prefix('h'))?;
            digits.parse::<u32>().ok()?;
            Some(("hem", parts[0].to_string(), image, cell))
        }
        _ => None,
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn rgb(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("decode {}: {e}", path.display()))
        .to_rgb8()
}

fn is_black(p: &image::Rgb<u8>) -> bool {
    p.0 == [0, 0, 0]
}

#[test]
fn two_runs_are_byte_identical() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let sa = generate(a.path()).unwrap();
    let sb = generate(b.path()).unwrap();
    assert_eq!(sa, sb);
    let fa = walk(a.path());
    let fb = walk(b.path());
    assert_eq!(fa, fb, "file lists differ");
    let mut total = 0u64;
    for rel in &fa {
        let x = std::fs::read(a.path().join(rel)).unwrap();
        let y = std::fs::read(b.path().join(rel)).unwrap();
        assert!(x == y, "{} differs between runs", rel.display());
        total += x.len() as u64;
    }
    assert_eq!(sa.files, fa.len());
    assert_eq!(sa.bytes, total);
}

#[test]
fn generating_over_an_existing_tree_rewrites_the_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    generate(a.path()).unwrap();
    let first: Vec<Vec<u8>> = walk(a.path())
        .iter()
        .map(|r| std::fs::read(a.path().join(r)).unwrap())
        .collect();
    generate(a.path()).unwrap();
    let second: Vec<Vec<u8>> = walk(a.path())
        .iter()
        .map(|r| std::fs::read(a.path().join(r)).unwrap())
        .collect();
    assert!(first == second);
}

#[test]
fn total_size_is_under_ten_megabytes() {
    let total: u64 = walk(tree())
        .iter()
        .map(|r| std::fs::metadata(tree().join(r)).unwrap().len())
        .sum();
    assert!(total < 10_000_000, "tree is {total} bytes");
    // 436 AML + 128 training BMP + 40 prelim BMP + 1 CSV.
    assert_eq!(walk(tree()).len(), 436 + 128 + 40 + 1);
}

#[test]
fn aml_layout_matches_the_real_scheme() {
    assert_eq!(AML_CLASSES, AML_EXPECTED);
    let aml = tree().join("aml");
    let classes = sorted_names(&aml);
    let expected: Vec<String> = AML_EXPECTED.iter().map(|(c, _)| c.to_string()).collect();
    assert_eq!(classes, expected);
    let mut small = 0;
    for (class, count) in AML_EXPECTED {
        let names = sorted_names(&aml.join(class));
        let want: Vec<String> = (1..=count)
            .map(|i| format!("{class}_{i:04}.tiff"))
            .collect();
        assert_eq!(names, want, "class {class}");
        if count < 30 {
            small += 1;
        }
    }
    assert!((4..=5).contains(&small), "{small} classes under 30 images");
}

#[test]
fn cnmc_training_layout_matches_the_real_scheme() {
    assert_eq!(sorted_names(&cnmc_train()), ["fold_0", "fold_1"]);
    let mut subjects_per_fold: Vec<Vec<String>> = Vec::new();
    let mut lower_h = 0;
    for fold in ["fold_0", "fold_1"] {
        assert_eq!(sorted_names(&cnmc_train().join(fold)), ["all", "hem"]);
        let mut fold_subjects = Vec::new();
        for (class, count, n_subjects) in [("all", 40, 4), ("hem", 24, 3)] {
            let names = sorted_names(&cnmc_train().join(fold).join(class));
            assert_eq!(names.len(), count, "{fold}/{class}");
            let mut subjects: Vec<String> = Vec::new();
            for n in &names {
                let (c, subject, image, cell) =
                    parse_cnmc(n).unwrap_or_else(|| panic!("{fold}/{class}/{n} does not parse"));
                assert_eq!(c, class, "{n}");
                assert!(image >= 1 && cell >= 1, "{n}");
                if subject.starts_with('h') {
                    lower_h += 1;
                }
                let s = format!("{class}:{}", subject.to_ascii_uppercase());
                if !subjects.contains(&s) {
                    subjects.push(s);
                }
            }
            assert_eq!(
                subjects.len(),
                n_subjects,
                "{fold}/{class} subjects {subjects:?}"
            );
            fold_subjects.extend(subjects);
        }
        subjects_per_fold.push(fold_subjects);
    }
    for s in &subjects_per_fold[0] {
        assert!(
            !subjects_per_fold[1].contains(s),
            "subject {s} appears in both folds"
        );
    }
    assert!(lower_h > 0, "expected some lower-case h hem names");
    assert!(lower_h < 24, "lower-case h should be the exception");
}

#[test]
fn training_data_has_exactly_one_cross_fold_duplicate() {
    let mut files: Vec<(PathBuf, Vec<u8>)> = walk(&cnmc_train())
        .into_iter()
        .map(|r| (r.clone(), std::fs::read(cnmc_train().join(&r)).unwrap()))
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let dups: Vec<(&PathBuf, &PathBuf)> = files
        .windows(2)
        .filter(|w| w[0].1 == w[1].1)
        .map(|w| (&w[0].0, &w[1].0))
        .collect();
    assert_eq!(dups.len(), 1, "duplicates: {dups:?}");
    let (a, b) = dups[0];
    let mut pair = [
        a.to_string_lossy().into_owned(),
        b.to_string_lossy().into_owned(),
    ];
    pair.sort();
    assert!(pair[0].starts_with("fold_0/all/"), "{pair:?}");
    assert!(pair[1].starts_with("fold_1/all/"), "{pair:?}");
    assert_ne!(a.file_name(), b.file_name());
    // The rest of the tree has no other duplicates (prelim images included).
    let mut everything: Vec<Vec<u8>> = walk(tree())
        .iter()
        .map(|r| std::fs::read(tree().join(r)).unwrap())
        .collect();
    everything.sort();
    let n = everything.len();
    everything.dedup();
    assert_eq!(n - everything.len(), 1);
}

#[test]
fn prelim_layout_and_labels_csv() {
    let dir = prelim_dir();
    let mut want: Vec<String> = (1..=40).map(|n| format!("{n}.bmp")).collect();
    want.push("C-NMC_test_prelim_phase_data_labels.csv".to_string());
    want.sort();
    assert_eq!(sorted_names(&dir), want);

    let csv = std::fs::read_to_string(dir.join("C-NMC_test_prelim_phase_data_labels.csv")).unwrap();
    assert!(!csv.contains('\r'));
    assert!(csv.ends_with('\n'));
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("Patient_ID,new_names,labels"));
    let train_names: Vec<String> = walk(&cnmc_train())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let train_subjects: Vec<String> = train_names
        .iter()
        .map(|n| parse_cnmc(n).unwrap().1.to_ascii_uppercase())
        .collect();
    let mut seen = Vec::new();
    let mut all = 0;
    let mut rows = 0;
    let mut in_order = true;
    for (k, line) in lines.enumerate() {
        rows += 1;
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 3, "{line}");
        let (patient, new_name, label) = (f[0], f[1], f[2]);
        assert!(dir.join(new_name).is_file(), "{new_name} missing");
        assert!(!seen.contains(&new_name.to_string()), "{new_name} twice");
        seen.push(new_name.to_string());
        in_order &= new_name == format!("{}.bmp", k + 1);
        let label: u8 = label.parse().unwrap();
        assert!(label <= 1, "{line}");
        let (class, subject, _, _) =
            parse_cnmc(patient).unwrap_or_else(|| panic!("{patient} does not parse"));
        assert_eq!(class == "all", label == 1, "{line}");
        assert!(
            !train_subjects.contains(&subject.to_ascii_uppercase()),
            "{patient} reuses a training subject"
        );
        all += usize::from(label == 1);
    }
    assert_eq!(rows, 40);
    assert!(in_order);
    let frac = all as f64 / 40.0;
    assert!((0.55..=0.78).contains(&frac), "all fraction {frac}");
    // Shuffled: the labels are not sorted.
    let labels: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    let mut sorted = labels.clone();
    sorted.sort();
    let mut rsorted = sorted.clone();
    rsorted.reverse();
    assert!(
        labels != sorted && labels != rsorted,
        "labels are not shuffled"
    );
}

#[test]
fn every_image_decodes_to_the_stated_size() {
    let mut n = 0;
    for rel in walk(tree()) {
        let path = tree().join(&rel);
        let ext = path.extension().unwrap().to_string_lossy().into_owned();
        if ext == "csv" {
            continue;
        }
        let img = image::open(&path).unwrap_or_else(|e| panic!("decode {}: {e}", rel.display()));
        let want = if ext == "tiff" { AML_SIZE } else { CNMC_SIZE };
        assert_eq!(
            (img.width(), img.height()),
            (want, want),
            "{}",
            rel.display()
        );
        if ext == "tiff" {
            assert_eq!(img.color(), image::ColorType::Rgba8, "{}", rel.display());
            assert!(
                img.to_rgba8().pixels().all(|p| p.0[3] == 255),
                "{} alpha",
                rel.display()
            );
        } else {
            assert_eq!(ext, "bmp");
            assert_eq!(img.color(), image::ColorType::Rgb8, "{}", rel.display());
        }
        n += 1;
    }
    assert_eq!(n, 436 + 128 + 40);
}

#[test]
fn bmp_headers_match_the_real_files() {
    for rel in walk(&cnmc_train()) {
        let b = std::fs::read(cnmc_train().join(&rel)).unwrap();
        assert_eq!(&b[..2], b"BM", "{}", rel.display());
        assert_eq!(u32_at(&b, 2) as usize, b.len(), "{}", rel.display());
        assert_eq!(u32_at(&b, 10), 54, "{}", rel.display());
        assert_eq!(u32_at(&b, 14), 40, "{}", rel.display());
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), 24, "{}", rel.display());
    }
    for n in 1..=40 {
        let b = std::fs::read(prelim_dir().join(format!("{n}.bmp"))).unwrap();
        assert_eq!(&b[..2], b"BM");
        assert_eq!(u32_at(&b, 2) as usize, b.len());
        assert_eq!(u32_at(&b, 10), 138);
        assert_eq!(u32_at(&b, 14), 124);
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), 24);
        assert_eq!(u32_at(&b, 30), 0, "BI_RGB");
        let side = CNMC_SIZE as usize;
        assert_eq!(b.len(), 138 + side * (side * 3).div_ceil(4) * 4);
    }
}

#[test]
fn v5_encoder_round_trips_through_image() {
    // Odd widths exercise the row padding; a tall image checks the bottom-up order.
    for (w, h) in [(7u32, 5u32), (1, 1), (4, 9), (13, 2), (64, 64)] {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 37 + y * 11) as u8,
                (x * 5 + y * 91 + 3) as u8,
                (x * y * 7 + 200) as u8,
            ])
        });
        let bytes = synth::encode_bmp_v5(&img);
        assert_eq!(u32_at(&bytes, 10), 138);
        assert_eq!(u32_at(&bytes, 14), 124);
        assert_eq!(bytes.len() as u32, 138 + (w * 3).div_ceil(4) * 4 * h);
        let back = image::load_from_memory_with_format(&bytes, image::ImageFormat::Bmp)
            .unwrap_or_else(|e| panic!("{w}x{h}: {e}"))
            .to_rgb8();
        assert_eq!(back.dimensions(), (w, h));
        assert!(back == img, "{w}x{h} pixels differ after round trip");
    }
}

#[test]
fn aml_background_is_pale_pink_white() {
    let mut sum = [0f64; 3];
    let mut n = 0f64;
    for (class, count) in AML_EXPECTED {
        for i in 1..=count {
            let img = rgb(&tree().join(format!("aml/{class}/{class}_{i:04}.tiff")));
            let (w, h) = img.dimensions();
            for (x, y, p) in img.enumerate_pixels() {
                if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
                    for (acc, v) in sum.iter_mut().zip(p.0) {
                        *acc += v as f64;
                    }
                    n += 1.0;
                }
            }
        }
    }
    let mean = [sum[0] / n, sum[1] / n, sum[2] / n];
    for (c, want) in [237.0, 228.0, 228.0].iter().enumerate() {
        assert!((mean[c] - want).abs() <= 12.0, "border mean {mean:?}");
    }
}

/// Counts pixels of a class-typical colour over all images of a class, per image.
fn aml_colour_count(class: &str, pred: impl Fn([u8; 3]) -> bool) -> f64 {
    let count = AML_EXPECTED.iter().find(|(c, _)| *c == class).unwrap().1;
    let mut total = 0usize;
    for i in 1..=count {
        let img = rgb(&tree().join(format!("aml/{class}/{class}_{i:04}.tiff")));
        total += img.pixels().filter(|p| pred(p.0)).count();
    }
    total as f64 / count as f64
}

#[test]
fn aml_classes_look_different() {
    // Deep violet nucleus pixels: large in monoblasts, small in lymphocytes (small cells).
    let violet = |p: [u8; 3]| p[1] < 70 && p[2] > 140 && p[2] > p[0] + 20;
    let mob = aml_colour_count("MOB", violet);
    let lyt = aml_colour_count("LYT", violet);
    assert!(mob > lyt * 1.5, "MOB {mob} vs LYT {lyt}");
    assert!(lyt > 50.0, "LYT nucleus too small: {lyt}");
    // Orange-red eosinophil granules.
    let orange = |p: [u8; 3]| p[0] > 170 && p[1] < 150 && p[2] < 140 && p[0] > p[2] + 50;
    let eos = aml_colour_count("EOS", orange);
    let ngs = aml_colour_count("NGS", orange);
    assert!(eos > 20.0 && eos > ngs * 3.0, "EOS {eos} vs NGS {ngs}");
    // Deep blue erythroblast cytoplasm.
    let blue = |p: [u8; 3]| p[2] > 150 && p[0] < 110 && p[1] < 120 && p[1] > 60;
    let ebo = aml_colour_count("EBO", blue);
    let ngs_blue = aml_colour_count("NGS", blue);
    assert!(
        ebo > 40.0 && ebo > ngs_blue * 3.0,
        "EBO {ebo} vs NGS {ngs_blue}"
    );
}

#[test]
fn cnmc_cells_are_segmented_on_black() {
    let mut frac = [Vec::new(), Vec::new()]; // all, hem
    let mut colour = [0f64; 3];
    let mut n_colour = 0f64;
    for rel in walk(tree().join("cnmc").as_path()) {
        let name = rel.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".bmp") || !rel.starts_with("C-NMC_training_data") {
            continue;
        }
        let img = rgb(&tree().join("cnmc").join(&rel));
        let (w, h) = img.dimensions();
        let black = img.pixels().filter(|p| is_black(p)).count() as f64 / (w * h) as f64;
        // Segmented: the whole border is pure black.
        for (x, y, p) in img.enumerate_pixels() {
            if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
                assert!(
                    is_black(p),
                    "{} border pixel ({x},{y}) = {:?}",
                    rel.display(),
                    p.0
                );
            }
        }
        // Hard edges: no near-black pixels, only exact black or cell colour.
        assert!(
            img.pixels()
                .all(|p| is_black(p) || p.0.iter().copied().max().unwrap() >= 10),
            "{} has soft edges",
            rel.display()
        );
        for p in img.pixels().filter(|p| !is_black(p)) {
            for (acc, v) in colour.iter_mut().zip(p.0) {
                *acc += v as f64;
            }
            n_colour += 1.0;
        }
        let class = if name.ends_with("_all.bmp") { 0 } else { 1 };
        frac[class].push(black);
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let (all, hem) = (mean(&frac[0]), mean(&frac[1]));
    assert!((0.70..=0.90).contains(&all), "all black fraction {all}");
    assert!((0.80..=0.93).contains(&hem), "hem black fraction {hem}");
    assert!(all < hem, "all {all} hem {hem}");
    let c = [
        colour[0] / n_colour,
        colour[1] / n_colour,
        colour[2] / n_colour,
    ];
    for (k, want) in [69.0, 29.0, 80.0].iter().enumerate() {
        assert!((c[k] - want).abs() <= 25.0, "mean cell colour {c:?}");
    }
    // Cells are not perfect discs of one size: the black fraction varies.
    let spread = |v: &Vec<f64>| {
        let m = mean(v);
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    assert!(spread(&frac[0]) > 0.01 && spread(&frac[1]) > 0.01);
}

#[test]
fn prelim_images_match_their_labels() {
    let csv = std::fs::read_to_string(prelim_dir().join("C-NMC_test_prelim_phase_data_labels.csv"))
        .unwrap();
    let mut black = [Vec::new(), Vec::new()];
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let img = rgb(&prelim_dir().join(f[1]));
        let b = img.pixels().filter(|p| is_black(p)).count() as f64
            / (img.width() * img.height()) as f64;
        black[if f[2] == "1" { 0 } else { 1 }].push(b);
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&black[0]) < mean(&black[1]),
        "all {:?} hem {:?}",
        mean(&black[0]),
        mean(&black[1])
    );
}

#[test]
fn errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not_a_folder");
    std::fs::write(&blocker, b"x").unwrap();
    let out = blocker.join("samples");
    let err = generate(&out).expect_err("writing under a file must fail");
    let msg = format!("{err}");
    assert!(msg.contains("cannot"), "{msg}");
    assert!(msg.contains(&blocker.display().to_string()), "{msg}");
}
