//! Datasets: layout detection and scanning, decoding, the on-disk image cache, the seeded
//! base split, batch loading, the C-NMC labels CSV and the synthetic sample-data generator.

pub mod cache;
pub mod decode;
pub mod labels;
pub mod loader;
pub mod scan;
pub mod split;
pub mod stats;
pub mod synth;

pub use scan::{ClassInfo, Dataset, Layout, Sample, ScanOptions, SkippedFile, scan};

/// BloodShot drops base classes with fewer images than this.
pub const DEFAULT_MIN_CLASS_SIZE: usize = 30;
