//! Deterministic synthetic sample datasets.
//!
//! The real datasets (AML-Cytomorphology_LMU and C-NMC 2019) cannot be shipped, so this
//! module draws synthetic cells that imitate their look while keeping the real folder
//! layouts, file names and file formats:
//!
//! * `out/aml/<CLASS>/<CLASS>_NNNN.tiff` — 15 classes, RGBA 8-bit TIFF, pale pink-white
//!   background, one centred leukocyte with class-typical size, nucleus shape and granules,
//!   and a few pink red blood cells around it (some cut by the border);
//! * `out/cnmc/C-NMC_training_data/fold_{0,1}/{all,hem}/UID_*.bmp` — 24-bit BMP with the
//!   54-byte BITMAPINFOHEADER header, one segmented purple cell on pure black;
//! * `out/cnmc/C-NMC_test_prelim_phase_data/<n>.bmp` — 24-bit BMP with a hand-written
//!   138-byte BITMAPV5HEADER header, plus the labels CSV in the same folder.
//!
//! Every image is drawn from its own `ChaCha8Rng` seeded from a hash of a fixed key (tree,
//! class/folder and file name), so the output never depends on iteration order, time or
//! hash-map order: two runs write byte-identical files.
//!
//! Sizes: the `image` crate's TIFF encoder writes uncompressed strips only (it exposes no
//! compression setting), so a 96 px RGBA TIFF costs ~37 KB and 436 of them would exceed the
//! 10 MB budget. The AML and C-NMC images are therefore drawn at [`AML_SIZE`] and
//! [`CNMC_SIZE`] (64 px); the whole tree is ≈ 9.3 MB.

use std::fs;
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod aml;
mod aml_look;
mod cnmc;
mod draw;
mod encode;

pub use encode::encode_bmp_v5;

/// What `generate` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSummary {
    /// Number of files written (images and CSV).
    pub files: usize,
    /// Total bytes written.
    pub bytes: u64,
}

/// Default image side in pixels.
pub const SAMPLE_SIZE: u32 = 96;

/// Side in pixels of the synthetic AML TIFF images (smaller than [`SAMPLE_SIZE`] because
/// the `image` crate writes uncompressed TIFF and the tree must stay under 10 MB).
pub const AML_SIZE: u32 = 64;

/// Side in pixels of the synthetic C-NMC BMP images (training and preliminary test).
pub const CNMC_SIZE: u32 = 64;

/// The 15 AML-Cytomorphology_LMU classes and how many synthetic images each gets
/// (imbalanced like the real data, scaled down; MOB, PMB, KSC, MMZ and LYA fall under 30).
pub const AML_CLASSES: [(&str, usize); 15] = [
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

/// Name of the C-NMC training folder under `out/cnmc/`.
pub const CNMC_TRAIN_DIR: &str = "C-NMC_training_data";
/// Name of the C-NMC preliminary-test folder under `out/cnmc/`.
pub const CNMC_PRELIM_DIR: &str = "C-NMC_test_prelim_phase_data";
/// Name of the labels CSV inside [`CNMC_PRELIM_DIR`].
pub const CNMC_PRELIM_LABELS: &str = "C-NMC_test_prelim_phase_data_labels.csv";
/// Number of preliminary-test images (`1.bmp` ..= `40.bmp`).
pub const CNMC_PRELIM_COUNT: usize = 40;

/// Writes the whole sample tree under `out` (creating folders), deterministically: running it twice gives byte-identical files.
pub fn generate(out: &Path) -> Result<SynthSummary, SynthError> {
    let mut summary = SynthSummary { files: 0, bytes: 0 };
    aml::generate_aml(&out.join("aml"), &mut summary)?;
    cnmc::generate_cnmc(&out.join("cnmc"), &mut summary)?;
    Ok(summary)
}

// ---------------------------------------------------------------------------------------
// File helpers
// ---------------------------------------------------------------------------------------

/// Why the sample tree could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A folder could not be created.
    #[error("cannot create sample folder {}: {source}", path.display())]
    Folder {
        /// The folder.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {what} {}: {source}", path.display())]
    Write {
        /// What it is (`sample image`, `labels CSV`).
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("cannot encode sample image {}: {source}", path.display())]
    Encode {
        /// The file it was for.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: image::ImageError,
    },
}

fn make_dir(dir: &Path) -> Result<(), SynthError> {
    fs::create_dir_all(dir).map_err(|source| SynthError::Folder {
        path: dir.to_path_buf(),
        source,
    })
}

fn write_file(
    path: &Path,
    bytes: &[u8],
    what: &'static str,
    summary: &mut SynthSummary,
) -> Result<(), SynthError> {
    fs::write(path, bytes).map_err(|source| SynthError::Write {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    summary.files += 1;
    summary.bytes += bytes.len() as u64;
    Ok(())
}

/// FNV-1a over a fixed-prefixed key: the per-file seed.
fn seed_for(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "bloodshot-synth/v1/".bytes().chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn rng_for(key: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed_for(key))
}
