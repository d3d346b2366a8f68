//! `Conv2d::forward` as EfficientNet-B0 uses it, with faster formulations on the CPU
//! (flex) backend. Values are the same convolution's; only the way they are computed
//! differs, and `tests/model.rs` checks values and gradients against burn's `Conv2d`.
//!
//! - **1×1, stride 1, one group** (expansion, projection, head, squeeze-and-excitation):
//!   matrix products per image (`pointwise.rs`), in training (forward and both gradients)
//!   and in inference. Flex's convolution backward spends its time on layout copies: one
//!   `[32, 96, 112, 112]` layer, forward and backward, took 1716 ms as a convolution, 584 ms
//!   as a batched `matmul` and 206 ms here (PyTorch 554 ms; `cargo bench --bench
//!   depthwise`); flex's `matmul` copies every result once more. If the products cannot run
//!   (not f32), burn's convolution.
//! - **Dense k×k** (one group: the stem), in training when the input needs no gradient and
//!   in inference: the input's windows unrolled, then the 1×1 product (`dense.rs`).
//! - **Depthwise** (groups = channels): `depthwise.rs`, in training (forward and both
//!   gradients); in evaluation, [`depthwise_silu_mean`]
//!   fuses the bias, the SiLU after it and squeeze-excitation's mean into the kernel.
//!
//! On GPUs (and for anything else) this is burn's `Conv2d::forward`.

use super::dense;
use super::depthwise::{self, Geometry};
use super::pointwise;
use super::{Cpu, cpu, flex, values};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn_flex::Flex;

/// `conv.forward(x)`.
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let mode = cpu(&x.device());
    if mode == Cpu::No {
        return conv.forward(x);
    }
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().map(|b| b.val());
    let y = match mode {
        Cpu::Training if is_pointwise(conv) => pointwise::forward_autodiff(&x, &weight),
        Cpu::Training => match square_geometry(conv, &weight, &x) {
            Some(g) if is_depthwise(conv, &weight, &x) => {
                depthwise::forward_autodiff(&x, &weight, &g)
            }
            Some(g) if conv.groups == 1 => dense::forward_autodiff(&x, &weight, &g),
            _ => None,
        },
        _ if is_pointwise(conv) => {
            return pointwise::forward_inference(&x, &weight, bias.as_ref(), false)
                .unwrap_or_else(|| conv.forward(x));
        }
        _ => {
            if let Some(g) = square_geometry(conv, &weight, &x).filter(|_| conv.groups == 1)
                && let Some(y) = dense::forward_inference(&x, &weight, bias.as_ref(), &g)
            {
                return y;
            }
            None
        }
    };
    match (y, bias) {
        (Some(y), Some(b)) => {
            let channels = y.dims()[1];
            y + b.reshape([1, channels, 1, 1])
        }
        (Some(y), None) => y,
        (None, _) => conv.forward(x),
    }
}

/// `silu(conv.forward(x))`; in evaluation on the CPU a 1×1 convolution applies SiLU to
/// each image's output as the product produces it (`pointwise::forward_inference`).
pub fn forward_silu(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if cpu(&x.device()) == Cpu::Inference && is_pointwise(conv) {
        let bias = conv.bias.as_ref().map(|b| b.val());
        if let Some(y) = pointwise::forward_inference(&x, &conv.weight.val(), bias.as_ref(), true) {
            return y;
        }
    }
    crate::model::fast::silu(forward(conv, x))
}

/// In evaluation on the CPU, when `conv` is depthwise: `silu(conv(x))` and its mean over
/// each plane (`[n, c, 1, 1]`), from one kernel pass ([`depthwise::forward_silu_sums`])
/// instead of a convolution, a SiLU pass and a mean pass over the activation. `None` where
/// that does not apply (training, GPUs, not depthwise, not f32 flex tensors): the caller
/// then composes burn's operations.
pub fn depthwise_silu_mean(conv: &Conv2d, x: &Tensor<4>) -> Option<(Tensor<4>, Tensor<4>)> {
    if cpu(&x.device()) != Cpu::Inference {
        return None;
    }
    let weight = conv.weight.val();
    let g = depthwise_geometry(conv, &weight, x)?;
    let bias = conv.bias.as_ref().map(|b| b.val());
    let (xf, wf, bf) = super::flex_f32(x, &weight, bias.as_ref())?;
    let b = bf.as_ref().map(values);
    let (y, sums) = depthwise::forward_silu_sums(&values(&xf), &values(&wf), b.as_deref(), &g);
    let plane = (g.oh * g.ow) as f64;
    let means: Vec<f32> = sums.iter().map(|s| (s / plane) as f32).collect();
    Some((
        Tensor::from_primitive::<Flex>(flex(y, [g.batch, g.channels, g.oh, g.ow])),
        Tensor::from_primitive::<Flex>(flex(means, [g.batch, g.channels, 1, 1])),
    ))
}

fn is_pointwise(conv: &Conv2d) -> bool {
    conv.kernel_size == [1, 1]
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && matches!(
            conv.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        )
}

/// The depthwise geometry when `conv` is one (groups = in = out channels, square kernel,
/// equal padding on every side, no dilation).
fn depthwise_geometry(conv: &Conv2d, weight: &Tensor<4>, x: &Tensor<4>) -> Option<Geometry> {
    square_geometry(conv, weight, x).filter(|_| is_depthwise(conv, weight, x))
}

/// Whether `conv` is depthwise: groups = in = out channels.
fn is_depthwise(conv: &Conv2d, weight: &Tensor<4>, x: &Tensor<4>) -> bool {
    let channels = x.dims()[1];
    let [c_out, per_group, ..] = weight.dims();
    conv.groups == channels && c_out == channels && per_group == 1
}

/// Where `conv` reads and writes on `x` (its `channels` are `x`'s) when its kernel is square,
/// its stride the same both ways, its padding equal on every side and it has no dilation.
fn square_geometry(conv: &Conv2d, weight: &Tensor<4>, x: &Tensor<4>) -> Option<Geometry> {
    let [_, _, kh, kw] = weight.dims();
    let PaddingConfig2d::Explicit(t, l, b, r) = conv.padding else {
        return None;
    };
    let square = kh == kw && conv.stride[0] == conv.stride[1] && t == l && t == b && t == r;
    if !square || conv.dilation != [1, 1] {
        return None;
    }
    Geometry::new(x.dims(), kh, conv.stride[0], t)
}
