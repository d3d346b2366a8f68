//! Finding images, their labels (always the class folder name) and the dataset layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::decode;
use super::labels;

/// The 15 class codes of AML-Cytomorphology_LMU.
pub const AML_CLASSES: [&str; 15] = [
    "BAS", "EBO", "EOS", "KSC", "LYA", "LYT", "MMZ", "MOB", "MON", "MYB", "MYO", "NGB", "NGS",
    "PMB", "PMO",
];

const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff"];

/// How the images are laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// AML-Cytomorphology_LMU: `BAS/BAS_0001.tiff` (at least half the class folders are its codes;
    /// the images may be any format).
    Aml,
    /// Any folder of class folders of images.
    ClassFolders,
    /// C-NMC 2019: `C-NMC_training_data/fold_*/{all,hem}` (+ preliminary test set).
    Cnmc,
}

impl Layout {
    /// Human name.
    pub fn describe(self) -> &'static str {
        match self {
            Layout::Aml => "AML-Cytomorphology_LMU (class folders of its codes)",
            Layout::ClassFolders => "class folders of images",
            Layout::Cnmc => "C-NMC 2019 (folds of all/hem)",
        }
    }
}

/// One usable image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Where the file is.
    pub path: PathBuf,
    /// Index into `Dataset::classes`.
    pub class: usize,
    /// Subject (patient) id where the layout carries one (C-NMC).
    pub subject: Option<String>,
    /// Part of the dataset: `fold_0`…, `test` (C-NMC), empty otherwise.
    pub part: String,
    /// Width and height from the file header.
    pub dims: (u32, u32),
}

/// A class seen on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassInfo {
    /// Folder name = label.
    pub name: String,
    /// Readable images found.
    pub count: usize,
    /// Kept for training/evaluation.
    pub kept: bool,
    /// Why not kept (empty when kept).
    pub note: String,
    /// Distinct subjects (C-NMC).
    pub subjects: usize,
}

/// A file that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// One sentence.
    pub reason: String,
}

/// Options of a scan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanOptions {
    /// Drop classes with fewer images (BloodShot: 30).
    pub min_class_size: usize,
    /// Keep at most this many images per class (quick experiments), chosen deterministically.
    pub limit_per_class: Option<usize>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            min_class_size: super::DEFAULT_MIN_CLASS_SIZE,
            limit_per_class: None,
        }
    }
}

/// A scanned dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dataset {
    /// Folder given by the user.
    pub root: PathBuf,
    /// Detected layout.
    pub layout: Layout,
    /// Kept class names; `Sample::class` indexes this.
    pub classes: Vec<String>,
    /// Usable images of kept classes, sorted by path.
    pub samples: Vec<Sample>,
    /// Every class seen, kept or not.
    pub class_table: Vec<ClassInfo>,
    /// Files not used, with the reason.
    pub skipped: Vec<SkippedFile>,
    /// Image formats seen (by content), with counts.
    pub formats: BTreeMap<String, usize>,
    /// Image sizes seen (`WxH`), with counts.
    pub sizes: BTreeMap<String, usize>,
    /// Non-fatal remarks (labels CSV naming missing files…).
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Class label of each sample.
    pub fn labels(&self) -> Vec<usize> {
        self.samples.iter().map(|s| s.class).collect()
    }

    /// Indices of the samples in a part (`fold_0`, `test`…).
    pub fn part_indices(&self, part: &str) -> Vec<usize> {
        (0..self.samples.len())
            .filter(|&i| self.samples[i].part == part)
            .collect()
    }

    /// Parts present, with counts.
    pub fn parts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for s in &self.samples {
            *m.entry(s.part.clone()).or_insert(0) += 1;
        }
        m
    }

    /// True when a labelled held-out test set is present (C-NMC preliminary test).
    pub fn has_labelled_test(&self) -> bool {
        self.samples.iter().any(|s| s.part == "test")
    }
}

/// Scan errors that stop the scan (everything else is skipped and counted).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The folder is missing or unreadable.
    #[error("dataset folder {0} does not exist or is not a folder")]
    NotAFolder(PathBuf),
    /// Reading a folder failed.
    #[error("cannot read folder {0}: {1}")]
    Unreadable(PathBuf, String),
    /// No class had enough images.
    #[error("{0}: {1}")]
    Unusable(PathBuf, String),
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, ScanError> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| ScanError::Unreadable(dir.into(), e.to_string()))?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

fn is_image_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where the C-NMC training folds live, if `root` is (or contains) a C-NMC tree.
fn find_cnmc_training(root: &Path) -> Option<PathBuf> {
    let is_training = |p: &Path| {
        p.is_dir()
            && read_dir_sorted(p)
                .map(|v| {
                    v.iter()
                        .any(|c| c.is_dir() && name_of(c).starts_with("fold_"))
                })
                .unwrap_or(false)
    };
    if is_training(root) {
        return Some(root.to_path_buf());
    }
    let mut frontier = vec![root.to_path_buf()];
    for _depth in 0..2 {
        let mut next = Vec::new();
        for dir in &frontier {
            for c in read_dir_sorted(dir).unwrap_or_default() {
                if !c.is_dir() {
                    continue;
                }
                let n = name_of(&c);
                if (n == "C-NMC_training_data" || n == "training_data") && is_training(&c) {
                    return Some(c);
                }
                next.push(c);
            }
        }
        frontier = next;
    }
    None
}

/// The preliminary-test folder and its labels CSV, searched near the C-NMC root.
fn find_cnmc_test(root: &Path) -> Option<(PathBuf, Option<PathBuf>)> {
    let mut frontier = vec![root.to_path_buf()];
    for _depth in 0..3 {
        let mut next = Vec::new();
        for dir in &frontier {
            for c in read_dir_sorted(dir).unwrap_or_default() {
                if !c.is_dir() {
                    continue;
                }
                if name_of(&c) == "C-NMC_test_prelim_phase_data" {
                    const CSV: &str = "C-NMC_test_prelim_phase_data_labels.csv";
                    let inside = c.join(CSV);
                    let beside = c.parent().map(|p| p.join(CSV));
                    let csv = if inside.is_file() {
                        Some(inside)
                    } else {
                        beside.filter(|b| b.is_file())
                    };
                    return Some((c, csv));
                }
                next.push(c);
            }
        }
        frontier = next;
    }
    None
}

/// A found file with its header dimensions.
type Probed = (Found, (u32, u32));

struct Found {
    path: PathBuf,
    class: String,
    subject: Option<String>,
    part: String,
}

/// Scans a dataset folder. `progress(done, total)` is called while headers are probed.
/// A folder none of whose classes reaches `opts.min_class_size` is an error: nothing could
/// train or be evaluated on it.
pub fn scan(
    root: &Path,
    opts: &ScanOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Dataset, ScanError> {
    let ds = scan_all(root, opts, progress)?;
    if ds.classes.is_empty() {
        return Err(ScanError::Unusable(
            root.to_path_buf(),
            too_small(opts.min_class_size),
        ));
    }
    Ok(ds)
}

/// "no class has at least N readable images; …": why a folder with classes is unusable.
/// At a minimum of one image (a k-shot target's scan) no lower minimum would help, so the
/// sentence says what the folder lacks instead.
pub fn too_small(min_class_size: usize) -> String {
    if min_class_size <= 1 {
        return "no class folder holds a readable image (a dataset is a folder of class folders of images, or C-NMC 2019's C-NMC_training_data/fold_*/{all,hem})".into();
    }
    format!(
        "no class has at least {min_class_size} readable images; lower --min-class-size to use smaller classes"
    )
}

/// [`scan`], but a folder whose classes are all under the minimum size is returned with no
/// class kept (every class in `class_table`, dropped), for statistics that show it anyway.
pub fn scan_all(
    root: &Path,
    opts: &ScanOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Dataset, ScanError> {
    if !root.is_dir() {
        return Err(ScanError::NotAFolder(root.to_path_buf()));
    }
    let mut l = Listing::default();
    let layout = if let Some(training) = find_cnmc_training(root) {
        list_cnmc_training(&training, &mut l)?;
        list_cnmc_test(root, &mut l)?;
        Layout::Cnmc
    } else {
        list_class_folders(root, &mut l)?
    };
    let Listing {
        found,
        mut skipped,
        warnings,
        class_folders,
    } = l;
    let (readable, formats, sizes) = probe_all(found, &mut skipped, progress);
    let (class_table, classes, mut samples) = keep_classes(readable, class_folders, opts);
    samples.sort_by(|a, b| a.path.cmp(&b.path));
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    if class_table.is_empty() {
        return Err(ScanError::Unusable(
            root.to_path_buf(),
            "no class folders with images found (expected one folder per class, or a C-NMC tree)"
                .into(),
        ));
    }
    Ok(Dataset {
        root: root.to_path_buf(),
        layout,
        classes,
        samples,
        class_table,
        skipped,
        formats,
        sizes,
        warnings,
    })
}

/// What a scan finds before probing: candidate images, files skipped and why, warnings,
/// and every class folder seen (so a folder without a readable image still gets a row).
#[derive(Default)]
struct Listing {
    found: Vec<Found>,
    skipped: Vec<SkippedFile>,
    warnings: Vec<String>,
    class_folders: Vec<String>,
}

/// The C-NMC training tree: `fold_*/<class>/*.bmp`.
fn list_cnmc_training(training: &Path, l: &mut Listing) -> Result<(), ScanError> {
    for fold in read_dir_sorted(training)? {
        let fold_name = name_of(&fold);
        if !fold.is_dir() || !fold_name.starts_with("fold_") {
            continue;
        }
        for class_dir in read_dir_sorted(&fold)? {
            if !class_dir.is_dir() {
                continue;
            }
            let class = name_of(&class_dir);
            for f in read_dir_sorted(&class_dir)? {
                if f.is_file() && is_image_name(&f) {
                    l.found.push(Found {
                        subject: labels::subject_of(&name_of(&f)),
                        path: f,
                        class: class.clone(),
                        part: fold_name.clone(),
                    });
                } else if f.is_file() {
                    l.skipped.push(SkippedFile {
                        path: f,
                        reason: "not an image file name".into(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The C-NMC preliminary test folder with its labels CSV, when there is one.
fn list_cnmc_test(root: &Path, l: &mut Listing) -> Result<(), ScanError> {
    if let Some((test_dir, csv)) = find_cnmc_test(root) {
        match csv {
            None => l.warnings.push(format!(
                "{}: no C-NMC_test_prelim_phase_data_labels.csv inside or beside it, so the preliminary test set is not used",
                test_dir.display()
            )),
            Some(csv) => {
                let rows = std::fs::read_to_string(&csv)
                    .map_err(|e| format!("cannot read {}: {e}", csv.display()))
                    .and_then(|t| labels::parse(&t, &csv).map_err(|e| e.to_string()));
                match rows {
                    Err(e) => l.warnings.push(format!("{e}; the preliminary test set is not used")),
                    Ok(rows) => {
                        let listed: std::collections::BTreeSet<&str> =
                            rows.iter().map(|r| r.new_name.as_str()).collect();
                        for r in &rows {
                            let p = test_dir.join(&r.new_name);
                            if !p.is_file() {
                                l.warnings.push(format!(
                                    "{}: lists `{}`, which is not in {}",
                                    csv.display(),
                                    r.new_name,
                                    test_dir.display()
                                ));
                                continue;
                            }
                            l.found.push(Found {
                                path: p,
                                class: if r.is_all { "all" } else { "hem" }.into(),
                                subject: labels::subject_of(&r.patient_id),
                                part: "test".into(),
                            });
                        }
                        for f in read_dir_sorted(&test_dir)? {
                            if f.is_file() && is_image_name(&f) && !listed.contains(name_of(&f).as_str()) {
                                l.skipped.push(SkippedFile {
                                    path: f,
                                    reason: format!("has no label in {}", csv.display()),
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// One folder per class (AML-Cytomorphology or any such tree); says which layout it is.
fn list_class_folders(root: &Path, l: &mut Listing) -> Result<Layout, ScanError> {
    let mut class_dirs = Vec::new();
    for c in read_dir_sorted(root)? {
        if c.is_dir() {
            class_dirs.push(c);
        } else if c.is_file() && is_image_name(&c) {
            l.skipped.push(SkippedFile {
                path: c,
                reason: "image outside a class folder (the label is the folder name)".into(),
            });
        }
    }
    let aml_like = class_dirs
        .iter()
        .filter(|d| AML_CLASSES.contains(&name_of(d).as_str()))
        .count();
    let layout = if !class_dirs.is_empty() && aml_like * 2 >= class_dirs.len() {
        Layout::Aml
    } else {
        Layout::ClassFolders
    };
    for dir in class_dirs {
        let class = name_of(&dir);
        l.class_folders.push(class.clone());
        for f in read_dir_sorted(&dir)? {
            if f.is_file() && is_image_name(&f) {
                // C-NMC-style names carry the subject even outside the C-NMC tree.
                l.found.push(Found {
                    subject: labels::subject_of(&name_of(&f)),
                    path: f,
                    class: class.clone(),
                    part: String::new(),
                });
            } else if f.is_file() && !name_of(&f).starts_with('.') {
                l.skipped.push(SkippedFile {
                    path: f,
                    reason: "not an image file name".into(),
                });
            }
        }
    }
    Ok(layout)
}

/// Probes every candidate's header (catches empty, non-image, truncated-BMP and absurd-size
/// files cheaply): the readable ones with their size, the formats and sizes counted.
fn probe_all(
    found: Vec<Found>,
    skipped: &mut Vec<SkippedFile>,
    progress: &mut dyn FnMut(usize, usize),
) -> (
    Vec<Probed>,
    BTreeMap<String, usize>,
    BTreeMap<String, usize>,
) {
    let total = found.len();
    let mut formats = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    let mut readable: Vec<Probed> = Vec::with_capacity(total);
    for (i, f) in found.into_iter().enumerate() {
        if i % 64 == 0 {
            progress(i, total);
        }
        match decode::probe(&f.path) {
            Ok(info) => {
                *formats.entry(info.format).or_insert(0) += 1;
                *sizes
                    .entry(format!("{}x{}", info.width, info.height))
                    .or_insert(0) += 1;
                readable.push((f, (info.width, info.height)));
            }
            Err(reason) => skipped.push(SkippedFile {
                path: f.path,
                reason: reason.to_string(),
            }),
        }
    }
    progress(total, total);

    (readable, formats, sizes)
}

/// The class table and the kept classes' samples: classes under the minimum size are
/// listed but not kept; `limit_per_class` keeps a spread over each class's sorted files.
fn keep_classes(
    readable: Vec<Probed>,
    class_folders: Vec<String>,
    opts: &ScanOptions,
) -> (Vec<ClassInfo>, Vec<String>, Vec<Sample>) {
    let mut by_class: BTreeMap<String, Vec<Probed>> = BTreeMap::new();
    for r in readable {
        by_class.entry(r.0.class.clone()).or_default().push(r);
    }
    for c in class_folders {
        by_class.entry(c).or_default();
    }
    let mut class_table = Vec::new();
    let mut classes = Vec::new();
    let mut samples = Vec::new();
    for (name, mut items) in by_class {
        let count = items.len();
        let subjects: std::collections::BTreeSet<&str> = items
            .iter()
            .filter_map(|(f, _)| f.subject.as_deref())
            .collect();
        let n_subjects = subjects.len();
        let (kept, note) = if count == 0 {
            (false, "no readable images".to_string())
        } else if count < opts.min_class_size {
            (
                false,
                format!("{count} < {} images (min class size)", opts.min_class_size),
            )
        } else {
            (true, String::new())
        };
        class_table.push(ClassInfo {
            name: name.clone(),
            count,
            kept,
            note,
            subjects: n_subjects,
        });
        if !kept {
            continue;
        }
        let class = classes.len();
        classes.push(name);
        if let Some(limit) = opts.limit_per_class {
            // Keep a spread over the sorted list rather than the first files (often one subject).
            if items.len() > limit && limit > 0 {
                let step = items.len() as f64 / limit as f64;
                let picked: Vec<usize> = (0..limit).map(|i| (i as f64 * step) as usize).collect();
                let mut keep = vec![false; items.len()];
                for p in picked {
                    keep[p] = true;
                }
                let mut k = keep.into_iter();
                items.retain(|_| k.next().unwrap_or(false));
            }
        }
        for (f, dims) in items {
            samples.push(Sample {
                path: f.path,
                class,
                subject: f.subject,
                part: f.part,
                dims,
            });
        }
    }
    (class_table, classes, samples)
}

/// Groups of byte-identical files (sha256), each sorted, only groups of two or more.
/// Files are hashed only when another file has the same length.
pub fn find_duplicates(
    paths: &[&Path],
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<Vec<PathBuf>> {
    use sha2::{Digest, Sha256};
    let mut by_len: BTreeMap<u64, Vec<&Path>> = BTreeMap::new();
    for p in paths {
        if let Ok(m) = std::fs::metadata(p) {
            by_len.entry(m.len()).or_default().push(p);
        }
    }
    let candidates: Vec<&Path> = by_len
        .values()
        .filter(|v| v.len() > 1)
        .flatten()
        .copied()
        .collect();
    let mut by_hash: BTreeMap<[u8; 32], Vec<PathBuf>> = BTreeMap::new();
    for (i, p) in candidates.iter().enumerate() {
        if i % 32 == 0 {
            progress(i, candidates.len());
        }
        if let Ok(bytes) = std::fs::read(p) {
            let h: [u8; 32] = Sha256::digest(&bytes).into();
            by_hash.entry(h).or_default().push(p.to_path_buf());
        }
    }
    progress(candidates.len(), candidates.len());
    let mut groups: Vec<Vec<PathBuf>> = by_hash
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    groups.sort();
    groups
}
