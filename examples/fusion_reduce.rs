//! burn's `fusion` on this model, reduced to the smallest burn program that fails, with the
//! operations around it and the model itself, each run on the wgpu device and compared with
//! the CPU.
//!
//!   cargo run --release --example fusion_reduce --features fusion   # on lavapipe or a GPU
//!
//! **The smallest failing program** (burn 0.22.1 / cubecl 0.11.3, fused, lavapipe): on a
//! `[2, 24, 1, 1]` input, a training-mode batch norm, the mean over height and width (one
//! element), a bias-free 1×1 convolution, a sigmoid and the product with the normalised input;
//! reading the input's gradient fails ("An error happened during execution"). Without the
//! batch norm, without the mean, or without the convolution, it runs; at 2×2 it runs. In
//! EfficientNet-B0 that is squeeze-and-excitation in the blocks whose map is 1×1 — the last
//! stages at 32 px — so the model's training failed fused at 32 px and ran at 64 px. The
//! model takes the mean of a 1×1 map as the map itself (`efficientnet.rs`, `spatial_mean`):
//! the same values, and training runs fused.
//!
//! It prints one line per program (ok / FAILS with the first line of burn's message), then a
//! verdict: whether burn still fails the smallest program (then the workaround must stay) and
//! whether the model trains fused. It exits 1 when any program fails, 0 when burn is fixed and
//! everything runs. Without the `fusion` feature the same programs run unfused (all pass).

use std::panic::{AssertUnwindSafe, catch_unwind};

use bloodshot::model::cpu::{batch_norm, conv};
use bloodshot::model::efficientnet::EfficientNetB0;
use burn::nn::conv::Conv2dConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{BatchNormConfig, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, silu};

type Program = Box<dyn Fn(&Device) -> Vec<f32>>;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().iter::<f32>().collect()
}

fn input(shape: [usize; 4], device: &Device) -> Tensor<4> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    Tensor::<4>::from_data(TensorData::new(v, shape), device)
}

fn pool(device: &Device) -> Vec<f32> {
    let x = input([2, 16, 8, 8], device);
    values(x.mean_dim(2).mean_dim(3).reshape([2, 16]))
}

fn silu_then_pool(device: &Device) -> Vec<f32> {
    let x = input([2, 16, 8, 8], device);
    values(silu(x).mean_dim(2).mean_dim(3).reshape([2, 16]))
}

fn squeeze_excitation(device: &Device) -> Vec<f32> {
    let x = silu(input([2, 16, 8, 8], device));
    let s = sigmoid(x.clone().mean_dim(2).mean_dim(3));
    values(x * s)
}

/// Squeeze-and-excitation's gating (SiLU, mean over h and w, sigmoid, scale) and the input's
/// gradient.
fn squeeze_excitation_backward(device: &Device, shape: [usize; 4]) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let x = input(shape, &ad).require_grad();
    let h = silu(x.clone());
    let s = sigmoid(h.clone().mean_dim(2).mean_dim(3));
    let y = h * s;
    let grads = (y.clone() * y).sum().backward();
    values(x.grad(&grads).expect("a gradient"))
}

fn pool_backward(device: &Device, shape: [usize; 4]) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let x = input(shape, &ad).require_grad();
    let y = silu(x.clone()).mean_dim(2).mean_dim(3).sum();
    let grads = y.backward();
    values(x.grad(&grads).expect("a gradient"))
}

fn batch_norm_train(device: &Device, shape: [usize; 4]) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let bn = BatchNormConfig::new(shape[1]).init(&ad);
    let x = input(shape, &ad).require_grad();
    let y = bn.forward(x.clone());
    let grads = (y.clone() * y).sum().backward();
    values(x.grad(&grads).expect("a gradient"))
}

/// The whole model: one softmax training step at `size` px, batch 4 (nothing to compare: it
/// must run).
fn training_step(device: &Device, size: usize) -> Vec<f32> {
    let t = bloodshot::bench::train(
        device,
        bloodshot::model::Objective::Softmax,
        size,
        4,
        2,
        None,
    );
    assert_eq!(t.steps_s.len(), 2);
    Vec::new()
}

/// Batch-norm recalibration's graph-free passes (batch statistics from burn's reductions).
fn recalibration(device: &Device) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let net = EfficientNetB0::new(&ad).without_stochastic_depth();
    let passes = bloodshot::model::recalibrate::recalibrate(
        &net,
        std::iter::once(input([2, 3, 32, 32], device)),
    );
    assert_eq!(passes, 1);
    Vec::new()
}

/// The training-mode output of torchvision stage `stage` (0 = stem … 8 = head) of a fresh
/// network at `size` px, batch 2, and with `backward` the input's gradient of its sum. The
/// weights are random per device, so these only have to run.
fn stage(device: &Device, stage: usize, backward: bool, size: usize) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let net = EfficientNetB0::new(&ad).without_stochastic_depth();
    let x = input([2, 3, size, size], &ad).require_grad();
    let out = net.stage_outputs(x.clone()).swap_remove(stage);
    if backward {
        let grads = out.sum().backward();
        let _ = values(x.grad(&grads).expect("a gradient"));
    } else {
        let _ = values(out);
    }
    Vec::new()
}

/// The embedding (all stages and the pooling) and the input's gradient of its sum.
fn embedding_backward(device: &Device, size: usize) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let net = EfficientNetB0::new(&ad).without_stochastic_depth();
    let x = input([2, 3, size, size], &ad).require_grad();
    let grads = net.forward(x.clone()).sum().backward();
    let _ = values(x.grad(&grads).expect("a gradient"));
    Vec::new()
}

/// Fixed convolution weights of `shape`, in [−scale, scale], the same on every device (so the
/// CPU's values are the reference).
fn fixed_weight(shape: [usize; 4], scale: f32, device: &Device) -> burn::module::Param<Tensor<4>> {
    let n: usize = shape.iter().product();
    let w: Vec<f32> = (0..n)
        .map(|i| (((i * 13 % 29) as f32 / 14.0) - 1.0) * scale)
        .collect();
    burn::module::Param::from_tensor(Tensor::<4>::from_data(TensorData::new(w, shape), device))
}

/// A 3×3 stride-2 convolution, training batch norm and SiLU (the stem), forward and backward.
fn conv_bn_silu(
    device: &Device,
    kernel: usize,
    stride: usize,
    groups: usize,
    size: usize,
) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let channels = if groups == 1 { [3, 16] } else { [16, 16] };
    let pad = (kernel - 1) / 2;
    let mut conv = Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(groups)
        .with_bias(false)
        .init(&ad);
    let per_group = channels[0] / groups;
    conv.weight = fixed_weight([16, per_group, kernel, kernel], 1.0, &ad);
    let bn = BatchNormConfig::new(16).init(&ad);
    let x = input([2, channels[0], size, size], &ad).require_grad();
    let y = silu(bloodshot::model::cpu::batch_norm::forward(
        &bn,
        bloodshot::model::cpu::conv::forward(&conv, x.clone()),
    ));
    let grads = (y.clone() * y).sum().backward();
    values(x.grad(&grads).expect("a gradient"))
}

/// A depthwise `kernel`×`kernel` convolution (padding `kernel / 2`) of `channels` channels
/// from `size`×`size`, alone: its output, or with `backward` the input's gradient of the
/// output's squared sum. Weights are fixed, so the CPU's values are the reference.
fn depthwise(
    device: &Device,
    channels: usize,
    kernel: usize,
    stride: usize,
    size: usize,
    backward: bool,
) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let pad = kernel / 2;
    let mut conv = Conv2dConfig::new([channels, channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(channels)
        .with_bias(false)
        .init(&ad);
    conv.weight = fixed_weight([channels, 1, kernel, kernel], 1.0, &ad);
    let x = input([2, channels, size, size], &ad).require_grad();
    let y = conv.forward(x.clone());
    if !backward {
        return values(y);
    }
    let grads = (y.clone() * y).sum().backward();
    values(x.grad(&grads).expect("a gradient"))
}

/// The parts of an MBConv block that `parts` names (`e` 1×1 expansion with batch norm and
/// SiLU, `d` depthwise with batch norm and SiLU, `s` squeeze-and-excitation, `p` 1×1
/// projection with batch norm, `r` residual; `n` leaves out the excitation's mean, `q` its two
/// convolutions, `o` has one bias-free convolution instead of two; `b` without `e` is a batch
/// norm alone), `c` → `6c` → `c` channels at `size`×`size`,
/// training mode, and the input's gradient of the output's squared sum. Weights are random
/// per device, so this only has to run.
fn mbconv(device: &Device, c: usize, kernel: usize, size: usize, parts: &str) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let hidden = 6 * c;
    let conv = |cin: usize, cout: usize, k: usize, groups: usize, bias: bool| {
        Conv2dConfig::new([cin, cout], [k, k])
            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
            .with_groups(groups)
            .with_bias(bias)
            .init(&ad)
    };
    let (bn1, bn2, bn3) = (
        BatchNormConfig::new(hidden).init(&ad),
        BatchNormConfig::new(hidden).init(&ad),
        BatchNormConfig::new(c).init(&ad),
    );
    let (expand, dw) = (
        conv(c, hidden, 1, 1, false),
        conv(hidden, hidden, kernel, hidden, false),
    );
    let (reduce, grow) = (
        conv(hidden, c / 4, 1, 1, true),
        conv(c / 4, hidden, 1, 1, true),
    );
    let project = conv(hidden, c, 1, 1, false);
    let single = conv(hidden, hidden, 1, 1, false);
    let x = input([2, c, size, size], &ad).require_grad();
    let mut h = x.clone();
    if parts.contains('e') {
        h = silu(batch_norm::forward(&bn1, conv::forward(&expand, h)));
    } else {
        h = Tensor::cat(vec![h; 6], 1);
        if parts.contains('b') {
            h = batch_norm::forward(&bn1, h);
        }
    }
    if parts.contains('d') {
        h = silu(batch_norm::forward(&bn2, conv::forward(&dw, h)));
    }
    if parts.contains('s') {
        let mut g = h.clone();
        if !parts.contains('n') {
            g = g.mean_dim(2).mean_dim(3);
        }
        if parts.contains('o') {
            g = conv::forward(&single, g);
        } else if !parts.contains('q') {
            g = conv::forward(&grow, silu(conv::forward(&reduce, g)));
        }
        h = h * sigmoid(g);
    }
    let mut y = if parts.contains('p') {
        batch_norm::forward(&bn3, conv::forward(&project, h))
    } else {
        h.narrow(1, 0, c)
    };
    if parts.contains('r') {
        y = y + x.clone();
    }
    let grads = (y.clone() * y).sum().backward();
    let _ = values(x.grad(&grads).expect("a gradient"));
    Vec::new()
}

/// The smallest failing program (see the top of this file), in plain burn; the weights are
/// fixed, so the CPU's values are the reference.
fn smallest(device: &Device) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let bn = BatchNormConfig::new(24).init(&ad);
    let mut conv = Conv2dConfig::new([24, 24], [1, 1])
        .with_bias(false)
        .init(&ad);
    conv.weight = fixed_weight([24, 24, 1, 1], 0.1, &ad);
    let x = input([2, 24, 1, 1], &ad).require_grad();
    let h = bn.forward(x.clone());
    let y = h.clone() * sigmoid(conv.forward(h.mean_dim(2).mean_dim(3)));
    let grads = (y.clone() * y).sum().backward();
    values(x.grad(&grads).expect("a gradient"))
}

/// The softmax head's cross-entropy on fixed embeddings and its gradient.
fn softmax_loss(device: &Device) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let emb = input([1, 1, 4, 1280], &ad)
        .reshape([4, 1280])
        .require_grad();
    let w = input([1, 1, 1280, 11], &ad).reshape([1280, 11]) / 30.0;
    let logits = emb.clone().matmul(w);
    let targets = Tensor::<1, Int>::from_data(TensorData::from([0i64, 3, 7, 10]), &ad);
    let loss = CrossEntropyLossConfig::new()
        .init(&ad)
        .forward(logits, targets);
    let grads = loss.backward();
    values(emb.grad(&grads).expect("a gradient"))
}

/// One Adam step on a linear layer.
fn adam_step(device: &Device) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let mut linear = LinearConfig::new(8, 4).init(&ad);
    let w: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) / 16.0).collect();
    linear.weight =
        burn::module::Param::from_tensor(Tensor::<2>::from_data(TensorData::new(w, [8, 4]), &ad));
    linear.bias = None;
    let x = input([1, 1, 3, 8], &ad).reshape([3, 8]);
    let loss = linear.forward(x).powi_scalar(2).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &linear);
    let mut optim = AdamConfig::new().init();
    let linear = optim.step(1e-2, linear, grads);
    values(linear.weight.val())
}

const SMALLEST: &str = "smallest: batch norm, mean over 1×1, 1×1 conv, sigmoid, scale; gradient";

fn main() {
    let Ok(gpu) = bloodshot::device::open(bloodshot::device::DeviceSpec::Wgpu(
        bloodshot::device::Adapter::Best,
    )) else {
        eprintln!("fusion_reduce: no wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
        std::process::exit(2);
    };
    println!(
        "fusion {} on {}",
        if cfg!(feature = "fusion") {
            "on"
        } else {
            "off"
        },
        bloodshot::device::describe(bloodshot::device::DeviceSpec::Wgpu(
            bloodshot::device::Adapter::Best
        ))
    );
    let mut programs: Vec<(String, Program)> = vec![
        (SMALLEST.into(), Box::new(smallest)),
        ("mean over h, w".into(), Box::new(pool)),
        ("silu, then mean over h, w".into(), Box::new(silu_then_pool)),
        (
            "squeeze-and-excitation (silu, mean, sigmoid, scale)".into(),
            Box::new(squeeze_excitation),
        ),
        (
            "cross-entropy and its gradient".into(),
            Box::new(softmax_loss),
        ),
    ];
    for size in [8, 2, 1] {
        let shape = [2, 16, size, size];
        let more: [(String, Program); 5] = [
            (
                format!("gradient of silu + mean over h, w at {size}×{size}"),
                Box::new(move |d: &Device| pool_backward(d, shape)),
            ),
            (
                format!("training-mode batch norm and its gradient at {size}×{size}"),
                Box::new(move |d: &Device| batch_norm_train(d, shape)),
            ),
            (
                format!("squeeze-and-excitation gating and its gradient at {size}×{size}"),
                Box::new(move |d: &Device| squeeze_excitation_backward(d, shape)),
            ),
            (
                format!(
                    "3×3 stride-2 convolution, batch norm, SiLU and gradient from {size}×{size}"
                ),
                Box::new(move |d: &Device| conv_bn_silu(d, 3, 2, 1, size)),
            ),
            (
                format!(
                    "5×5 stride-2 depthwise convolution, batch norm, SiLU and gradient from {size}×{size}"
                ),
                Box::new(move |d: &Device| conv_bn_silu(d, 5, 2, 16, size)),
            ),
        ];
        programs.extend(more);
    }
    programs.extend::<[(String, Program); 1]>([(
        "one Adam step on a linear layer".into(),
        Box::new(adam_step),
    )]);
    for (backward, size) in [(false, 32), (true, 32), (true, 64)] {
        for k in 0..9 {
            let what = if backward {
                "and its gradient"
            } else {
                "forward"
            };
            programs.push((
                format!("EfficientNet-B0 training mode at {size} px: stage {k} {what}"),
                Box::new(move |d: &Device| stage(d, k, backward, size)),
            ));
        }
    }
    for (channels, kernel, stride, size) in [
        (16, 5, 2, 2),
        (16, 3, 2, 2),
        (16, 5, 1, 2),
        (16, 5, 2, 4),
        (1, 5, 2, 2),
        (672, 5, 2, 2),
    ] {
        for backward in [false, true] {
            let what = if backward { "gradient" } else { "output" };
            programs.push((
                format!(
                    "depthwise {kernel}×{kernel} stride {stride}, {channels} channels, from \
                     {size}×{size}: {what}"
                ),
                Box::new(move |d: &Device| depthwise(d, channels, kernel, stride, size, backward)),
            ));
        }
    }
    for (c, kernel, size, parts) in [
        (192, 5, 1, "edspr"),
        (192, 5, 2, "edspr"),
        (16, 5, 1, "edspr"),
        (16, 3, 1, "edspr"),
        (16, 5, 1, "edsp"),
        (16, 5, 1, "edpr"),
        (16, 5, 1, "dspr"),
        (16, 5, 1, "espr"),
        (16, 5, 1, "ed"),
        (16, 5, 1, "ds"),
        (16, 5, 1, "es"),
        (16, 5, 1, "d"),
        (16, 5, 1, "e"),
        (16, 5, 1, "s"),
        (16, 5, 1, "esn"),
        (16, 5, 1, "esq"),
        (16, 5, 1, "sn"),
        (16, 5, 1, "sq"),
        (16, 5, 2, "es"),
        (16, 5, 1, "bs"),
        (16, 5, 1, "bso"),
        (16, 5, 1, "eso"),
        (4, 5, 1, "bso"),
    ] {
        programs.push((
            format!("MBConv parts {parts}, {c} → {} → {c} channels, {kernel}×{kernel}, at {size}×{size}", 6 * c),
            Box::new(move |d: &Device| mbconv(d, c, kernel, size, parts)),
        ));
    }
    for size in [32, 64] {
        programs.push((
            format!("EfficientNet-B0 at {size} px: embedding and its gradient"),
            Box::new(move |d: &Device| embedding_backward(d, size)),
        ));
        programs.push((
            format!("EfficientNet-B0 at {size} px: one training step"),
            Box::new(move |d: &Device| training_step(d, size)),
        ));
    }
    programs.push((
        "EfficientNet-B0: batch-norm recalibration".into(),
        Box::new(recalibration),
    ));
    std::panic::set_hook(Box::new(|_| {}));
    let (mut failed, mut smallest_failed, mut model_failed) = (0, false, 0);
    for (name, program) in programs {
        let before = failed;
        let cpu = program(&Device::flex());
        match catch_unwind(AssertUnwindSafe(|| program(&gpu))) {
            Ok(got) => {
                // Relative to the largest CPU value (batch norm over two values amplifies
                // rounding).
                let scale = cpu.iter().fold(1f32, |m, a| m.max(a.abs()));
                let worst = cpu
                    .iter()
                    .zip(&got)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
                    / scale;
                if worst <= 1e-4 {
                    println!("ok     {name} (max relative |Δ| vs CPU {worst:.1e})");
                } else {
                    failed += 1;
                    println!("FAILS  {name}: max relative |Δ| vs CPU {worst:.1e}");
                }
            }
            Err(panic) => {
                failed += 1;
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                println!("FAILS  {name}: {}", why.lines().next().unwrap_or(""));
            }
        }
        if failed > before {
            smallest_failed |= name == SMALLEST;
            model_failed += usize::from(name.starts_with("EfficientNet-B0"));
        }
    }
    println!(
        "burn: {}",
        if smallest_failed {
            "the smallest program still fails; keep the 1×1 case of `spatial_mean`"
        } else {
            "the smallest program runs"
        }
    );
    println!(
        "model: {}",
        if model_failed == 0 {
            "every EfficientNet-B0 program runs".to_string()
        } else {
            format!("{model_failed} EfficientNet-B0 programs fail")
        }
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
