//! Dataset statistics shown by `bloodshot stats` and the console's Data tab.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::scan::{
    ClassInfo, Dataset, Layout, ScanError, ScanOptions, SkippedFile, find_duplicates, scan_all,
};

/// Everything known about a dataset folder without decoding it fully.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetStats {
    /// Folder.
    pub root: PathBuf,
    /// Layout detected.
    pub layout: Layout,
    /// Every class seen: count, kept or dropped and why, subjects.
    pub classes: Vec<ClassInfo>,
    /// Usable images in kept classes.
    pub usable_images: usize,
    /// Files skipped and why.
    pub skipped: Vec<SkippedFile>,
    /// Formats seen (by content).
    pub formats: BTreeMap<String, usize>,
    /// Sizes seen.
    pub sizes: BTreeMap<String, usize>,
    /// Parts (`fold_0`, `test`…) with counts.
    pub parts: BTreeMap<String, usize>,
    /// Groups of byte-identical files.
    pub duplicate_groups: Vec<Vec<PathBuf>>,
    /// Train/val/test sizes of the seeded 70/10/20 split (base sets).
    pub split_sizes: Option<[usize; 3]>,
    /// Remarks (labels CSV problems…).
    pub warnings: Vec<String>,
    /// The scan's minimum class size: a class with fewer readable images is dropped.
    #[serde(default)]
    pub min_class_size: usize,
}

/// Progress of a stats computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsPhase {
    /// Probing headers.
    Scanning,
    /// Hashing same-length files.
    Hashing,
}

/// Scans a folder and computes its statistics; `split_seed` adds the base split sizes.
pub fn dataset_stats(
    root: &Path,
    opts: &ScanOptions,
    split_seed: Option<u64>,
    progress: &mut dyn FnMut(StatsPhase, usize, usize),
) -> Result<(Dataset, DatasetStats), ScanError> {
    // Statistics show a folder whose classes are all too small too, and say so.
    let ds = scan_all(root, opts, &mut |d, t| progress(StatsPhase::Scanning, d, t))?;
    let mut all: Vec<&Path> = ds.samples.iter().map(|s| s.path.as_path()).collect();
    all.sort();
    let duplicate_groups = find_duplicates(&all, &mut |d, t| progress(StatsPhase::Hashing, d, t));
    let split_sizes = split_seed.map(|seed| {
        let sp = super::split::split(&ds.labels(), ds.classes.len(), seed);
        [sp.train.len(), sp.val.len(), sp.test.len()]
    });
    let mut warnings = ds.warnings.clone();
    if ds.classes.is_empty() {
        let why = super::scan::too_small(opts.min_class_size);
        warnings.push(format!("nothing can train on this folder: {why}"));
    }
    let stats = DatasetStats {
        root: ds.root.clone(),
        layout: ds.layout,
        classes: ds.class_table.clone(),
        usable_images: ds.samples.len(),
        skipped: ds.skipped.clone(),
        formats: ds.formats.clone(),
        sizes: ds.sizes.clone(),
        parts: ds.parts(),
        duplicate_groups,
        split_sizes,
        warnings,
        min_class_size: opts.min_class_size,
    };
    Ok((ds, stats))
}
