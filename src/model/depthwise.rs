//! Depthwise convolution for the CPU: forward, input gradient and weight gradient written
//! for one channel plane at a time, and joined to burn's autodiff graph as one node.
//!
//! Why: burn 0.22's flex backend computes a depthwise convolution's backward pass as a
//! general grouped transposed convolution, with layout copies around it (`copy_2d_tiled`,
//! `conv_transpose3d_impl`; see `docs/cpu-profile.md`): forward + backward of one
//! `[32, 96, 112, 112]` 3×3 layer took 1358 ms against PyTorch's 526 ms. A depthwise
//! convolution is k² shifted multiply-adds inside each (image, channel) plane, and so are
//! both of its gradients, so each is written here as row-wise `y += w · x` loops that the
//! compiler vectorises, one plane per parallel task (a 112×112 plane fits in L2).
//!
//! Layouts are burn's: input `[n, c, h, w]`, weight `[c, 1, k, k]`, square kernel, the same
//! stride and padding on both axes, no dilation. `tests/model.rs` compares all three results
//! with burn's own convolution for each shape EfficientNet-B0 uses.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

/// Flex under burn's default autodiff (no gradient checkpointing), as `Device::autodiff`
/// builds it.
type Ad = burn_autodiff::Autodiff<Flex>;

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

    /// The output indices `o` in `lo..hi` whose input index `o·stride + tap − pad` lies in
    /// `0..len` (`outputs` = the output length on that axis).
    fn valid(&self, tap: usize, len: usize, outputs: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.pad);
        let lo = if p > tap { (p - tap).div_ceil(s) } else { 0 };
        let hi = if len + p > tap {
            ((len - 1 + p - tap) / s + 1).min(outputs)
        } else {
            0
        };
        (lo, hi.max(lo))
    }

    fn cols(&self, j: usize) -> (usize, usize) {
        self.valid(j, self.w, self.ow)
    }

    /// The input row that output row `o` reads through kernel row `i`, if inside.
    fn row(&self, o: usize, i: usize) -> Option<usize> {
        (o * self.stride + i)
            .checked_sub(self.pad)
            .filter(|&r| r < self.h)
    }

    fn in_plane(&self) -> usize {
        self.h * self.w
    }

    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

/// `y[o] += a · x[o]`.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * *x;
    }
}

/// Σ a[o] · b[o], in eight independent lanes so that it vectorises.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
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

/// One output plane: `out = bias + Σ_ij w[i, j] · shift_ij(x)`.
fn forward_plane(x: &[f32], w: &[f32], bias: f32, out: &mut [f32], g: &Geometry) {
    let (k, s) = (g.kernel, g.stride);
    out.fill(bias);
    for (o, orow) in out.chunks_exact_mut(g.ow).enumerate() {
        for i in 0..k {
            let Some(r) = g.row(o, i) else { continue };
            let xrow = &x[r * g.w..(r + 1) * g.w];
            for j in 0..k {
                let (lo, hi) = g.cols(j);
                let wv = w[i * k + j];
                if s == 1 {
                    let start = lo + j - g.pad;
                    axpy(&mut orow[lo..hi], wv, &xrow[start..start + hi - lo]);
                } else {
                    for c in lo..hi {
                        orow[c] += wv * xrow[c * s + j - g.pad];
                    }
                }
            }
        }
    }
}

/// One input-gradient plane: every output gradient goes back to the k² inputs it read.
fn x_backward_plane(dy: &[f32], w: &[f32], dx: &mut [f32], g: &Geometry) {
    let (k, s) = (g.kernel, g.stride);
    dx.fill(0.0);
    for (o, dyrow) in dy.chunks_exact(g.ow).enumerate() {
        for i in 0..k {
            let Some(r) = g.row(o, i) else { continue };
            let dxrow = &mut dx[r * g.w..(r + 1) * g.w];
            for j in 0..k {
                let (lo, hi) = g.cols(j);
                let wv = w[i * k + j];
                if s == 1 {
                    let start = lo + j - g.pad;
                    axpy(&mut dxrow[start..start + hi - lo], wv, &dyrow[lo..hi]);
                } else {
                    for c in lo..hi {
                        dxrow[c * s + j - g.pad] += wv * dyrow[c];
                    }
                }
            }
        }
    }
}

/// One plane's share of the weight gradient: `acc[i, j] += Σ dy · shift_ij(x)`.
fn w_backward_plane(x: &[f32], dy: &[f32], acc: &mut [f32], g: &Geometry) {
    let (k, s) = (g.kernel, g.stride);
    acc.fill(0.0);
    for (o, dyrow) in dy.chunks_exact(g.ow).enumerate() {
        for i in 0..k {
            let Some(r) = g.row(o, i) else { continue };
            let xrow = &x[r * g.w..(r + 1) * g.w];
            for j in 0..k {
                let (lo, hi) = g.cols(j);
                acc[i * k + j] += if s == 1 {
                    let start = lo + j - g.pad;
                    dot(&dyrow[lo..hi], &xrow[start..start + hi - lo])
                } else {
                    (lo..hi).map(|c| dyrow[c] * xrow[c * s + j - g.pad]).sum()
                };
            }
        }
    }
}

/// The convolution of `x` (`[n, c, h, w]`, contiguous) with `w` (`[c, 1, k, k]`), plus a
/// per-channel bias when given.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let kk = g.kernel * g.kernel;
    let mut out = vec![0f32; g.batch * g.channels * g.out_plane()];
    out.par_chunks_mut(g.out_plane())
        .enumerate()
        .for_each(|(plane, out)| {
            let c = plane % g.channels;
            let xp = &x[plane * g.in_plane()..(plane + 1) * g.in_plane()];
            let b = bias.map_or(0.0, |b| b[c]);
            forward_plane(xp, &w[c * kk..(c + 1) * kk], b, out, g);
        });
    out
}

/// The gradient with respect to the input, from the output gradient `dy`.
pub fn x_backward(dy: &[f32], w: &[f32], g: &Geometry) -> Vec<f32> {
    let kk = g.kernel * g.kernel;
    let mut dx = vec![0f32; g.batch * g.channels * g.in_plane()];
    dx.par_chunks_mut(g.in_plane())
        .enumerate()
        .for_each(|(plane, dx)| {
            let c = plane % g.channels;
            let dyp = &dy[plane * g.out_plane()..(plane + 1) * g.out_plane()];
            x_backward_plane(dyp, &w[c * kk..(c + 1) * kk], dx, g);
        });
    dx
}

/// The gradient with respect to the weight, `[c, 1, k, k]` flattened.
pub fn w_backward(x: &[f32], dy: &[f32], g: &Geometry) -> Vec<f32> {
    let kk = g.kernel * g.kernel;
    let mut partial = vec![0f32; g.batch * g.channels * kk];
    partial
        .par_chunks_mut(kk)
        .enumerate()
        .for_each(|(plane, acc)| {
            let xp = &x[plane * g.in_plane()..(plane + 1) * g.in_plane()];
            let dyp = &dy[plane * g.out_plane()..(plane + 1) * g.out_plane()];
            w_backward_plane(xp, dyp, acc, g);
        });
    let mut dw = vec![0f32; g.channels * kk];
    for image in partial.chunks_exact(g.channels * kk) {
        axpy(&mut dw, 1.0, image);
    }
    dw
}

/// The f32 values of a flex tensor in row-major order (copied only when it is a view).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(v) => std::borrow::Cow::Borrowed(v),
        None => {
            std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap_or(&[]).to_vec())
        }
    }
}

fn flex(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
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
    if x.dtype() != burn::tensor::DType::F32 || weight.dtype() != burn::tensor::DType::F32 {
        return None;
    }
    let xa = x.clone().try_into_primitive::<Ad>().ok()?;
    let wa = weight.clone().try_into_primitive::<Ad>().ok()?;
    let out_shape = [g.batch, g.channels, g.oh, g.ow];
    let run =
        |x: &FlexTensor, w: &FlexTensor| flex(forward(&values(x), &values(w), None, g), out_shape);
    let out = match DepthwiseBackward
        .prepare::<NoCheckpointing>([xa.node(), wa.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (xf, wf) = (xa.into_primitive(), wa.into_primitive());
            let y = run(&xf, &wf);
            prep.finish((xf, wf, *g), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(run(xa.primitive(), wa.primitive())),
    };
    Some(Tensor::from_primitive::<Ad>(out))
}

/// The depthwise convolution (with an optional bias) on flex without autodiff, as the
/// inference path uses it. `None` when the tensors are not f32 flex tensors.
pub fn forward_inference(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    g: &Geometry,
) -> Option<Tensor<4>> {
    let xf = x.clone().try_into_primitive::<Flex>().ok()?;
    let wf = weight.clone().try_into_primitive::<Flex>().ok()?;
    let bf = match bias {
        Some(b) => Some(b.clone().try_into_primitive::<Flex>().ok()?),
        None => None,
    };
    if [Some(&xf), Some(&wf), bf.as_ref()]
        .into_iter()
        .flatten()
        .any(|t| t.dtype() != burn::tensor::DType::F32)
    {
        return None;
    }
    let b = bf.as_ref().map(values);
    let y = forward(&values(&xf), &values(&wf), b.as_deref(), g);
    Some(Tensor::from_primitive::<Flex>(flex(
        y,
        [g.batch, g.channels, g.oh, g.ow],
    )))
}
