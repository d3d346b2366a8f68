//! AML-Cytomorphology_LMU imitation: nucleus geometry, cell rendering and the TIFF class folders.

use std::f32::consts::PI;
use std::path::Path;

use super::SynthError;
use image::RgbaImage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::aml_look::{AmlLook, Granules, Nuc, aml_look};
use super::draw::{
    Canvas, Prim, Shape, ValueNoise, Wobble, coverage, gauss, jitter, lerp3, mix, scale3,
    smoothstep, to_u8,
};
use super::encode::encode_tiff;
use super::{AML_CLASSES, AML_SIZE, SynthSummary, make_dir, rng_for, write_file};

pub(super) fn generate_aml(dir: &Path, summary: &mut SynthSummary) -> Result<(), SynthError> {
    for (class, count) in AML_CLASSES {
        let class_dir = dir.join(class);
        make_dir(&class_dir)?;
        for i in 1..=count {
            let name = format!("{class}_{i:04}.tiff");
            let path = class_dir.join(&name);
            let mut rng = rng_for(&format!("aml/{class}/{name}"));
            let img = render_aml(&mut rng, class, AML_SIZE);
            let bytes = encode_tiff(&img).map_err(|source| SynthError::Encode {
                path: path.clone(),
                source,
            })?;
            write_file(&path, &bytes, "sample image", summary)?;
        }
    }
    Ok(())
}

fn nucleus_prims(rng: &mut ChaCha8Rng, nuc: Nuc, rn: f32) -> (Vec<Prim>, Option<(f32, f32, f32)>) {
    match nuc {
        Nuc::Round => (
            vec![Prim::Blob {
                c: (0.0, 0.0),
                rx: rn * 1.03,
                ry: rn * 0.97,
                wob: Wobble::new(rng, 0.04),
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
                    wob: Wobble::new(rng, 0.04),
                }],
                None,
            )
        }
        Nuc::Kidney => {
            let body = Prim::Blob {
                c: (0.0, 0.0),
                rx: rn * 1.1,
                ry: rn * 0.92,
                wob: Wobble::new(rng, 0.04),
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
        Nuc::Segmented => (segmented(rng, rn), None),
        Nuc::Bilobed | Nuc::BilobedWide => (bilobed(rng, nuc == Nuc::Bilobed, rn), None),
        Nuc::Smudge => (smudge(rng, rn), None),
        Nuc::Irregular => {
            let body = Prim::Blob {
                c: (0.0, 0.0),
                rx: rn * 1.08,
                ry: rn * 0.9,
                wob: Wobble::new(rng, 0.13),
            };
            (vec![body], Some((rn * 1.15, rn * 0.2, rn * 0.4)))
        }
    }
}

/// Three or four lobes on an arc, joined by thin strands.
fn segmented(rng: &mut ChaCha8Rng, rn: f32) -> Vec<Prim> {
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
            wob: Wobble::new(rng, 0.06),
        });
        if k + 1 < centres.len() {
            prims.push(Prim::Capsule {
                a: c,
                b: centres[k + 1],
                r: rn * 0.06,
            });
        }
    }
    prims
}

/// Two lobes joined by a strand (`narrow`: the eosinophil's and basophil's; else the
/// bilobed promyelocyte's wide lobes and thick strand).
fn bilobed(rng: &mut ChaCha8Rng, narrow: bool, rn: f32) -> Vec<Prim> {
    let (sep, lobe, strand) = if narrow {
        (0.52, 0.46, 0.08)
    } else {
        (0.42, 0.6, 0.28)
    };
    let a = (-rn * sep, rng.random_range(-0.1..0.1) * rn);
    let b = (rn * sep, rng.random_range(-0.1..0.1) * rn);
    let l1 = rn * lobe * rng.random_range(0.9..1.1);
    let l2 = rn * lobe * rng.random_range(0.9..1.1);
    vec![
        Prim::Blob {
            c: a,
            rx: l1,
            ry: l1 * 0.92,
            wob: Wobble::new(rng, 0.05),
        },
        Prim::Blob {
            c: b,
            rx: l2,
            ry: l2 * 0.92,
            wob: Wobble::new(rng, 0.05),
        },
        Prim::Capsule {
            a,
            b,
            r: rn * strand,
        },
    ]
}

/// A smeared blob with a tail.
fn smudge(rng: &mut ChaCha8Rng, rn: f32) -> Vec<Prim> {
    let a = rng.random_range(1.1..1.35);
    let body = Prim::Blob {
        c: (0.0, 0.0),
        rx: rn * 0.8 * a,
        ry: rn * 0.8 / a,
        wob: Wobble::new(rng, 0.18),
    };
    let tail = Prim::Capsule {
        a: (0.0, 0.0),
        b: (
            rn * rng.random_range(0.8..1.05),
            rn * rng.random_range(-0.3..0.3),
        ),
        r: rn * rng.random_range(0.25..0.4),
    };
    vec![body, tail]
}

/// Red blood cells around the leukocyte: pink, biconcave (darker rim, paler centre), some
/// cut by the border.
fn red_cells(canvas: &mut Canvas, rng: &mut ChaCha8Rng, leukocyte: &Leukocyte) {
    let s = canvas.w as f32;
    let ((cx, cy), r_cell) = (leukocyte.centre, leukocyte.r);
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
}

/// Mixes `colour` into a disc of radius `r` around `centre`, with the opacity `alpha(d, x, y)`
/// gives from the pixel's signed distance `d` to the disc's edge (vacuoles, nucleoli,
/// granules).
fn soft_disc(
    canvas: &mut Canvas,
    (x0, y0): (f32, f32),
    r: f32,
    colour: [f32; 3],
    alpha: impl Fn(f32, f32, f32) -> f32,
) {
    canvas.for_box(x0, y0, r, |x, y, p| {
        let d = ((x - x0).powi(2) + (y - y0).powi(2)).sqrt() - r;
        mix(p, colour, alpha(d, x, y));
    });
}

/// `n` pale vacuoles in the leukocyte's cytoplasm (coverage `cell_cov`).
fn vacuoles(
    canvas: &mut Canvas,
    rng: &mut ChaCha8Rng,
    n: usize,
    leukocyte: &Leukocyte,
    cell_cov: &dyn Fn(f32, f32) -> f32,
) {
    let s = canvas.w as f32;
    let ((cx, cy), r_cell) = (leukocyte.centre, leukocyte.r);
    for _ in 0..n {
        let rad = r_cell * rng.random_range(0.55..0.9);
        let ang = rng.random_range(0.0..2.0 * PI);
        let (vx, vy) = (cx + rad * ang.cos(), cy + rad * ang.sin());
        let vr = s * rng.random_range(0.012..0.025);
        soft_disc(canvas, (vx, vy), vr, [232.0, 230.0, 240.0], |d, x, y| {
            coverage(d, 1.0) * 0.7 * cell_cov(x, y)
        });
    }
}

/// The canvas as an image, with sensor noise: shared luminance plus a little per channel.
fn sensor_noise(canvas: &Canvas, rng: &mut ChaCha8Rng, side: u32) -> RgbaImage {
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

/// The nucleus `nucleus` centred at `(ncx, ncy)` (radius `rn`) with chromatin texture,
/// then its nucleoli.
fn paint_nucleus(
    canvas: &mut Canvas,
    rng: &mut ChaCha8Rng,
    look: &AmlLook,
    leukocyte: &Leukocyte,
    nucleus: &Shape,
    (ncx, ncy): (f32, f32),
    rn: f32,
) {
    let s = canvas.w as f32;
    let Leukocyte {
        r: r_cell, stain, ..
    } = *leukocyte;
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
        soft_disc(canvas, (ox, oy), orr, [168.0, 112.0, 208.0], |d, x, y| {
            coverage(d, 1.2) * 0.55 * coverage(nucleus.sd(x, y), 1.1)
        });
    }
}

/// `g.count` granules scattered over the cell (coverage `cell_cov`).
fn granules(
    canvas: &mut Canvas,
    rng: &mut ChaCha8Rng,
    g: Granules,
    leukocyte: &Leukocyte,
    cell_cov: &dyn Fn(f32, f32) -> f32,
) {
    let s = canvas.w as f32;
    let Leukocyte {
        centre: (cx, cy),
        r: r_cell,
        stain,
    } = *leukocyte;
    let colour = scale3(jitter(rng, g.colour, 6.0), stain);
    for _ in 0..g.count {
        let rad = r_cell * 0.93 * rng.random::<f32>().sqrt();
        let ang = rng.random_range(0.0..2.0 * PI);
        let (gx, gy) = (cx + rad * ang.cos(), cy + rad * ang.sin());
        let gr = g.r * s * rng.random_range(0.7..1.3);
        let ga = g.alpha * rng.random_range(0.7..1.0);
        soft_disc(canvas, (gx, gy), gr, colour, |d, x, y| {
            coverage(d, 0.9) * ga * cell_cov(x, y)
        });
    }
}

/// The leukocyte's place, size and the image's stain gain.
#[derive(Clone, Copy)]
struct Leukocyte {
    centre: (f32, f32),
    r: f32,
    stain: f32,
}

/// The leukocyte's body, painted with its cytoplasm colour (none for the bare smudge cell).
fn cytoplasm(
    canvas: &mut Canvas,
    rng: &mut ChaCha8Rng,
    look: &AmlLook,
    leukocyte: &Leukocyte,
) -> Shape {
    let s = canvas.w as f32;
    let Leukocyte {
        centre: (cx, cy),
        r: r_cell,
        stain,
    } = *leukocyte;
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
    cell
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
    let leukocyte = Leukocyte {
        centre: (cx, cy),
        r: r_cell,
        stain,
    };

    red_cells(&mut canvas, rng, &leukocyte);

    let cell = cytoplasm(&mut canvas, rng, &look, &leukocyte);

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
    if let Some(g) = look.granules.filter(|g| !g.over_nucleus) {
        granules(&mut canvas, rng, g, &leukocyte, &cell_cov);
    }
    vacuoles(&mut canvas, rng, look.vacuoles, &leukocyte, &cell_cov);

    paint_nucleus(
        &mut canvas,
        rng,
        &look,
        &leukocyte,
        &nucleus,
        (ncx, ncy),
        rn,
    );
    if let Some(g) = look.granules.filter(|g| g.over_nucleus) {
        granules(&mut canvas, rng, g, &leukocyte, &cell_cov);
    }

    sensor_noise(&canvas, rng, side)
}
