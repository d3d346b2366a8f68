//! Depthwise convolution for training on the CPU: forward, input- and weight-gradient kernels
//! written for the planes of one channel at a time, joined to burn's autodiff graph as one
//! node. (The forward pass used to be flex's own convolution: at 64 px that was 12 % of a
//! training step in a profile, and this kernel made the step 9 % faster, with 224 px
//! unchanged; `docs/cpu-profile.md`.)
//!
//! Why: burn 0.22's flex backend computes a depthwise convolution's backward pass as a
//! general grouped transposed convolution, with layout copies around it (`copy_2d_tiled`,
//! `conv_transpose3d_impl`; see `docs/cpu-profile.md`): forward + backward of one
//! `[32, 96, 112, 112]` 3×3 layer took 1358 ms against PyTorch's 526 ms. A depthwise
//! convolution is k² shifted multiply-adds inside each (image, channel) plane, and so are
//! both of its gradients, so each is written here as k² whole-plane `y += w · x` loops (see
//! [`Scratch`] for how padding and stride are taken out of them) that the compiler
//! vectorises (AVX-512 or AVX2 + FMA when the CPU has them), with channels shared among
//! rayon's threads. The same layer here: 160 ms forward + backward (`cargo bench --bench
//! depthwise`; burn's 684–790 ms with the memory held, PyTorch 526 ms).
//!
//! Layouts are burn's: input `[n, c, h, w]`, weight `[c, 1, k, k]`, square kernel, the same
//! stride and padding on both axes, no dilation. `tests/model.rs` compares all three results
//! with burn's own convolution for each shape EfficientNet-B0 uses.

use burn::prelude::*;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::{binary_node, flex, values};
#[cfg(target_arch = "x86_64")]
use crate::simd::Level;

/// Where one depthwise convolution reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// The geometry of a `[n, c, h, w]` input, or `None` when the kernel does not fit.
    pub fn new(dims: [usize; 4], kernel: usize, stride: usize, pad: usize) -> Option<Self> {
        let [batch, channels, h, w] = dims;
        if kernel == 0 || stride == 0 || h + 2 * pad < kernel || w + 2 * pad < kernel {
            return None;
        }
        Some(Self {
            batch,
            channels,
            kernel,
            stride,
            pad,
            h,
            w,
            oh: (h + 2 * pad - kernel) / stride + 1,
            ow: (w + 2 * pad - kernel) / stride + 1,
        })
    }

    /// Rows and columns of one phase plane (see [`Scratch`]).
    fn phase_rows(&self) -> usize {
        (self.h + 2 * self.pad).div_ceil(self.stride)
    }

    fn phase_cols(&self) -> usize {
        (self.w + 2 * self.pad).div_ceil(self.stride)
    }

    /// Length of one phase plane, with one spare row so that every tap's window of
    /// `oh · phase_cols` values fits.
    fn phase_len(&self) -> usize {
        (self.phase_rows() + 1) * self.phase_cols()
    }

    /// The output plane with rows `phase_cols` apart.
    fn pitched_len(&self) -> usize {
        self.oh * self.phase_cols()
    }

    /// Where tap (i, j) reads: its phase plane and the offset of its window there.
    fn tap(&self, i: usize, j: usize) -> (usize, usize) {
        let s = self.stride;
        ((i % s) * s + j % s, (i / s) * self.phase_cols() + j / s)
    }

    fn in_plane(&self) -> usize {
        self.h * self.w
    }

    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

/// `y[o] += a · x[o]`, with the vector instructions of [`crate::simd::level`] (the crate is
/// built for baseline x86-64, SSE2, so they are chosen at run time).
#[inline]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    match crate::simd::level() {
        // SAFETY: `simd::level` returns a level only when the CPU has it (AVX-512F here).
        Level::Avx512 => return unsafe { axpy_avx512(y, a, x) },
        // SAFETY: as above, AVX2 and FMA.
        Level::Avx2Fma => return unsafe { axpy_avx2(y, a, x) },
        Level::Portable => {}
    }
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * *x;
    }
}

/// Σ a[o] · b[o], in independent lanes so that it vectorises (dispatched like [`axpy`]).
#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    match crate::simd::level() {
        // SAFETY: `simd::level` returns a level only when the CPU has it (AVX-512F here).
        Level::Avx512 => return unsafe { dot_avx512(a, b) },
        // SAFETY: as above, AVX2 and FMA.
        Level::Avx2Fma => return unsafe { dot_avx2(a, b) },
        Level::Portable => {}
    }
    dot_lanes::<8>(a, b, |x, y, acc| acc + x * y)
}

#[inline(always)]
fn axpy_fused(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y = a.mul_add(*x, *y);
    }
}

#[inline(always)]
fn dot_lanes<const L: usize>(a: &[f32], b: &[f32], fma: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0f32; L];
    let mut ca = a.chunks_exact(L);
    let mut cb = b.chunks_exact(L);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for l in 0..L {
            lanes[l] = fma(x[l], y[l], lanes[l]);
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn axpy_avx512(y: &mut [f32], a: f32, x: &[f32]) {
    axpy_fused(y, a, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(y: &mut [f32], a: f32, x: &[f32]) {
    axpy_fused(y, a, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes::<32>(a, b, f32::mul_add)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes::<16>(a, b, f32::mul_add)
}

/// `out[o] = init + Σ_t w[t] · x[starts[t] + o]` for every `o < out.len()`: all taps of a
/// block of outputs accumulate in registers and each output is stored once, where one
/// [`axpy`] per tap read and wrote the whole output k² times. The taps are added in order,
/// one rounding each, as the `axpy` passes did (same values, bit for bit).
///
/// # Panics
/// When a tap's window `starts[t]..starts[t] + out.len()` is outside `x`.
#[inline]
fn taps(out: &mut [f32], init: f32, w: &[f32], x: &[f32], starts: &[usize]) {
    assert!(
        starts.len() == w.len() && starts.iter().all(|&s| s + out.len() <= x.len()),
        "a tap's window is outside the input"
    );
    #[cfg(target_arch = "x86_64")]
    match crate::simd::level() {
        // SAFETY: `simd::level` returns a level only when the CPU has it (AVX-512F here).
        Level::Avx512 => return unsafe { taps_avx512(out, init, w, x, starts) },
        // SAFETY: as above, AVX2 and FMA.
        Level::Avx2Fma => return unsafe { taps_avx2(out, init, w, x, starts) },
        Level::Portable => {}
    }
    taps_blocks::<32, 8>(out, init, w, x, starts, |a, b, c| c + a * b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn taps_avx512(out: &mut [f32], init: f32, w: &[f32], x: &[f32], starts: &[usize]) {
    // Eight 16-lane accumulators: enough independent sums to cover the FMA latency.
    taps_blocks::<128, 16>(out, init, w, x, starts, f32::mul_add)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn taps_avx2(out: &mut [f32], init: f32, w: &[f32], x: &[f32], starts: &[usize]) {
    taps_blocks::<64, 8>(out, init, w, x, starts, f32::mul_add)
}

/// [`taps`] in blocks of `B` outputs, then of `S`, then one at a time.
#[inline(always)]
fn taps_blocks<const B: usize, const S: usize>(
    out: &mut [f32],
    init: f32,
    w: &[f32],
    x: &[f32],
    starts: &[usize],
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let n = out.len();
    let mut o = 0;
    while o + B <= n {
        taps_block::<B>(&mut out[o..o + B], o, init, w, x, starts, fma);
        o += B;
    }
    while o + S <= n {
        taps_block::<S>(&mut out[o..o + S], o, init, w, x, starts, fma);
        o += S;
    }
    for (o, y) in out.iter_mut().enumerate().skip(o) {
        *y = w
            .iter()
            .zip(starts)
            .fold(init, |acc, (&wt, &s)| fma(wt, x[s + o], acc));
    }
}

/// One block of [`taps`]: outputs `o..o + B` into `out` (`B` long).
#[inline(always)]
fn taps_block<const B: usize>(
    out: &mut [f32],
    o: usize,
    init: f32,
    w: &[f32],
    x: &[f32],
    starts: &[usize],
    fma: impl Fn(f32, f32, f32) -> f32,
) {
    let mut acc = [init; B];
    for (&wt, &s) in w.iter().zip(starts) {
        let xs: &[f32; B] = x[s + o..s + o + B].try_into().expect("B values");
        for l in 0..B {
            acc[l] = fma(wt, xs[l], acc[l]);
        }
    }
    out.copy_from_slice(&acc);
}

/// Images per task: enough that a task's loops run over ≈ 16k values (small planes are
/// handled many images at a time, so their loops stay long).
fn group(g: &Geometry) -> usize {
    (16_384 / g.phase_len().max(1)).clamp(1, g.batch.max(1))
}

/// One task: (channel, first image, images).
type Task = (usize, usize, usize);

/// The tasks of one convolution.
fn tasks(g: &Geometry) -> impl IndexedParallelIterator<Item = Task> + '_ {
    let per = group(g);
    let groups = g.batch.div_ceil(per);
    (0..g.channels * groups).into_par_iter().map(move |t| {
        let (c, first) = (t / groups, (t % groups) * per);
        (c, first, per.min(g.batch - first))
    })
}

/// Plane (image, channel) of an `[n, c, …]` buffer with planes of `len` values.
fn plane<'a>(t: &'a [f32], g: &Geometry, image: usize, channel: usize, len: usize) -> &'a [f32] {
    let at = (image * g.channels + channel) * len;
    &t[at..at + len]
}

/// A buffer whose planes parallel tasks write, each plane by exactly one task (the output
/// planes, or [`forward_silu_sums`]'s one sum per plane). It borrows
/// the buffer mutably for `'a`, so the buffer can be neither read, moved nor freed while a
/// `Planes` exists.
struct Planes<'a, T = f32> {
    ptr: *mut T,
    len: usize,
    buffer: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: tasks only write disjoint planes (`plane_mut`'s contract), so sharing the pointer
// between threads cannot make two of them touch the same value.
unsafe impl<T: Send> Sync for Planes<'_, T> {}

impl<'a, T> Planes<'a, T> {
    fn new(buffer: &'a mut [T]) -> Self {
        Self {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
            buffer: std::marker::PhantomData,
        }
    }

    /// Values `at..at + len`.
    ///
    /// # Safety
    /// No other live reference may cover any of these values.
    #[allow(clippy::mut_from_ref)]
    unsafe fn plane_mut(&self, at: usize, len: usize) -> &mut [T] {
        assert!(at + len <= self.len, "plane outside the buffer");
        // SAFETY: in bounds (just checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), len) }
    }
}

/// One task's working memory: the planes of one channel for up to `images` images.
///
/// Each zero-padded input plane is split into stride² *phase planes* (phase (a, b) holds
/// padded pixels (s·r + a, s·c + b)), and output-shaped planes are laid out with rows
/// `phase_cols` apart (*pitched*; the columns past `ow` are scratch). Then tap (i, j) of
/// every output pixel reads phase (i mod s, j mod s) at one fixed offset from the output's
/// own pitched index. Images follow each other `phase_len` apart in both layouts, so each of
/// the k² taps is a single `y += w · x` over all the task's images at once: no per-row
/// bounds, no strided loads, and long vectorised loops even on 2×2 planes.
struct Scratch {
    images: usize,
    phases: Vec<f32>,
    pitched: Vec<f32>,
}

impl Scratch {
    fn new(g: &Geometry) -> Self {
        let images = group(g);
        Self {
            images,
            phases: vec![0.0; g.stride * g.stride * images * g.phase_len()],
            pitched: vec![0.0; images * g.phase_len()],
        }
    }

    /// Where padded pixel (rp, cp) of image m lies among the phase planes.
    #[inline(always)]
    fn at(&self, g: &Geometry, m: usize, rp: usize, cp: usize) -> usize {
        let s = g.stride;
        let phase = (rp % s) * s + cp % s;
        (phase * self.images + m) * g.phase_len() + (rp / s) * g.phase_cols() + cp / s
    }

    /// Phase planes of the zero-padded input planes (c, first + m) of `x`, m < `images`.
    fn split(&mut self, x: &[f32], g: &Geometry, (c, first, images): Task) {
        self.phases.fill(0.0);
        for m in 0..images {
            let x = plane(x, g, first + m, c, g.in_plane());
            for (r, row) in x.chunks_exact(g.w).enumerate() {
                if g.stride == 1 {
                    let start = self.at(g, m, r + g.pad, g.pad);
                    self.phases[start..start + g.w].copy_from_slice(row);
                    continue;
                }
                // Columns c with (c + pad) mod s = b go, in order, to consecutive places of
                // one phase plane: a strided copy per column phase, with none of `at`'s
                // divisions per pixel (which made this split cost more than the taps).
                let s = g.stride;
                for b in 0..s {
                    let c0 = (b + s - g.pad % s) % s;
                    if c0 >= g.w {
                        continue;
                    }
                    let start = self.at(g, m, r + g.pad, c0 + g.pad);
                    for (d, &v) in self.phases[start..]
                        .iter_mut()
                        .zip(row[c0..].iter().step_by(s))
                    {
                        *d = v;
                    }
                }
            }
        }
    }

    /// Image m's padded plane, cropped back to `h × w`, into `out`.
    fn join(&self, m: usize, out: &mut [f32], g: &Geometry) {
        for (r, row) in out.chunks_exact_mut(g.w).enumerate() {
            if g.stride == 1 {
                let start = self.at(g, m, r + g.pad, g.pad);
                row.copy_from_slice(&self.phases[start..start + g.w]);
                continue;
            }
            for (c, v) in row.iter_mut().enumerate() {
                *v = self.phases[self.at(g, m, r + g.pad, c + g.pad)];
            }
        }
    }

    /// Output gradients (c, first + m) of `dy` (`oh × ow` each) into the pitched planes,
    /// zero everywhere else.
    fn pitch(&mut self, dy: &[f32], g: &Geometry, (c, first, images): Task) {
        let (wq, len) = (g.phase_cols(), g.phase_len());
        self.pitched.fill(0.0);
        for m in 0..images {
            let dy = plane(dy, g, first + m, c, g.out_plane());
            for (r, row) in dy.chunks_exact(g.ow).enumerate() {
                let start = m * len + r * wq;
                self.pitched[start..start + g.ow].copy_from_slice(row);
            }
        }
    }

    /// The pitched values that `images` images span.
    fn span(&self, g: &Geometry, images: usize) -> usize {
        (images - 1) * g.phase_len() + g.pitched_len()
    }

    /// Tap (i, j)'s window: the phase values that line up with the pitched span.
    fn window(&self, g: &Geometry, i: usize, j: usize, images: usize) -> std::ops::Range<usize> {
        let (phase, offset) = g.tap(i, j);
        let start = phase * self.images * g.phase_len() + offset;
        start..start + self.span(g, images)
    }
}

/// The convolution of `x` (`[n, c, h, w]`, contiguous) with `w` (`[c, 1, k, k]`), plus a
/// per-channel bias when given.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    forward_then(x, w, bias, g, |_, _, _| {})
}

/// For evaluation: `silu(conv(x) + bias)` and the sum of each output plane (`[n, c]`, what
/// squeeze-excitation's mean needs). SiLU and the sum run on each plane as it leaves the
/// kernel's scratch, while it is in cache, instead of as two more passes over the whole
/// activation; the sums are in f64 over eight lanes.
pub fn forward_silu_sums(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
) -> (Vec<f32>, Vec<f64>) {
    let mut sums = vec![0f64; g.batch * g.channels];
    let cells = Planes::new(&mut sums);
    let y = forward_then(x, w, bias, g, |plane, image, channel| {
        crate::model::fast::silu_slice(plane);
        let mut lanes = [0f64; 8];
        let mut chunks = plane.chunks_exact(8);
        for chunk in &mut chunks {
            for (l, v) in lanes.iter_mut().zip(chunk) {
                *l += f64::from(*v);
            }
        }
        let rest: f64 = chunks.remainder().iter().map(|v| f64::from(*v)).sum();
        // SAFETY: plane (image, channel) is finished by exactly one task, so no other
        // reference covers its cell.
        let cell = unsafe { cells.plane_mut(image * g.channels + channel, 1) };
        cell[0] = lanes.iter().sum::<f64>() + rest;
    });
    (y, sums)
}

/// [`forward`], calling `finish(plane, image, channel)` on each finished output plane (on
/// the task's thread).
fn forward_then(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
    finish: impl Fn(&mut [f32], usize, usize) + Sync,
) -> Vec<f32> {
    let (k, kk) = (g.kernel, g.kernel * g.kernel);
    let mut out = super::zeroed(g.batch * g.channels * g.out_plane());
    let planes = Planes::new(&mut out);
    tasks(g).for_each_init(
        || (Scratch::new(g), vec![0usize; kk]),
        |(sc, starts), (c, first, images)| {
            sc.split(x, g, (c, first, images));
            let span = sc.span(g, images);
            for (t, start) in starts.iter_mut().enumerate() {
                *start = sc.window(g, t / k, t % k, images).start;
            }
            taps(
                &mut sc.pitched[..span],
                bias.map_or(0.0, |b| b[c]),
                &w[c * kk..(c + 1) * kk],
                &sc.phases,
                starts,
            );
            for m in 0..images {
                let at = ((first + m) * g.channels + c) * g.out_plane();
                // SAFETY: plane (first + m, c) belongs to this task alone.
                let out = unsafe { planes.plane_mut(at, g.out_plane()) };
                let pitched = &sc.pitched[m * g.phase_len()..];
                for (row, prow) in out
                    .chunks_exact_mut(g.ow)
                    .zip(pitched.chunks(g.phase_cols()))
                {
                    row.copy_from_slice(&prow[..g.ow]);
                }
                finish(out, first + m, c);
            }
        },
    );
    out
}

/// The gradient with respect to the input, from the output gradient `dy`.
pub fn x_backward(dy: &[f32], w: &[f32], g: &Geometry) -> Vec<f32> {
    let (k, kk) = (g.kernel, g.kernel * g.kernel);
    let mut dx = super::zeroed(g.batch * g.channels * g.in_plane());
    let planes = Planes::new(&mut dx);
    tasks(g).for_each_init(
        || Scratch::new(g),
        |sc, (c, first, images)| {
            sc.pitch(dy, g, (c, first, images));
            sc.phases.fill(0.0);
            let span = sc.span(g, images);
            for i in 0..k {
                for j in 0..k {
                    let window = sc.window(g, i, j, images);
                    axpy(
                        &mut sc.phases[window],
                        w[c * kk + i * k + j],
                        &sc.pitched[..span],
                    );
                }
            }
            for m in 0..images {
                let at = ((first + m) * g.channels + c) * g.in_plane();
                // SAFETY: plane (first + m, c) belongs to this task alone.
                sc.join(m, unsafe { planes.plane_mut(at, g.in_plane()) }, g);
            }
        },
    );
    dx
}

/// The gradient with respect to the weight, `[c, 1, k, k]` flattened.
pub fn w_backward(x: &[f32], dy: &[f32], g: &Geometry) -> Vec<f32> {
    let (k, kk) = (g.kernel, g.kernel * g.kernel);
    let groups = g.batch.div_ceil(group(g));
    let mut partial = vec![0f32; g.channels * groups * kk];
    partial.par_chunks_mut(kk).zip(tasks(g)).for_each_init(
        || Scratch::new(g),
        |sc, (acc, task)| {
            let (_, _, images) = task;
            sc.split(x, g, task);
            sc.pitch(dy, g, task);
            let span = sc.span(g, images);
            for i in 0..k {
                for j in 0..k {
                    let window = sc.window(g, i, j, images);
                    acc[i * k + j] = dot(&sc.pitched[..span], &sc.phases[window]);
                }
            }
        },
    );
    // Tasks are channel-major: each channel's groups are consecutive.
    partial
        .chunks_exact(groups * kk)
        .flat_map(|per_channel| {
            (0..kk).map(move |t| per_channel.chunks_exact(kk).map(|acc| acc[t]).sum::<f32>())
        })
        .collect()
}

/// The autodiff node: its backward pass computes both gradients with the kernels above.
#[derive(Debug)]
struct DepthwiseBackward;

impl Backward<Flex, 2> for DepthwiseBackward {
    type State = (FlexTensor, FlexTensor, Geometry);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w, g) = ops.state;
        let dy = values(&dy);
        if let Some(node) = node_x {
            let dx = x_backward(&dy, &values(&w), &g);
            grads.register::<Flex>(node.id, flex(dx, [g.batch, g.channels, g.h, g.w]));
        }
        if let Some(node) = node_w {
            let dw = w_backward(&values(&x), &dy, &g);
            grads.register::<Flex>(node.id, flex(dw, [g.channels, 1, g.kernel, g.kernel]));
        }
    }
}

/// The depthwise convolution of `x` with `weight` on flex under autodiff, with gradients
/// from the kernels above. `None` when the tensors are not f32 on that backend (the caller
/// then uses burn's convolution).
pub fn forward_autodiff(x: &Tensor<4>, weight: &Tensor<4>, g: &Geometry) -> Option<Tensor<4>> {
    binary_node(DepthwiseBackward, x, weight, *g, |x, w| {
        let y = forward(&values(x), &values(w), None, g);
        flex(y, [g.batch, g.channels, g.oh, g.ow])
    })
}
