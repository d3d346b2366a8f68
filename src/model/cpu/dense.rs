//! A dense k×k convolution (one group: EfficientNet-B0's stem, 3×3, stride 2) on the CPU, in
//! training when its input needs no gradient (the images) and in inference: the input's windows are
//! unrolled into `[n, c_in·k·k, oh, ow]` planes (im2col) by the workers, and the 1×1 product
//! of `pointwise.rs` does the rest — its autodiff node gives the weight's gradient,
//! `dW = Σ_images dy · colsᵀ`, and the weight's reshape passes it back as `[c_out, c_in, k, k]`.
//!
//! Flex's own convolution transposes the weight and the input on one thread before its
//! parallel part, and its weight gradient runs as a convolution whose "weight" is the output
//! gradient (`[32, n, 112, 112]` at 224 px), transposed on one thread too: 2.5 % of a 224 px
//! training step and 1.3 % at 64 px ran on one worker while the other slept
//! (`scripts/serial-profile.py`, `docs/cpu-profile.md`). The unrolled planes are `k²/s²` times
//! the input (27 × 112² values per image at 224 px, 1.4 MB), kept until the backward pass.

use burn::prelude::*;
use burn_flex::Flex;

use super::depthwise::Geometry;
use super::{Ad, flex, values};

/// The convolution of `x` (`[n, c_in, h, w]`) with `weight` (`[c_out, c_in, k, k]`) at the
/// geometry `g` (its `channels` are `c_in`), on flex under autodiff. `None` where this does
/// not apply (the caller then uses burn's convolution): not f32 flex tensors under autodiff,
/// or an input that needs a gradient (this computes none for it).
pub fn forward_autodiff(x: &Tensor<4>, weight: &Tensor<4>, g: &Geometry) -> Option<Tensor<4>> {
    if x.dtype() != burn::tensor::DType::F32 || x.dims()[1] != g.channels {
        return None;
    }
    let xa = x.clone().try_into_primitive::<Ad>().ok()?;
    if xa.is_tracked() {
        return None;
    }
    let rows = g.channels * g.kernel * g.kernel;
    let cols = unroll(&values(xa.primitive()), g);
    // A constant of the graph: nothing flows back to the input.
    let cols =
        Tensor::<4>::from_primitive::<Flex>(flex(cols, [g.batch, rows, g.oh, g.ow])).autodiff();
    let [c_out, ..] = weight.dims();
    let w = weight.clone().reshape([c_out, rows, 1, 1]);
    super::pointwise::forward_autodiff(&cols, &w)
}

/// The same convolution on flex without autodiff, plus a per-channel `bias` when given.
/// `None` when the tensors are not f32 flex tensors. Recalibration's passes and embedding
/// take this path, so the stem's output is the same, bit for bit, as in a training step.
pub fn forward_inference(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    g: &Geometry,
) -> Option<Tensor<4>> {
    if x.dims()[1] != g.channels {
        return None;
    }
    let (xf, ..) = super::flex_f32(x, weight, bias)?;
    let rows = g.channels * g.kernel * g.kernel;
    let cols = unroll(&values(&xf), g);
    let cols = Tensor::<4>::from_primitive::<Flex>(flex(cols, [g.batch, rows, g.oh, g.ow]));
    let [c_out, ..] = weight.dims();
    let w = weight.clone().reshape([c_out, rows, 1, 1]);
    super::pointwise::forward_inference(&cols, &w, bias, false)
}

/// The input's windows as `[n, c·k·k, oh, ow]`: plane `(c·k + i)·k + j` of image `b` holds
/// `x[b, c, oy·s + i − pad, ox·s + j − pad]` at `(oy, ox)`, zero where that falls in the
/// padding. One task per plane.
fn unroll(x: &[f32], g: &Geometry) -> Vec<f32> {
    let (k, kk) = (g.kernel, g.kernel * g.kernel);
    let plane = g.oh * g.ow;
    let len = g.batch * g.channels * kk * plane;
    super::filled_in(len, plane.max(1), |at, out| {
        let p = at / plane.max(1);
        let (image, c, tap) = (p / (g.channels * kk), p / kk % g.channels, p % kk);
        let (i, j) = (tap / k, tap % k);
        let src = &x[(image * g.channels + c) * g.h * g.w..][..g.h * g.w];
        for oy in 0..g.oh {
            // The input row this output row reads; outside the input, the row stays zero.
            let Some(y) = (oy * g.stride + i).checked_sub(g.pad).filter(|&y| y < g.h) else {
                continue;
            };
            let row = &src[y * g.w..][..g.w];
            let dst = &mut out[oy * g.ow..][..g.ow];
            for (ox, d) in dst.iter_mut().enumerate() {
                if let Some(v) = (ox * g.stride + j)
                    .checked_sub(g.pad)
                    .and_then(|x| row.get(x))
                {
                    *d = *v;
                }
            }
        }
    })
}
