//! The drawing kit: float RGB canvas, colour and noise helpers, signed-distance shapes.

use std::f32::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) type Rgb = [f32; 3];

pub(super) struct Canvas {
    pub(super) w: usize,
    h: usize,
    pub(super) px: Vec<Rgb>,
}

impl Canvas {
    pub(super) fn new(side: u32, fill: Rgb) -> Self {
        let s = side as usize;
        Canvas {
            w: s,
            h: s,
            px: vec![fill; s * s],
        }
    }

    /// Visits every pixel centre (x + 0.5, y + 0.5).
    pub(super) fn for_each(&mut self, mut f: impl FnMut(f32, f32, &mut Rgb)) {
        for y in 0..self.h {
            for x in 0..self.w {
                let p = &mut self.px[y * self.w + x];
                f(x as f32 + 0.5, y as f32 + 0.5, p);
            }
        }
    }

    /// Visits the pixels whose centres lie in the square box around (cx, cy).
    pub(super) fn for_box(
        &mut self,
        cx: f32,
        cy: f32,
        r: f32,
        mut f: impl FnMut(f32, f32, &mut Rgb),
    ) {
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

pub(super) fn mix(p: &mut Rgb, c: Rgb, a: f32) {
    let a = a.clamp(0.0, 1.0);
    for i in 0..3 {
        p[i] += (c[i] - p[i]) * a;
    }
}

pub(super) fn lerp3(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

pub(super) fn scale3(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

pub(super) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Anti-aliased coverage of a signed distance (pixels, negative inside).
pub(super) fn coverage(sd: f32, soft: f32) -> f32 {
    (0.5 - sd / soft).clamp(0.0, 1.0)
}

/// Approximately standard-normal value (Irwin–Hall with 4 uniforms, rescaled).
pub(super) fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    let s: f32 = (0..4).map(|_| rng.random::<f32>()).sum();
    (s - 2.0) * 3.0f32.sqrt()
}

pub(super) fn jitter(rng: &mut ChaCha8Rng, c: Rgb, amount: f32) -> Rgb {
    [
        c[0] + rng.random_range(-amount..=amount),
        c[1] + rng.random_range(-amount..=amount),
        c[2] + rng.random_range(-amount..=amount),
    ]
}

/// Smooth random field on the unit square (bilinear on a lattice with smoothstep weights).
pub(super) struct ValueNoise {
    n: usize,
    v: Vec<f32>,
}

impl ValueNoise {
    pub(super) fn new(rng: &mut ChaCha8Rng, n: usize) -> Self {
        let n = n.max(2);
        ValueNoise {
            n,
            v: (0..n * n).map(|_| rng.random::<f32>()).collect(),
        }
    }

    /// Value in [0, 1] at (u, v) in [0, 1]² (clamped).
    pub(super) fn at(&self, u: f32, v: f32) -> f32 {
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
pub(super) struct Wobble {
    terms: [(f32, f32, f32); 3],
}

impl Wobble {
    pub(super) fn new(rng: &mut ChaCha8Rng, amp: f32) -> Self {
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

    pub(super) fn at(&self, theta: f32) -> f32 {
        1.0 + self
            .terms
            .iter()
            .map(|&(a, k, ph)| a * (k * theta + ph).sin())
            .sum::<f32>()
    }
}

/// Signed-distance primitives in a shape's local frame (pixels).
pub(super) enum Prim {
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
    pub(super) fn sd(&self, x: f32, y: f32) -> f32 {
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
pub(super) struct Shape {
    cx: f32,
    cy: f32,
    cos: f32,
    sin: f32,
    prims: Vec<Prim>,
    pub(super) cut: Option<(f32, f32, f32)>,
}

impl Shape {
    pub(super) fn new(cx: f32, cy: f32, rot: f32, prims: Vec<Prim>) -> Self {
        Shape {
            cx,
            cy,
            cos: rot.cos(),
            sin: rot.sin(),
            prims,
            cut: None,
        }
    }

    pub(super) fn local(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        (
            dx * self.cos + dy * self.sin,
            -dx * self.sin + dy * self.cos,
        )
    }

    pub(super) fn sd(&self, x: f32, y: f32) -> f32 {
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

pub(super) fn to_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}
