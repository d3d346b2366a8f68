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

use std::f32::consts::PI;
use std::fs;
use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result};
use image::{ExtendedColorType, ImageEncoder, RgbImage, RgbaImage};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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

/// Training subjects per fold: (fold folder, `all` subject ids, `hem` subject ids).
const CNMC_FOLDS: [(&str, [u32; 4], [u32; 3]); 2] = [
    ("fold_0", [1, 2, 3, 4], [1, 2, 3]),
    ("fold_1", [5, 6, 7, 8], [4, 5, 6]),
];
/// Images per subject and cells per image in the training folds.
const ALL_IMAGES: u32 = 5;
const HEM_IMAGES: u32 = 4;
const CELLS: u32 = 2;
/// This `hem` subject is spelled with a lower-case `h` (`UID_h6_...`) like part of the real fold_2.
const LOWERCASE_HEM_SUBJECT: u32 = 6;
/// The cross-fold byte-identical duplicate: (source fold, source name) copied to (fold, name).
const DUPLICATE: (&str, &str, &str, &str) =
    ("fold_0", "UID_1_1_1_all.bmp", "fold_1", "UID_8_5_2_all.bmp");

/// Writes the whole sample tree under `out` (creating folders), deterministically: running it twice gives byte-identical files.
pub fn generate(out: &Path) -> Result<SynthSummary> {
    let mut summary = SynthSummary { files: 0, bytes: 0 };
    generate_aml(&out.join("aml"), &mut summary)?;
    generate_cnmc(&out.join("cnmc"), &mut summary)?;
    Ok(summary)
}

// ---------------------------------------------------------------------------------------
// File helpers
// ---------------------------------------------------------------------------------------

fn make_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create sample folder {}", dir.display()))
}

fn write_file(path: &Path, bytes: &[u8], what: &str, summary: &mut SynthSummary) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("cannot write {what} {}", path.display()))?;
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

fn encode_tiff(img: &RgbaImage) -> std::result::Result<Vec<u8>, image::ImageError> {
    let mut buf = Cursor::new(Vec::new());
    image::codecs::tiff::TiffEncoder::new(&mut buf).write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgba8,
    )?;
    Ok(buf.into_inner())
}

fn encode_bmp_info(img: &RgbImage) -> std::result::Result<Vec<u8>, image::ImageError> {
    let mut buf = Vec::new();
    image::codecs::bmp::BmpEncoder::new(&mut buf).write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgb8,
    )?;
    Ok(buf)
}

/// Encodes an RGB image as a 24-bit uncompressed BMP with a BITMAPV5HEADER: a 14-byte file
/// header plus a 124-byte info header (pixel data at offset 138), bottom-up BGR rows padded
/// to a multiple of 4 bytes, sRGB colour space. This is the header the real C-NMC
/// preliminary-test images carry.
pub fn encode_bmp_v5(img: &RgbImage) -> Vec<u8> {
    const HEADER: u32 = 14 + 124;
    let (w, h) = (img.width(), img.height());
    let stride = (w * 3).div_ceil(4) * 4;
    let data_size = stride * h;
    let mut b = Vec::with_capacity((HEADER + data_size) as usize);
    let u16le = |b: &mut Vec<u8>, v: u16| b.extend_from_slice(&v.to_le_bytes());
    let u32le = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
    // BITMAPFILEHEADER
    b.extend_from_slice(b"BM");
    u32le(&mut b, HEADER + data_size); // file size
    u32le(&mut b, 0); // reserved
    u32le(&mut b, HEADER); // pixel data offset
    // BITMAPV5HEADER
    u32le(&mut b, 124); // header size
    u32le(&mut b, w); // width (i32)
    u32le(&mut b, h); // height (i32, positive: bottom-up)
    u16le(&mut b, 1); // planes
    u16le(&mut b, 24); // bits per pixel
    u32le(&mut b, 0); // BI_RGB
    u32le(&mut b, data_size); // image size
    u32le(&mut b, 2835); // x pixels per metre (72 dpi)
    u32le(&mut b, 2835); // y pixels per metre
    u32le(&mut b, 0); // colours used
    u32le(&mut b, 0); // important colours
    for _ in 0..4 {
        u32le(&mut b, 0); // R, G, B, A masks (unused with BI_RGB)
    }
    u32le(&mut b, 0x7352_4742); // LCS_sRGB ('sRGB')
    b.extend_from_slice(&[0u8; 36]); // CIEXYZTRIPLE endpoints
    for _ in 0..3 {
        u32le(&mut b, 0); // gamma R, G, B
    }
    u32le(&mut b, 4); // LCS_GM_IMAGES
    u32le(&mut b, 0); // profile data
    u32le(&mut b, 0); // profile size
    u32le(&mut b, 0); // reserved
    debug_assert_eq!(b.len(), HEADER as usize);
    let pad = (stride - w * 3) as usize;
    for y in (0..h).rev() {
        for x in 0..w {
            let p = img.get_pixel(x, y).0;
            b.extend_from_slice(&[p[2], p[1], p[0]]);
        }
        b.extend(std::iter::repeat_n(0u8, pad));
    }
    b
}

// ---------------------------------------------------------------------------------------
// Drawing primitives
// ---------------------------------------------------------------------------------------

type Rgb = [f32; 3];

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<Rgb>,
}

impl Canvas {
    fn new(side: u32, fill: Rgb) -> Self {
        let s = side as usize;
        Canvas {
            w: s,
            h: s,
            px: vec![fill; s * s],
        }
    }

    /// Visits every pixel centre (x + 0.5, y + 0.5).
    fn for_each(&mut self, mut f: impl FnMut(f32, f32, &mut Rgb)) {
        for y in 0..self.h {
            for x in 0..self.w {
                let p = &mut self.px[y * self.w + x];
                f(x as f32 + 0.5, y as f32 + 0.5, p);
            }
        }
    }

    /// Visits the pixels whose centres lie in the square box around (cx, cy).
    fn for_box(&mut self, cx: f32, cy: f32, r: f32, mut f: impl FnMut(f32, f32, &mut Rgb)) {
        let x0 = (cx - r - 1.0).floor().max(0.0) as usize;
        let y0 = (cy - r - 1.0).floor().max(0.0) as usize;
        let x1 = ((cx + r + 1.0).ceil().max(0.0) as usize).min(self.w);
        let y1 = ((cy + r + 1.0).ceil().max(0.0) as usize).min(self.h);
        for y in y0..y1 {
            for x in x0..x1 {
                let p = &mut self.px[y * self.w + x];
                f(x as f32 + 0.5, y as f32 + 0.5, p);
            }
        }
    }
}

fn mix(p: &mut Rgb, c: Rgb, a: f32) {
    let a = a.clamp(0.0, 1.0);
    for i in 0..3 {
        p[i] += (c[i] - p[i]) * a;
    }
}

fn lerp3(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn scale3(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Anti-aliased coverage of a signed distance (pixels, negative inside).
fn coverage(sd: f32, soft: f32) -> f32 {
    (0.5 - sd / soft).clamp(0.0, 1.0)
}

/// Approximately standard-normal value (Irwin–Hall with 4 uniforms, rescaled).
fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    let s: f32 = (0..4).map(|_| rng.random::<f32>()).sum();
    (s - 2.0) * 3.0f32.sqrt()
}

fn jitter(rng: &mut ChaCha8Rng, c: Rgb, amount: f32) -> Rgb {
    [
        c[0] + rng.random_range(-amount..=amount),
        c[1] + rng.random_range(-amount..=amount),
        c[2] + rng.random_range(-amount..=amount),
    ]
}

/// Smooth random field on the unit square (bilinear on a lattice with smoothstep weights).
struct ValueNoise {
    n: usize,
    v: Vec<f32>,
}

impl ValueNoise {
    fn new(rng: &mut ChaCha8Rng, n: usize) -> Self {
        let n = n.max(2);
        ValueNoise {
            n,
            v: (0..n * n).map(|_| rng.random::<f32>()).collect(),
        }
    }

    /// Value in [0, 1] at (u, v) in [0, 1]² (clamped).
    fn at(&self, u: f32, v: f32) -> f32 {
        let m = (self.n - 1) as f32;
        let x = u.clamp(0.0, 1.0) * m;
        let y = v.clamp(0.0, 1.0) * m;
        let x0 = (x.floor() as usize).min(self.n - 2);
        let y0 = (y.floor() as usize).min(self.n - 2);
        let fx = smoothstep(0.0, 1.0, x - x0 as f32);
        let fy = smoothstep(0.0, 1.0, y - y0 as f32);
        let g = |i: usize, j: usize| self.v[j * self.n + i];
        let a = g(x0, y0) + (g(x0 + 1, y0) - g(x0, y0)) * fx;
        let b = g(x0, y0 + 1) + (g(x0 + 1, y0 + 1) - g(x0, y0 + 1)) * fx;
        a + (b - a) * fy
    }
}

/// A few low-frequency sinusoids in the radius: `1 + Σ a_k sin(kθ + φ_k)`.
#[derive(Clone, Copy)]
struct Wobble {
    terms: [(f32, f32, f32); 3],
}

impl Wobble {
    fn new(rng: &mut ChaCha8Rng, amp: f32) -> Self {
        let mut terms = [(0.0, 0.0, 0.0); 3];
        for (i, t) in terms.iter_mut().enumerate() {
            let k = (i + 2) as f32 + if rng.random_bool(0.5) { 1.0 } else { 0.0 };
            *t = (
                amp * rng.random_range(0.3..=1.0) / (i as f32 + 1.0),
                k,
                rng.random_range(0.0..2.0 * PI),
            );
        }
        Wobble { terms }
    }

    fn at(&self, theta: f32) -> f32 {
        1.0 + self
            .terms
            .iter()
            .map(|&(a, k, ph)| a * (k * theta + ph).sin())
            .sum::<f32>()
    }
}

/// Signed-distance primitives in a shape's local frame (pixels).
enum Prim {
    /// Wobbly ellipse centred at `c`.
    Blob {
        c: (f32, f32),
        rx: f32,
        ry: f32,
        wob: Wobble,
    },
    /// Segment `a`–`b` thickened by `r` (the thin strands between lobes).
    Capsule {
        a: (f32, f32),
        b: (f32, f32),
        r: f32,
    },
    /// Arc of radius `r` centred on the origin, spanning ±`half` around the −x axis
    /// (opening towards +x), thickness `t` (half-width), slightly varying along the arc.
    Arc { r: f32, half: f32, t: f32 },
}

impl Prim {
    fn sd(&self, x: f32, y: f32) -> f32 {
        match *self {
            Prim::Blob { c, rx, ry, wob } => {
                let (qx, qy) = (x - c.0, y - c.1);
                let th = qy.atan2(qx);
                let (ct, st) = (th.cos(), th.sin());
                let re = rx * ry / ((ry * ct).powi(2) + (rx * st).powi(2)).sqrt().max(1e-6);
                (qx * qx + qy * qy).sqrt() - re * wob.at(th)
            }
            Prim::Capsule { a, b, r } => {
                let (pax, pay) = (x - a.0, y - a.1);
                let (bax, bay) = (b.0 - a.0, b.1 - a.1);
                let h =
                    ((pax * bax + pay * bay) / (bax * bax + bay * bay).max(1e-6)).clamp(0.0, 1.0);
                ((pax - bax * h).powi(2) + (pay - bay * h).powi(2)).sqrt() - r
            }
            Prim::Arc { r, half, t } => {
                let phi = y.atan2(-x);
                let tt = t * (1.0 + 0.15 * (3.0 * phi).cos());
                if phi.abs() <= half {
                    ((x * x + y * y).sqrt() - r).abs() - tt
                } else {
                    let ex = -r * half.cos();
                    let ey = r * half.sin() * phi.signum();
                    ((x - ex).powi(2) + (y - ey).powi(2)).sqrt()
                        - t * (1.0 + 0.15 * (3.0 * half).cos())
                }
            }
        }
    }
}

/// Union of primitives, optionally with a disc cut out (kidney indent), placed and rotated.
struct Shape {
    cx: f32,
    cy: f32,
    cos: f32,
    sin: f32,
    prims: Vec<Prim>,
    cut: Option<(f32, f32, f32)>,
}

impl Shape {
    fn new(cx: f32, cy: f32, rot: f32, prims: Vec<Prim>) -> Self {
        Shape {
            cx,
            cy,
            cos: rot.cos(),
            sin: rot.sin(),
            prims,
            cut: None,
        }
    }

    fn local(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        (
            dx * self.cos + dy * self.sin,
            -dx * self.sin + dy * self.cos,
        )
    }

    fn sd(&self, x: f32, y: f32) -> f32 {
        let (lx, ly) = self.local(x, y);
        let mut d = self
            .prims
            .iter()
            .map(|p| p.sd(lx, ly))
            .fold(f32::INFINITY, f32::min);
        if let Some((ccx, ccy, r)) = self.cut {
            let dc = ((lx - ccx).powi(2) + (ly - ccy).powi(2)).sqrt() - r;
            d = d.max(-dc);
        }
        d
    }
}

fn to_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

// ---------------------------------------------------------------------------------------
// AML-Cytomorphology_LMU imitation
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Nuc {
    Round,
    Oval,
    Kidney,
    Band,
    Segmented,
    Bilobed,
    BilobedWide,
    Smudge,
    Irregular,
}

#[derive(Clone, Copy)]
struct Granules {
    count: usize,
    /// Radius as a fraction of the image side.
    r: f32,
    colour: Rgb,
    alpha: f32,
    over_nucleus: bool,
}

#[derive(Clone, Copy)]
struct AmlLook {
    /// Cell radius as a fraction of the image side.
    cell_r: f32,
    nuc: Nuc,
    /// Nucleus size relative to the cell radius.
    nuc_r: f32,
    /// Nucleus centre offset relative to the cell radius (eccentricity).
    nuc_off: f32,
    /// Cytoplasm colour; `None` for the bare smudge cell.
    cyto: Option<Rgb>,
    nuc_col: Rgb,
    /// Chromatin texture strength (0 = flat).
    chromatin: f32,
    granules: Option<Granules>,
    vacuoles: usize,
    nucleoli: usize,
}

const NUC_VIOLET: Rgb = [125.0, 14.0, 186.0];
const FINE_PINK: Rgb = [198.0, 140.0, 196.0];
const AZURO: Rgb = [128.0, 30.0, 132.0];

fn aml_look(class: &str) -> AmlLook {
    let base = AmlLook {
        cell_r: 0.22,
        nuc: Nuc::Round,
        nuc_r: 0.6,
        nuc_off: 0.1,
        cyto: Some([200.0, 185.0, 220.0]),
        nuc_col: NUC_VIOLET,
        chromatin: 0.18,
        granules: None,
        vacuoles: 0,
        nucleoli: 0,
    };
    let fine = |count| Granules {
        count,
        r: 0.008,
        colour: FINE_PINK,
        alpha: 0.55,
        over_nucleus: false,
    };
    match class {
        // Basophil: lobed nucleus hidden under coarse dark purple granules.
        "BAS" => AmlLook {
            cell_r: 0.21,
            nuc: Nuc::Bilobed,
            nuc_r: 0.62,
            cyto: Some([196.0, 178.0, 214.0]),
            granules: Some(Granules {
                count: 46,
                r: 0.019,
                colour: [72.0, 22.0, 108.0],
                alpha: 0.9,
                over_nucleus: true,
            }),
            ..base
        },
        // Erythroblast: small, round very dark nucleus, deep blue cytoplasm.
        "EBO" => AmlLook {
            cell_r: 0.15,
            nuc_r: 0.6,
            nuc_off: 0.12,
            cyto: Some([86.0, 98.0, 184.0]),
            nuc_col: [92.0, 6.0, 150.0],
            chromatin: 0.1,
            ..base
        },
        // Eosinophil: bilobed nucleus, big orange-red granules.
        "EOS" => AmlLook {
            cell_r: 0.23,
            nuc: Nuc::Bilobed,
            nuc_r: 0.56,
            cyto: Some([228.0, 192.0, 182.0]),
            granules: Some(Granules {
                count: 80,
                r: 0.02,
                colour: [226.0, 104.0, 66.0],
                alpha: 0.85,
                over_nucleus: false,
            }),
            ..base
        },
        // Smudge cell: smeared violet blob, no cytoplasm.
        "KSC" => AmlLook {
            cell_r: 0.25,
            nuc: Nuc::Smudge,
            nuc_r: 1.0,
            nuc_off: 0.0,
            cyto: None,
            nuc_col: [150.0, 84.0, 198.0],
            chromatin: 0.35,
            ..base
        },
        // Atypical lymphocyte: larger, irregular nucleus, abundant blue cytoplasm.
        "LYA" => AmlLook {
            cell_r: 0.23,
            nuc: Nuc::Irregular,
            nuc_r: 0.66,
            nuc_off: 0.15,
            cyto: Some([158.0, 176.0, 228.0]),
            ..base
        },
        // Lymphocyte: small cell, big round dense nucleus, thin blue rim.
        "LYT" => AmlLook {
            cell_r: 0.15,
            nuc_r: 0.84,
            nuc_off: 0.08,
            cyto: Some([140.0, 156.0, 216.0]),
            nuc_col: [112.0, 10.0, 176.0],
            chromatin: 0.12,
            ..base
        },
        // Metamyelocyte: kidney nucleus, granular cytoplasm.
        "MMZ" => AmlLook {
            cell_r: 0.21,
            nuc: Nuc::Kidney,
            nuc_r: 0.6,
            nuc_off: 0.15,
            cyto: Some([214.0, 190.0, 214.0]),
            granules: Some(fine(60)),
            ..base
        },
        // Monoblast: very large, round nucleus, blue cytoplasm, nucleoli.
        "MOB" => AmlLook {
            cell_r: 0.29,
            nuc_r: 0.74,
            nuc_off: 0.1,
            cyto: Some([146.0, 162.0, 222.0]),
            nuc_col: [146.0, 30.0, 196.0],
            chromatin: 0.1,
            nucleoli: 2,
            ..base
        },
        // Monocyte: large, kidney/folded nucleus, grey-blue vacuolated cytoplasm.
        "MON" => AmlLook {
            cell_r: 0.27,
            nuc: Nuc::Kidney,
            nuc_r: 0.62,
            nuc_off: 0.12,
            cyto: Some([180.0, 182.0, 216.0]),
            nuc_col: [136.0, 26.0, 190.0],
            vacuoles: 7,
            ..base
        },
        // Myelocyte: oval eccentric nucleus, granular cytoplasm.
        "MYB" => AmlLook {
            cell_r: 0.22,
            nuc: Nuc::Oval,
            nuc_r: 0.56,
            nuc_off: 0.3,
            cyto: Some([210.0, 186.0, 214.0]),
            granules: Some(fine(70)),
            ..base
        },
        // Myeloblast: large, round fine-chromatin nucleus, high N:C ratio, nucleoli.
        "MYO" => AmlLook {
            cell_r: 0.25,
            nuc_r: 0.8,
            nuc_off: 0.06,
            cyto: Some([160.0, 170.0, 220.0]),
            nuc_col: [140.0, 26.0, 192.0],
            chromatin: 0.08,
            nucleoli: 2,
            ..base
        },
        // Band neutrophil: C/U-shaped band nucleus, pinkish granular cytoplasm.
        "NGB" => AmlLook {
            cell_r: 0.21,
            nuc: Nuc::Band,
            nuc_r: 0.7,
            nuc_off: 0.05,
            cyto: Some([218.0, 194.0, 216.0]),
            granules: Some(fine(55)),
            ..base
        },
        // Segmented neutrophil: 3–4 lobes, pinkish-lilac finely granular cytoplasm.
        "NGS" => AmlLook {
            cell_r: 0.21,
            nuc: Nuc::Segmented,
            nuc_r: 0.72,
            nuc_off: 0.04,
            cyto: Some([218.0, 192.0, 216.0]),
            granules: Some(fine(55)),
            ..base
        },
        // Bilobed promyelocyte: wide lobes, coarse azurophilic granules.
        "PMB" => AmlLook {
            cell_r: 0.25,
            nuc: Nuc::BilobedWide,
            nuc_r: 0.62,
            cyto: Some([190.0, 176.0, 222.0]),
            granules: Some(Granules {
                count: 36,
                r: 0.014,
                colour: AZURO,
                alpha: 0.8,
                over_nucleus: false,
            }),
            ..base
        },
        // Promyelocyte: large, round eccentric nucleus, coarse azurophilic granules.
        "PMO" => AmlLook {
            cell_r: 0.26,
            nuc_r: 0.6,
            nuc_off: 0.2,
            cyto: Some([190.0, 176.0, 222.0]),
            nucleoli: 1,
            granules: Some(Granules {
                count: 50,
                r: 0.014,
                colour: AZURO,
                alpha: 0.8,
                over_nucleus: false,
            }),
            ..base
        },
        _ => base,
    }
}

fn generate_aml(dir: &Path, summary: &mut SynthSummary) -> Result<()> {
    for (class, count) in AML_CLASSES {
        let class_dir = dir.join(class);
        make_dir(&class_dir)?;
        for i in 1..=count {
            let name = format!("{class}_{i:04}.tiff");
            let path = class_dir.join(&name);
            let mut rng = rng_for(&format!("aml/{class}/{name}"));
            let img = render_aml(&mut rng, class, AML_SIZE);
            let bytes = encode_tiff(&img)
                .with_context(|| format!("cannot encode sample image {}", path.display()))?;
            write_file(&path, &bytes, "sample image", summary)?;
        }
    }
    Ok(())
}

fn nucleus_prims(rng: &mut ChaCha8Rng, nuc: Nuc, rn: f32) -> (Vec<Prim>, Option<(f32, f32, f32)>) {
    let w = |rng: &mut ChaCha8Rng, a: f32| Wobble::new(rng, a);
    match nuc {
        Nuc::Round => (
            vec![Prim::Blob {
                c: (0.0, 0.0),
                rx: rn * 1.03,
                ry: rn * 0.97,
                wob: w(rng, 0.04),
            }],
            None,
        ),
        Nuc::Oval => {
            let a = rng.random_range(1.15..1.35);
            (
                vec![Prim::Blob {
                    c: (0.0, 0.0),
                    rx: rn * a,
                    ry: rn / a,
                    wob: w(rng, 0.04),
                }],
                None,
            )
        }
        Nuc::Kidney => {
            let body = Prim::Blob {
                c: (0.0, 0.0),
                rx: rn * 1.1,
                ry: rn * 0.92,
                wob: w(rng, 0.04),
            };
            let depth = rng.random_range(0.8..1.0);
            (
                vec![body],
                Some((
                    rn * (0.55 + depth * 0.5),
                    0.0,
                    rn * rng.random_range(0.5..0.62),
                )),
            )
        }
        Nuc::Band => {
            let half = rng.random_range(1.9..2.4);
            (
                vec![Prim::Arc {
                    r: rn * 0.72,
                    half,
                    t: rn * rng.random_range(0.24..0.3),
                }],
                None,
            )
        }
        Nuc::Segmented => {
            let lobes = if rng.random_bool(0.5) { 3 } else { 4 };
            let span = rng.random_range(3.4..4.4f32);
            let ring = rn * 0.64;
            let mut prims = Vec::new();
            let mut centres = Vec::new();
            for k in 0..lobes {
                let t = k as f32 / (lobes - 1) as f32;
                let ang = PI + (t - 0.5) * span + rng.random_range(-0.15..0.15);
                let rr = ring * rng.random_range(0.85..1.1);
                centres.push((rr * ang.cos(), rr * ang.sin()));
            }
            for (k, &c) in centres.iter().enumerate() {
                let lr = rn * rng.random_range(0.36..0.44);
                prims.push(Prim::Blob {
                    c,
                    rx: lr * 1.1,
                    ry: lr * 0.9,
                    wob: w(rng, 0.06),
                });
                if k + 1 < centres.len() {
                    prims.push(Prim::Capsule {
                        a: c,
                        b: centres[k + 1],
                        r: rn * 0.06,
                    });
                }
            }
            (prims, None)
        }
        Nuc::Bilobed | Nuc::BilobedWide => {
            let (sep, lobe, strand) = if nuc == Nuc::Bilobed {
                (0.52, 0.46, 0.08)
            } else {
                (0.42, 0.6, 0.28)
            };
            let a = (-rn * sep, rng.random_range(-0.1..0.1) * rn);
            let b = (rn * sep, rng.random_range(-0.1..0.1) * rn);
            let l1 = rn * lobe * rng.random_range(0.9..1.1);
            let l2 = rn * lobe * rng.random_range(0.9..1.1);
            (
                vec![
                    Prim::Blob {
                        c: a,
                        rx: l1,
                        ry: l1 * 0.92,
                        wob: w(rng, 0.05),
                    },
                    Prim::Blob {
                        c: b,
                        rx: l2,
                        ry: l2 * 0.92,
                        wob: w(rng, 0.05),
                    },
                    Prim::Capsule {
                        a,
                        b,
                        r: rn * strand,
                    },
                ],
                None,
            )
        }
        Nuc::Smudge => {
            let a = rng.random_range(1.1..1.35);
            let body = Prim::Blob {
                c: (0.0, 0.0),
                rx: rn * 0.8 * a,
                ry: rn * 0.8 / a,
                wob: w(rng, 0.18),
            };
            let tail = Prim::Capsule {
                a: (0.0, 0.0),
                b: (
                    rn * rng.random_range(0.8..1.05),
                    rn * rng.random_range(-0.3..0.3),
                ),
                r: rn * rng.random_range(0.25..0.4),
            };
            (vec![body, tail], None)
        }
        Nuc::Irregular => {
            let body = Prim::Blob {
                c: (0.0, 0.0),
                rx: rn * 1.08,
                ry: rn * 0.9,
                wob: w(rng, 0.13),
            };
            (vec![body], Some((rn * 1.15, rn * 0.2, rn * 0.4)))
        }
    }
}

fn render_aml(rng: &mut ChaCha8Rng, class: &str, side: u32) -> RgbaImage {
    let look = aml_look(class);
    let s = side as f32;
    // Per-image stain variation: a small shared gain on every stained colour.
    let stain = rng.random_range(0.95..1.04f32);
    let bg = jitter(rng, [237.0, 228.0, 228.0], 2.5);
    let mut canvas = Canvas::new(side, bg);

    // Uneven illumination of the background.
    let light = ValueNoise::new(rng, 4);
    canvas.for_each(|x, y, p| {
        let d = (light.at(x / s, y / s) - 0.5) * 4.0;
        for c in p.iter_mut() {
            *c += d;
        }
    });

    // The leukocyte's geometry first, so the red cells can be placed around it.
    let size = rng.random_range(0.9..1.1f32);
    let r_cell = look.cell_r * s * size;
    let cx = s / 2.0 + rng.random_range(-0.05..0.05) * s;
    let cy = s / 2.0 + rng.random_range(-0.05..0.05) * s;

    // Red blood cells: pink, biconcave (darker rim, paler centre), some cut by the border.
    let n_rbc = rng.random_range(2..=5usize);
    let rbc_rim = jitter(rng, [222.0, 156.0, 168.0], 5.0);
    let rbc_mid = jitter(rng, [234.0, 198.0, 204.0], 4.0);
    let start = rng.random_range(0.0..2.0 * PI);
    for k in 0..n_rbc {
        let rr = s * rng.random_range(0.12..0.15);
        let ang = start + k as f32 * 2.0 * PI / n_rbc as f32 + rng.random_range(-0.4..0.4);
        let dist = r_cell + rr * rng.random_range(0.5..1.5);
        let (rx, ry) = (cx + dist * ang.cos(), cy + dist * ang.sin());
        let wob = Wobble::new(rng, 0.03);
        canvas.for_box(rx, ry, rr * 1.1, |x, y, p| {
            let (dx, dy) = (x - rx, y - ry);
            let d = (dx * dx + dy * dy).sqrt();
            let edge = rr * wob.at(dy.atan2(dx));
            let a = coverage(d - edge, 1.2);
            let t = smoothstep(0.25, 0.85, d / edge);
            mix(p, lerp3(rbc_mid, rbc_rim, t), a * 0.95);
        });
    }

    // The leukocyte body (cytoplasm).
    let cell = Shape::new(
        cx,
        cy,
        0.0,
        vec![Prim::Blob {
            c: (0.0, 0.0),
            rx: r_cell * rng.random_range(0.95..1.05),
            ry: r_cell * rng.random_range(0.95..1.05),
            wob: Wobble::new(rng, 0.035),
        }],
    );
    let cyto_tex = ValueNoise::new(rng, 6);
    if let Some(cyto) = look.cyto {
        let cyto = scale3(jitter(rng, cyto, 6.0), stain);
        canvas.for_box(cx, cy, r_cell * 1.3, |x, y, p| {
            let a = coverage(cell.sd(x, y), 1.3);
            let t = 0.93 + 0.12 * cyto_tex.at(x / s, y / s);
            mix(p, scale3(cyto, t), a);
        });
    }

    // Nucleus geometry.
    let off_ang = rng.random_range(0.0..2.0 * PI);
    let off = look.nuc_off * r_cell * rng.random_range(0.6..1.0);
    let (ncx, ncy) = (cx + off * off_ang.cos(), cy + off * off_ang.sin());
    let rn = look.nuc_r * r_cell * rng.random_range(0.95..1.05);
    let (prims, cut) = nucleus_prims(rng, look.nuc, rn);
    let mut nucleus = Shape::new(ncx, ncy, rng.random_range(0.0..2.0 * PI), prims);
    nucleus.cut = cut;
    let cell_cov = |x: f32, y: f32| coverage(cell.sd(x, y), 1.3);

    // Granules under the nucleus, and vacuoles.
    let draw_granules = |canvas: &mut Canvas, g: Granules, rng: &mut ChaCha8Rng| {
        let colour = scale3(jitter(rng, g.colour, 6.0), stain);
        for _ in 0..g.count {
            let rad = r_cell * 0.93 * rng.random::<f32>().sqrt();
            let ang = rng.random_range(0.0..2.0 * PI);
            let (gx, gy) = (cx + rad * ang.cos(), cy + rad * ang.sin());
            let gr = g.r * s * rng.random_range(0.7..1.3);
            let ga = g.alpha * rng.random_range(0.7..1.0);
            canvas.for_box(gx, gy, gr, |x, y, p| {
                let d = ((x - gx).powi(2) + (y - gy).powi(2)).sqrt() - gr;
                mix(p, colour, coverage(d, 0.9) * ga * cell_cov(x, y));
            });
        }
    };
    if let Some(g) = look.granules.filter(|g| !g.over_nucleus) {
        draw_granules(&mut canvas, g, rng);
    }
    for _ in 0..look.vacuoles {
        let rad = r_cell * rng.random_range(0.55..0.9);
        let ang = rng.random_range(0.0..2.0 * PI);
        let (vx, vy) = (cx + rad * ang.cos(), cy + rad * ang.sin());
        let vr = s * rng.random_range(0.012..0.025);
        canvas.for_box(vx, vy, vr, |x, y, p| {
            let d = ((x - vx).powi(2) + (y - vy).powi(2)).sqrt() - vr;
            mix(
                p,
                [232.0, 230.0, 240.0],
                coverage(d, 1.0) * 0.7 * cell_cov(x, y),
            );
        });
    }

    // The nucleus with chromatin texture.
    let nuc_col = scale3(
        [
            look.nuc_col[0] + rng.random_range(-12.0..12.0),
            look.nuc_col[1] + rng.random_range(-8.0..8.0),
            look.nuc_col[2] + rng.random_range(-8.0..8.0),
        ],
        stain,
    );
    let chrom = ValueNoise::new(rng, 10);
    let streak = look.nuc == Nuc::Smudge;
    let nuc_alpha = if streak { 0.85 } else { 1.0 };
    canvas.for_box(ncx, ncy, r_cell * 1.4, |x, y, p| {
        let a = coverage(nucleus.sd(x, y), 1.1) * nuc_alpha;
        if a <= 0.0 {
            return;
        }
        let (u, v) = if streak {
            let (lx, ly) = nucleus.local(x, y);
            ((lx / s + 0.5) * 0.4, ly / s * 1.6 + 0.5)
        } else {
            (x / s, y / s)
        };
        let t = 1.0 + look.chromatin * (chrom.at(u, v) - 0.5) * 2.0;
        mix(p, scale3(nuc_col, t), a);
    });
    for _ in 0..look.nucleoli {
        let rad = rn * 0.45 * rng.random::<f32>().sqrt();
        let ang = rng.random_range(0.0..2.0 * PI);
        let (ox, oy) = (ncx + rad * ang.cos(), ncy + rad * ang.sin());
        let orr = s * rng.random_range(0.018..0.028);
        canvas.for_box(ox, oy, orr, |x, y, p| {
            let d = ((x - ox).powi(2) + (y - oy).powi(2)).sqrt() - orr;
            let inside = coverage(nucleus.sd(x, y), 1.1);
            mix(p, [168.0, 112.0, 208.0], coverage(d, 1.2) * 0.55 * inside);
        });
    }
    if let Some(g) = look.granules.filter(|g| g.over_nucleus) {
        draw_granules(&mut canvas, g, rng);
    }

    // Sensor noise: shared luminance plus a little per channel.
    let mut out = RgbaImage::new(side, side);
    for (i, p) in canvas.px.iter().enumerate() {
        let lum = gauss(rng) * 1.8;
        let px = [
            to_u8(p[0] + lum + gauss(rng) * 1.2),
            to_u8(p[1] + lum + gauss(rng) * 1.2),
            to_u8(p[2] + lum + gauss(rng) * 1.2),
            255,
        ];
        out.put_pixel(
            (i % canvas.w) as u32,
            (i / canvas.w) as u32,
            image::Rgba(px),
        );
    }
    out
}

// ---------------------------------------------------------------------------------------
// C-NMC 2019 imitation
// ---------------------------------------------------------------------------------------

fn all_name(subject: u32, image: u32, cell: u32) -> String {
    format!("UID_{subject}_{image}_{cell}_all.bmp")
}

fn hem_name(subject: u32, image: u32, cell: u32) -> String {
    let h = if subject == LOWERCASE_HEM_SUBJECT {
        'h'
    } else {
        'H'
    };
    format!("UID_{h}{subject}_{image}_{cell}_hem.bmp")
}

fn cnmc_train_image(fold: &str, name: &str, all: bool) -> RgbImage {
    let mut rng = rng_for(&format!("cnmc/train/{fold}/{name}"));
    render_cnmc(&mut rng, all, CNMC_SIZE)
}

fn generate_cnmc(dir: &Path, summary: &mut SynthSummary) -> Result<()> {
    let train = dir.join(CNMC_TRAIN_DIR);
    for (fold, all_subjects, hem_subjects) in CNMC_FOLDS {
        for (class, is_all) in [("all", true), ("hem", false)] {
            let class_dir = train.join(fold).join(class);
            make_dir(&class_dir)?;
            let mut names = Vec::new();
            if is_all {
                for &s in &all_subjects {
                    for i in 1..=ALL_IMAGES {
                        for c in 1..=CELLS {
                            names.push(all_name(s, i, c));
                        }
                    }
                }
            } else {
                for &s in &hem_subjects {
                    for i in 1..=HEM_IMAGES {
                        for c in 1..=CELLS {
                            names.push(hem_name(s, i, c));
                        }
                    }
                }
            }
            for name in names {
                let path = class_dir.join(&name);
                // The deliberate cross-fold duplicate re-renders the source image exactly.
                let img = if fold == DUPLICATE.2 && name == DUPLICATE.3 {
                    cnmc_train_image(DUPLICATE.0, DUPLICATE.1, true)
                } else {
                    cnmc_train_image(fold, &name, is_all)
                };
                let bytes = encode_bmp_info(&img)
                    .with_context(|| format!("cannot encode sample image {}", path.display()))?;
                write_file(&path, &bytes, "sample image", summary)?;
            }
        }
    }

    // Preliminary test phase: anonymised n.bmp files plus the labels CSV.
    let prelim = dir.join(CNMC_PRELIM_DIR);
    make_dir(&prelim)?;
    let mut entries: Vec<(String, u8)> = Vec::new();
    for (s, n) in [(57u32, 9u32), (58, 9), (59, 9)] {
        for i in 1..=n {
            entries.push((all_name(s, 10 + 2 * i, 1 + u32::from(i % 4 == 0)), 1));
        }
    }
    for (s, n) in [(21u32, 7u32), (22, 6)] {
        for i in 1..=n {
            entries.push((
                format!("UID_H{s}_{}_{}_hem.bmp", 3 + i, 1 + u32::from(i % 3 == 0)),
                0,
            ));
        }
    }
    debug_assert_eq!(entries.len(), CNMC_PRELIM_COUNT);
    entries.shuffle(&mut rng_for("cnmc/prelim/order"));
    let mut csv = String::from("Patient_ID,new_names,labels\n");
    for (k, (patient, label)) in entries.iter().enumerate() {
        let new_name = format!("{}.bmp", k + 1);
        let mut rng = rng_for(&format!("cnmc/prelim/{patient}"));
        let img = render_cnmc(&mut rng, *label == 1, CNMC_SIZE);
        let path = prelim.join(&new_name);
        write_file(&path, &encode_bmp_v5(&img), "sample image", summary)?;
        csv.push_str(&format!("{patient},{new_name},{label}\n"));
    }
    write_file(
        &prelim.join(CNMC_PRELIM_LABELS),
        csv.as_bytes(),
        "sample labels",
        summary,
    )?;
    Ok(())
}

/// One segmented cell on pure black: hard mask edge, dark purple-magenta with chromatin
/// texture, a darker nucleus and sometimes a thin lighter cytoplasm rim.
fn render_cnmc(rng: &mut ChaCha8Rng, all: bool, side: u32) -> RgbImage {
    let s = side as f32;
    let (mean_d, sd_d, lo, hi) = if all {
        (0.52, 0.06, 0.41, 0.68)
    } else {
        (0.42, 0.05, 0.33, 0.59)
    };
    let d = (mean_d + sd_d * gauss(rng)).clamp(lo, hi);
    let r = d * s / 2.0;
    let aspect = rng.random_range(0.88..1.12f32).sqrt();
    let cx = s / 2.0 + rng.random_range(-0.04..0.04) * s;
    let cy = s / 2.0 + rng.random_range(-0.04..0.04) * s;
    let cell = Shape::new(
        cx,
        cy,
        rng.random_range(0.0..2.0 * PI),
        vec![Prim::Blob {
            c: (0.0, 0.0),
            rx: r * aspect,
            ry: r / aspect,
            wob: Wobble::new(rng, if all { 0.05 } else { 0.035 }),
        }],
    );
    let ratio = if rng.random_bool(0.5) {
        rng.random_range(0.76..0.86)
    } else {
        rng.random_range(0.9..0.97)
    };
    let off = r * rng.random_range(0.0..0.1);
    let off_ang = rng.random_range(0.0..2.0 * PI);
    let nucleus = Shape::new(
        cx + off * off_ang.cos(),
        cy + off * off_ang.sin(),
        rng.random_range(0.0..2.0 * PI),
        vec![Prim::Blob {
            c: (0.0, 0.0),
            rx: r * ratio,
            ry: r * ratio * 0.95,
            wob: Wobble::new(rng, 0.05),
        }],
    );
    let stain = rng.random_range(0.9..1.1f32);
    let nuc_col = scale3(jitter(rng, [62.0, 23.0, 78.0], 4.0), stain);
    let rim_col = scale3(jitter(rng, [94.0, 46.0, 100.0], 5.0), stain);
    let tex = ValueNoise::new(rng, 9);
    let spots = ValueNoise::new(rng, 14);

    let mut img = RgbImage::new(side, side);
    for y in 0..side {
        for x in 0..side {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            if cell.sd(fx, fy) > 0.0 {
                continue; // pure black outside the segmentation mask
            }
            let (u, v) = (fx / s, fy / s);
            let inner = coverage(nucleus.sd(fx, fy), 1.5);
            let mut c = lerp3(rim_col, nuc_col, inner);
            let t = 0.82 + 0.36 * tex.at(u, v);
            c = scale3(c, t);
            let sp = spots.at(u, v);
            if sp > 0.68 {
                let k = (sp - 0.68) * 60.0;
                c = [c[0] + k, c[1] + k * 0.6, c[2] + k];
            }
            let lum = gauss(rng) * 2.5;
            let px = [
                to_u8((c[0] + lum + gauss(rng)).max(12.0)),
                to_u8((c[1] + lum + gauss(rng)).max(4.0)),
                to_u8((c[2] + lum + gauss(rng)).max(14.0)),
            ];
            img.put_pixel(x, y, image::Rgb(px));
        }
    }
    img
}
