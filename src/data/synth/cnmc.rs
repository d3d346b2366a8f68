//! C-NMC 2019 imitation: file names, training folds, preliminary-test folder and cell rendering.

use std::f32::consts::PI;
use std::path::Path;

use super::SynthError;
use image::RgbImage;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::draw::{Prim, Shape, ValueNoise, Wobble, coverage, gauss, jitter, lerp3, scale3, to_u8};
use super::encode::{encode_bmp_info, encode_bmp_v5};
use super::{
    CNMC_PRELIM_COUNT, CNMC_PRELIM_DIR, CNMC_PRELIM_LABELS, CNMC_SIZE, CNMC_TRAIN_DIR,
    SynthSummary, make_dir, rng_for, write_file,
};

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

pub(super) fn generate_cnmc(dir: &Path, summary: &mut SynthSummary) -> Result<(), SynthError> {
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
                let bytes = encode_bmp_info(&img).map_err(|source| SynthError::Encode {
                    path: path.clone(),
                    source,
                })?;
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
