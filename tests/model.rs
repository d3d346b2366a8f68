//! The network and the objectives against hand-computed values.

use bloodshot::model::efficientnet::trainable_params;
use bloodshot::model::heads::{aam_logits, cross_entropy, l2_normalize, one_hot};
use bloodshot::model::rotate::rotate;
use bloodshot::model::{AamParams, EfficientNetB0};
use burn::module::Module;
use burn::prelude::*;

fn dev() -> Device {
    Device::flex()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

#[test]
fn efficientnet_b0_has_torchvision_parameter_count() {
    let net = EfficientNetB0::new(&dev());
    // torchvision.models.efficientnet_b0().features: sum(p.numel() for p in parameters())
    assert_eq!(trainable_params(&net), 4_007_548);
    // burn also counts the running mean and variance of the 21,008 batch-norm channels.
    assert_eq!(net.num_params(), 4_007_548 + 2 * 21_008);
    assert_eq!(net.num_blocks(), 16);
}

#[test]
fn efficientnet_embeds_to_1280_and_downsamples_by_32() {
    let net = EfficientNetB0::new(&dev()).valid();
    let x = Tensor::<4>::zeros([2, 3, 64, 64], &dev());
    assert_eq!(net.features(x.clone()).dims(), [2, 1280, 2, 2]);
    assert_eq!(net.forward(x).dims(), [2, 1280]);
}

#[test]
fn arcface_logits_and_loss_match_hand_computation() {
    let d = dev();
    // Class centres are the axes, so cosines are the embedding coordinates.
    let cos = Tensor::<2>::from_floats([[0.6, 0.8], [-1.0, 0.0]], &d);
    let target = one_hot(&[1, 0], 2, &d);
    let p = AamParams {
        margin: 0.5,
        scale: 2.0,
    };
    let logits = values(aam_logits(cos, target.clone(), p));
    // Row 0, target 1: cos θ = 0.8, sin θ = 0.6:
    // cos(θ + m) = 0.8·cos 0.5 − 0.6·sin 0.5 = 0.414410726…; non-targets keep s·cos θ.
    let expected0 = [2.0 * 0.6, 2.0 * 0.414_410_73];
    // Row 1, target 0: cos θ = −1 ≤ cos(π − m): fallback cos θ − m·sin m = −1.2397127.
    let expected1 = [2.0 * -1.239_712_7, 0.0];
    for (got, want) in logits.iter().zip(expected0.iter().chain(&expected1)) {
        assert!((got - want).abs() < 1e-4, "logits {logits:?}");
    }
    // Cross-entropy of row 0 alone: log(e^1.2 + e^0.828821) − 0.828821 = 0.89586018.
    let l0 = Tensor::<2>::from_floats([[logits[0], logits[1]]], &d);
    let loss = cross_entropy(l0, one_hot(&[1], 2, &d)).into_scalar::<f32>();
    assert!((loss - 0.895_860_2).abs() < 1e-5, "loss {loss}");
}

#[test]
fn zero_margin_arcface_is_scaled_cosine_softmax() {
    let d = dev();
    let cos = Tensor::<2>::from_floats([[0.3, -0.2, 0.5]], &d);
    let p = AamParams {
        margin: 0.0,
        scale: 10.0,
    };
    let got = values(aam_logits(cos, one_hot(&[2], 3, &d), p));
    for (g, w) in got.iter().zip([3.0, -2.0, 5.0]) {
        assert!((g - w).abs() < 1e-4, "{got:?}");
    }
}

#[test]
fn l2_normalize_gives_unit_rows() {
    let x = Tensor::<2>::from_floats([[3.0, 4.0], [0.0, -2.0]], &dev());
    let v = values(l2_normalize(x));
    let want = [0.6, 0.8, 0.0, -1.0];
    for (g, w) in v.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{v:?}");
    }
}

#[test]
fn rotation_by_90_degrees_is_a_pixel_permutation() {
    let d = dev();
    let n = 5;
    let img: Vec<f32> = (0..n * n).map(|i| i as f32).collect();
    let x = Tensor::<4>::from_data(TensorData::new(img.clone(), [1, 1, n, n]), &d);
    let r = values(rotate(x.clone(), &[std::f32::consts::FRAC_PI_2]));
    // The grid maps output (x, y) to input (−y, x) in normalised coordinates, so output pixel
    // (row, col) takes input pixel (row col, col n−1−row): the top-right corner moves to the
    // top-left, a counter-clockwise quarter turn on screen.
    for y in 0..n {
        for xcol in 0..n {
            let want = img[xcol * n + (n - 1 - y)];
            let got = r[y * n + xcol];
            assert!(
                (got - want).abs() < 1e-3,
                "at ({y},{xcol}) got {got} want {want}"
            );
        }
    }
    // Four quarter turns give the image back; zero angle is the identity.
    let mut z = x.clone();
    for _ in 0..4 {
        z = rotate(z, &[std::f32::consts::FRAC_PI_2]);
    }
    for (g, w) in values(z).iter().zip(&img) {
        assert!((g - w).abs() < 1e-2);
    }
    for (g, w) in values(rotate(x, &[0.0])).iter().zip(&img) {
        assert!((g - w).abs() < 1e-5);
    }
}

#[test]
fn rotation_uses_one_angle_per_image() {
    let d = dev();
    let n = 3;
    let img: Vec<f32> = (0..2 * n * n).map(|i| (i % 9) as f32).collect();
    let x = Tensor::<4>::from_data(TensorData::new(img.clone(), [2, 1, n, n]), &d);
    let r = values(rotate(x, &[0.0, std::f32::consts::PI]));
    for i in 0..9 {
        assert!((r[i] - img[i]).abs() < 1e-4, "image 0 unchanged");
        assert!(
            (r[9 + i] - img[8 - i]).abs() < 1e-3,
            "image 1 turned by 180°"
        );
    }
}

/// The folded inference network gives the evaluation-mode embeddings of the network it was
/// folded from, within 1e-5 relative, after training moved the batch-norm statistics and
/// affine parameters away from their initial values.
#[test]
fn folded_batch_norm_embeds_like_the_network() {
    use burn::optim::{AdamConfig, GradientsParams};
    let ad = dev().autodiff();
    let mut net = EfficientNetB0::new(&ad);
    let mut optim = AdamConfig::new().init();
    for seed in 0..3 {
        ad.seed(seed);
        let x = Tensor::<4>::random([4, 3, 64, 64], burn::tensor::Distribution::Default, &ad);
        // Training-mode passes move the running statistics; the steps move γ and β.
        let loss = net.forward(x).powf_scalar(2.0).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-2, net, grads);
    }
    let net = net.valid();
    let folded = bloodshot::model::inference::InferenceB0::new(&net);
    let x = Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Default, &dev());
    let want = values(net.forward(x.clone()));
    let got = values(folded.forward(x));
    assert_eq!(want.len(), got.len());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = want
        .iter()
        .zip(&got)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(scale > 0.0);
    assert!(
        worst / scale < 1e-5,
        "max |Δ| {worst} for max |embedding| {scale}"
    );
}

/// `InferenceB0::embed` (one sub-batch per worker thread on the CPU) gives the rows of
/// `forward` on the whole batch, in order, for batches that do and do not divide evenly.
#[test]
fn embedding_by_sub_batches_keeps_every_row() {
    let net = EfficientNetB0::new(&dev()).valid();
    let folded = bloodshot::model::inference::InferenceB0::new(&net);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("a thread pool");
    for batch in [1, 3, 5] {
        let x = Tensor::<4>::random(
            [batch, 3, 32, 32],
            burn::tensor::Distribution::Default,
            &dev(),
        );
        let want = values(folded.forward(x.clone()));
        let got = values(pool.install(|| folded.embed(x)));
        assert_eq!(want.len(), batch * 1280);
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in want.iter().zip(&got).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * scale,
                "batch {batch}, image {}, value {}: {a} vs {b}",
                i / 1280,
                i % 1280
            );
        }
    }
}

/// The branch-free exponential of the fast SiLU against f64's, and the fast SiLU and sigmoid
/// against burn's on the CPU backend, from tiny to saturated inputs.
#[test]
fn fast_activations_match_burn() {
    use bloodshot::model::fast;
    let mut worst = 0f64;
    for i in -8730..=8830 {
        let x = i as f32 * 0.01;
        let want = (x as f64).exp();
        worst = worst.max(((fast::exp(x) as f64) - want).abs() / want);
    }
    assert!(worst < 5e-7, "exp relative error {worst}");
    assert!(fast::exp(f32::NAN).is_nan());
    let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.05).collect();
    let t = || Tensor::<1>::from_floats(xs.as_slice(), &dev());
    for (name, got, want) in [
        (
            "silu",
            values(fast::silu(t())),
            values(burn::tensor::activation::silu(t())),
        ),
        (
            "sigmoid",
            values(fast::sigmoid(t())),
            values(burn::tensor::activation::sigmoid(t())),
        ),
    ] {
        for ((g, w), x) in got.iter().zip(&want).zip(&xs) {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                "{name}({x}) = {g}, burn says {w}"
            );
        }
    }
}

/// Under autodiff (training on the CPU) the fast SiLU and sigmoid have burn's values and
/// burn's gradients.
#[test]
fn fast_activations_have_burn_gradients() {
    use bloodshot::model::fast;
    let ad = dev().autodiff();
    let xs: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.05).collect();
    let weights: Vec<f32> = (0..xs.len())
        .map(|i| ((i % 7) as f32 - 3.0) * 0.5)
        .collect();
    type Act = fn(Tensor<1>) -> Tensor<1>;
    let pairs: [(&str, Act, Act); 2] = [
        ("silu", fast::silu, burn::tensor::activation::silu),
        ("sigmoid", fast::sigmoid, burn::tensor::activation::sigmoid),
    ];
    for (name, ours, theirs) in pairs {
        let run = |f: Act| {
            let x = Tensor::<1>::from_floats(xs.as_slice(), &ad).require_grad();
            let w = Tensor::<1>::from_floats(weights.as_slice(), &ad);
            let y = f(x.clone());
            let loss = (y.clone() * w).sum();
            let grads = loss.backward();
            (values(y), values(x.grad(&grads).unwrap()))
        };
        let (y1, g1) = run(ours);
        let (y2, g2) = run(theirs);
        for i in 0..xs.len() {
            assert!(
                (y1[i] - y2[i]).abs() <= 1e-6 * y2[i].abs().max(1.0),
                "{name} value at {}",
                xs[i]
            );
            assert!(
                (g1[i] - g2[i]).abs() <= 1e-5 * g2[i].abs().max(1.0),
                "{name} grad at {}: {} vs {}",
                xs[i],
                g1[i],
                g2[i]
            );
        }
    }
}

mod common;
use common::wiggly;

fn close(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    let scale = theirs.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= 2e-5 * scale, "{what}[{i}]: {a} vs {b}");
    }
}

/// A convolution as EfficientNet-B0's are built: `k`×`k`, stride `s`, padding `(k − 1) / 2`.
fn conv_layer(
    (cin, cout, groups): (usize, usize, usize),
    (k, s): (usize, usize),
    bias: bool,
    device: &Device,
) -> burn::nn::conv::Conv2d {
    let pad = (k - 1) / 2;
    burn::nn::conv::Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([s, s])
        .with_padding(burn::nn::PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(groups)
        .with_bias(bias)
        .init(device)
}

/// `model::conv::forward` (the CPU's own depthwise kernels and 1×1-as-matrix-product) gives
/// burn's `Conv2d` values and gradients, for every kernel, stride and padding B0 uses, odd
/// sizes, with and without bias, in training (autodiff) and inference.
#[test]
fn cpu_convolutions_match_burn() {
    use bloodshot::model::cpu::conv;
    // (channels in, out, groups, kernel, stride, h, w, bias)
    let cases = [
        (4, 4, 4, 3, 1, 7, 9, false),
        (4, 4, 4, 3, 2, 7, 9, true),
        (3, 3, 3, 5, 1, 6, 11, false),
        (3, 3, 3, 5, 2, 9, 6, true),
        (2, 2, 2, 3, 2, 2, 3, false), // smaller than the kernel's reach
        (5, 3, 1, 1, 1, 4, 5, false),
        (5, 3, 1, 1, 1, 1, 1, true),
        (3, 4, 1, 3, 2, 8, 8, false), // dense 3×3: burn's in training (x needs a gradient), `cpu::dense` in inference
        (2, 2, 2, 3, 1, 64, 60, true), // several tasks per channel (see below)
        (40, 37, 1, 1, 1, 2, 3, true), // planes smaller than the batch (see below)
        (37, 40, 1, 1, 1, 2, 3, false),
        (5, 300, 1, 1, 1, 23, 29, true), // evaluation's products in blocks of columns
    ];
    let inference = dev();
    let training = dev().autodiff();
    for (n, &(cin, cout, groups, k, s, h, w, bias)) in cases.iter().enumerate() {
        let what = format!("case {n}: {cin}->{cout} groups {groups} {k}x{k}/{s} on {h}x{w}");
        // Five images: the 64×60 planes go three images to a task, so one channel has a full
        // task and a partial one. Nine images for the dense 2×3 maps: planes smaller than the
        // batch go through one product per position, in bands of rows with a partial last.
        let batch = match (h, w, groups) {
            (64, _, _) => 5,
            (2, 3, 1) => 9,
            _ => 2,
        };
        let xs = wiggly(batch * cin * h * w, n as u32);
        for device in [&inference, &training] {
            let layer = conv_layer((cin, cout, groups), (k, s), bias, device);
            let mut x =
                Tensor::<4>::from_data(TensorData::new(xs.clone(), [batch, cin, h, w]), device);
            if device.is_autodiff() {
                x = x.require_grad();
            }
            let y_ours = conv::forward(&layer, x.clone());
            let y_burn = layer.forward(x.clone());
            assert_eq!(y_ours.dims(), y_burn.dims(), "{what}: shape");
            let r = Tensor::<4>::from_data(
                TensorData::new(wiggly(y_burn.shape().num_elements(), 99), y_burn.dims()),
                device,
            );
            close(
                &values(y_ours.clone()),
                &values(y_burn.clone()),
                &format!("{what}: values"),
            );
            // silu(conv(x)), fused into the product for 1×1 convolutions in evaluation.
            close(
                &values(conv::forward_silu(&layer, x.clone())),
                &values(burn::tensor::activation::silu(y_burn.clone())),
                &format!("{what}: forward_silu"),
            );
            // Evaluation's fused depthwise pass: silu(conv(x)) and each plane's mean.
            let fused = conv::depthwise_silu_mean(&layer, &x);
            let depthwise = groups > 1 && groups == cin && cout == cin;
            if device.is_autodiff() || !depthwise {
                assert!(fused.is_none(), "{what}: fused where it does not apply");
            } else {
                let (y, mean) = fused.expect("the fused depthwise pass");
                let silu = burn::tensor::activation::silu(y_burn.clone());
                close(
                    &values(y),
                    &values(silu.clone()),
                    &format!("{what}: fused silu"),
                );
                let want = silu.mean_dim(2).mean_dim(3);
                assert_eq!(mean.dims(), want.dims(), "{what}: mean shape");
                close(&values(mean), &values(want), &format!("{what}: fused mean"));
            }
            if !device.is_autodiff() {
                continue;
            }
            let g_ours = (y_ours * r.clone()).sum().backward();
            let g_burn = (y_burn * r).sum().backward();
            let grad = |t: Tensor<4>, g| values(t.grad(g).expect("a gradient"));
            close(
                &grad(x.clone(), &g_ours),
                &grad(x.clone(), &g_burn),
                &format!("{what}: dx"),
            );
            let wt = layer.weight.val();
            close(
                &grad(wt.clone(), &g_ours),
                &grad(wt, &g_burn),
                &format!("{what}: dw"),
            );
            if let Some(b) = &layer.bias {
                let g = |g| values(b.val().grad(g).expect("a bias gradient"));
                close(&g(&g_ours), &g(&g_burn), &format!("{what}: db"));
            }
        }
    }
}

/// Dense convolutions in training whose input needs no gradient (the stem on the images) go
/// through the unrolled windows and the 1×1 product (`cpu::dense`): burn's values and weight
/// and bias gradients, for odd sizes, strides 1 and 2, kernels 3 and 5, and a plane smaller
/// than the kernel's reach.
#[test]
fn cpu_dense_convolution_on_images_matches_burn() {
    use bloodshot::model::cpu::conv;
    // (channels in, out, kernel, stride, h, w, bias, images)
    let cases = [
        (3, 4, 3, 2, 8, 8, false, 2),
        (3, 5, 3, 2, 9, 7, true, 3),
        (2, 3, 5, 1, 6, 11, false, 2),
        (3, 4, 3, 2, 2, 3, true, 2),
        (1, 2, 3, 1, 1, 1, false, 1),
    ];
    let device = dev().autodiff();
    for (n, &(cin, cout, k, s, h, w, bias, batch)) in cases.iter().enumerate() {
        let what = format!("case {n}: {cin}->{cout} {k}x{k}/{s} on {h}x{w}, {batch} images");
        let layer = conv_layer((cin, cout, 1), (k, s), bias, &device);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                wiggly(batch * cin * h * w, 40 + n as u32),
                [batch, cin, h, w],
            ),
            &device,
        );
        let y_ours = conv::forward(&layer, x.clone());
        let y_burn = layer.forward(x.clone());
        assert_eq!(y_ours.dims(), y_burn.dims(), "{what}: shape");
        close(
            &values(y_ours.clone()),
            &values(y_burn.clone()),
            &format!("{what}: values"),
        );
        let r = Tensor::<4>::from_data(
            TensorData::new(wiggly(y_burn.shape().num_elements(), 98), y_burn.dims()),
            &device,
        );
        let g_ours = (y_ours * r.clone()).sum().backward();
        let g_burn = (y_burn * r).sum().backward();
        let wt = layer.weight.val();
        let grad = |g| values(wt.grad(g).expect("a weight gradient"));
        close(&grad(&g_ours), &grad(&g_burn), &format!("{what}: dw"));
        if let Some(b) = &layer.bias {
            let g = |g| values(b.val().grad(g).expect("a bias gradient"));
            close(&g(&g_ours), &g(&g_burn), &format!("{what}: db"));
        }
    }
}

/// The unrolled windows by hand: a 3×3 plane holding 1..9, an all-ones 3×3 kernel, stride 2,
/// padding 1. Each output sums the inputs its window covers (12, 16, 24, 28); with an
/// all-ones output gradient each tap's weight gradient sums the inputs it read over the four
/// outputs (the centre tap all four corners, 1 + 3 + 7 + 9). An input that needs a gradient
/// is left to burn's convolution.
#[test]
fn cpu_dense_convolution_by_hand() {
    use bloodshot::model::cpu::{dense, depthwise::Geometry};
    let device = dev().autodiff();
    let x = Tensor::<4>::from_data(
        TensorData::new((1..=9).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 3, 3]),
        &device,
    );
    let w = Tensor::<4>::ones([1, 1, 3, 3], &device).require_grad();
    let g = Geometry::new([1, 1, 3, 3], 3, 2, 1).expect("a geometry");
    let y = dense::forward_autodiff(&x, &w, &g).expect("the dense path for images");
    assert_eq!(y.dims(), [1, 1, 2, 2]);
    assert_eq!(values(y.clone()), vec![12.0, 16.0, 24.0, 28.0]);
    let grads = y.sum().backward();
    assert_eq!(
        values(w.grad(&grads).expect("a weight gradient")),
        vec![5.0, 10.0, 5.0, 10.0, 20.0, 10.0, 5.0, 10.0, 5.0]
    );
    assert!(
        dense::forward_autodiff(&x.require_grad(), &w, &g).is_none(),
        "an input that needs a gradient must go to burn's convolution"
    );
}

/// A depthwise 3×3 convolution, stride 2, padding 1, all-ones kernel on a 4×4 plane holding
/// 1..16: each output is the sum of the inputs its window covers, by hand.
#[test]
fn depthwise_kernel_sums_windows_by_hand() {
    use bloodshot::model::cpu::depthwise::{self, Geometry};
    let x: Vec<f32> = (1..=16).map(|v| v as f32).collect();
    let g = Geometry::new([1, 1, 4, 4], 3, 2, 1).unwrap();
    assert_eq!((g.oh, g.ow), (2, 2));
    let y = depthwise::forward(&x, &[1.0; 9], None, &g);
    // Windows: rows/cols {0,1} -> 1+2+5+6; rows {0,1} cols {1,2,3} -> 2+3+4+6+7+8;
    // rows {1,2,3} cols {0,1} -> 5+6+9+10+13+14; rows/cols {1,2,3} -> 6+7+8+10+...+16.
    assert_eq!(y, vec![14.0, 30.0, 57.0, 99.0]);
    // With the output gradient all ones, each input's gradient counts the windows it is in.
    let dx = depthwise::x_backward(&[1.0; 4], &[1.0; 9], &g);
    #[rustfmt::skip]
    assert_eq!(dx, vec![1.0, 2.0, 1.0, 1.0,
                        2.0, 4.0, 2.0, 2.0,
                        1.0, 2.0, 1.0, 1.0,
                        1.0, 2.0, 1.0, 1.0]);
    // The weight gradient at tap (i, j) sums the inputs that tap reads over the 4 outputs.
    let dw = depthwise::w_backward(&x, &[1.0; 4], &g);
    assert_eq!(dw[4], 1.0 + 3.0 + 9.0 + 11.0); // centre tap reads x[0,0], x[0,2], x[2,0], x[2,2]
    assert_eq!(dw[0], 6.0); // top-left tap: only output (1,1) reads inside, x[1,1]
    // Fused for evaluation, kernel 0.1 and bias −2: silu(y/10 − 2) and the plane's sum.
    let (y, sums) = depthwise::forward_silu_sums(&x, &[0.1; 9], Some(&[-2.0]), &g);
    let silu = |v: f64| v / (1.0 + (-v).exp());
    let want: Vec<f64> = [14.0, 30.0, 57.0, 99.0]
        .iter()
        .map(|v| silu(v / 10.0 - 2.0))
        .collect();
    for (got, want) in y.iter().zip(&want) {
        assert!(
            (*got as f64 - want).abs() < 1e-6,
            "silu: {got} against {want}"
        );
    }
    assert_eq!(sums.len(), 1);
    assert!(
        (sums[0] - want.iter().sum::<f64>()).abs() < 1e-6,
        "sum {}",
        sums[0]
    );
}

/// Training-mode batch norm on the CPU (`model::cpu::batch_norm`) gives burn's `BatchNorm`
/// output, input / γ / β gradients and running statistics.
#[test]
fn cpu_batch_norm_matches_burn() {
    use bloodshot::model::cpu::batch_norm;
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    let ad = dev().autodiff();
    for (n, (b, c, h, w)) in [(3, 4, 5, 7), (2, 3, 1, 1), (4, 2, 8, 8)]
        .into_iter()
        .enumerate()
    {
        let what = format!("[{b}, {c}, {h}, {w}]");
        let make = || {
            let mut bn = BatchNormConfig::new(c).init(&ad);
            let g: Vec<f32> = wiggly(c, 7).iter().map(|v| 1.0 + v).collect();
            bn.gamma = Param::from_tensor(Tensor::<1>::from_floats(g.as_slice(), &ad));
            bn.beta = Param::from_tensor(Tensor::<1>::from_floats(wiggly(c, 8).as_slice(), &ad));
            bn
        };
        // Values with an offset per channel, as activations have.
        let xs: Vec<f32> = wiggly(b * c * h * w, n as u32 + 20)
            .iter()
            .enumerate()
            .map(|(i, v)| 3.0 * v + ((i / (h * w)) % c) as f32)
            .collect();
        let r =
            Tensor::<4>::from_floats(TensorData::new(wiggly(b * c * h * w, 5), [b, c, h, w]), &ad);
        let run = |ours: bool| {
            let bn = make();
            let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), [b, c, h, w]), &ad)
                .require_grad();
            let y = if ours {
                batch_norm::forward(&bn, x.clone())
            } else {
                bn.forward(x.clone())
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            (
                values(y),
                values(x.grad(&grads).unwrap()),
                values(bn.gamma.val().grad(&grads).unwrap()),
                values(bn.beta.val().grad(&grads).unwrap()),
                values(bn.running_mean.value_sync()),
                values(bn.running_var.value_sync()),
            )
        };
        let (ours, burn) = (run(true), run(false));
        close(&ours.0, &burn.0, &format!("{what} output"));
        close(&ours.1, &burn.1, &format!("{what} dx"));
        close(&ours.2, &burn.2, &format!("{what} dγ"));
        close(&ours.3, &burn.3, &format!("{what} dβ"));
        close(&ours.4, &burn.4, &format!("{what} running mean"));
        close(&ours.5, &burn.5, &format!("{what} running variance"));
    }
}

/// Training's per-plane mean and per-plane scaling (squeeze-and-excitation and pooling)
/// give burn's `mean_dim` and broadcast product, values and gradients, including 1×1 planes
/// and planes longer than the kernels' eight lanes with a remainder.
#[test]
fn cpu_plane_mean_and_scale_match_burn() {
    use bloodshot::model::cpu::planes;
    let ad = dev().autodiff();
    for (n, [b, c, h, w]) in [[3, 4, 5, 7], [2, 3, 1, 1], [2, 2, 8, 9]]
        .into_iter()
        .enumerate()
    {
        let what = format!("[{b}, {c}, {h}, {w}]");
        let xs = TensorData::new(wiggly(b * c * h * w, n as u32 + 60), [b, c, h, w]);
        let ss = TensorData::new(wiggly(b * c, n as u32 + 70), [b, c, 1, 1]);
        let r =
            Tensor::<4>::from_data(TensorData::new(wiggly(b * c * h * w, 5), [b, c, h, w]), &ad);
        let rm = Tensor::<4>::from_data(TensorData::new(wiggly(b * c, 6), [b, c, 1, 1]), &ad);
        let run = |ours: bool| {
            let x = Tensor::<4>::from_data(xs.clone(), &ad).require_grad();
            let s = Tensor::<4>::from_data(ss.clone(), &ad).require_grad();
            let (m, y) = if ours {
                (planes::mean(x.clone()), planes::scale(x.clone(), s.clone()))
            } else {
                (x.clone().mean_dim(2).mean_dim(3), x.clone() * s.clone())
            };
            let grads = ((y.clone() * r.clone()).sum() + (m.clone() * rm.clone()).sum()).backward();
            (
                values(m),
                values(y),
                values(x.grad(&grads).unwrap()),
                values(s.grad(&grads).unwrap()),
            )
        };
        let (ours, burn) = (run(true), run(false));
        close(&ours.0, &burn.0, &format!("{what} mean"));
        close(&ours.1, &burn.1, &format!("{what} scaled"));
        close(&ours.2, &burn.2, &format!("{what} dx"));
        close(&ours.3, &burn.3, &format!("{what} ds"));
    }
}

/// By hand: one plane 1, 2, 3, 4 has mean 2.5; scaled by 2 it is 2, 4, 6, 8. With the loss
/// Σ scaled + 3·mean, dx = 2 + 3/4 everywhere and ds = 1 + 2 + 3 + 4 = 10.
#[test]
fn cpu_plane_mean_and_scale_by_hand() {
    use bloodshot::model::cpu::planes;
    let ad = dev().autodiff();
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![1f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]),
        &ad,
    )
    .require_grad();
    let s = Tensor::<4>::from_data(TensorData::new(vec![2f32], [1, 1, 1, 1]), &ad).require_grad();
    let m = planes::mean(x.clone());
    let y = planes::scale(x.clone(), s.clone());
    assert_eq!(values(m.clone()), vec![2.5]);
    assert_eq!(values(y.clone()), vec![2.0, 4.0, 6.0, 8.0]);
    let grads = (y.sum() + m.sum().mul_scalar(3.0)).backward();
    assert_eq!(values(x.grad(&grads).unwrap()), vec![2.75; 4]);
    assert_eq!(values(s.grad(&grads).unwrap()), vec![10.0]);
}

/// One channel holding 1, 2, 3, 4 (two images, two values each): mean 2.5, biased variance
/// 1.25, so with γ = 1, β = 0 the output is (x − 2.5)/√1.25 (ε = 1e-5 aside), and the
/// running statistics move 10 % of the way from (0, 1): 0.25 and 1.025.
#[test]
fn cpu_batch_norm_by_hand() {
    use bloodshot::model::cpu::batch_norm;
    use burn::nn::BatchNormConfig;
    let ad = dev().autodiff();
    let bn = BatchNormConfig::new(1).init(&ad);
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![1f32, 2.0, 3.0, 4.0], [2, 1, 1, 2]),
        &ad,
    );
    let y = values(batch_norm::forward(&bn, x));
    let s = (1.25f32 + 1e-5).sqrt();
    let expected = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s];
    for (a, b) in y.iter().zip(expected) {
        assert!((a - b).abs() < 1e-6, "{y:?} vs {expected:?}");
    }
    let rm = values(bn.running_mean.value_sync());
    assert!((rm[0] - 0.25).abs() < 1e-6, "running mean {rm:?}");
    assert!((values(bn.running_var.value_sync())[0] - 1.025).abs() < 1e-6);
}

/// The one-pass statistics keep the variance when the mean is large against the spread:
/// 10001, 10002, 10003, 10004 normalise exactly as 1, 2, 3, 4 do (mean 10002.5, biased
/// variance 1.25), and the running mean moves to 1000.25.
#[test]
fn cpu_batch_norm_variance_survives_a_large_mean() {
    use bloodshot::model::cpu::batch_norm;
    use burn::nn::BatchNormConfig;
    let ad = dev().autodiff();
    let bn = BatchNormConfig::new(1).init(&ad);
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![10001f32, 10002.0, 10003.0, 10004.0], [2, 1, 1, 2]),
        &ad,
    );
    let y = values(batch_norm::forward(&bn, x));
    let s = (1.25f32 + 1e-5).sqrt();
    let expected = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s];
    for (a, b) in y.iter().zip(expected) {
        assert!((a - b).abs() < 1e-5, "{y:?} vs {expected:?}");
    }
    let rm = values(bn.running_mean.value_sync());
    assert!((rm[0] - 1000.25).abs() < 1e-3, "running mean {rm:?}");
    let rv = values(bn.running_var.value_sync());
    assert!((rv[0] - 1.025).abs() < 1e-6, "running variance {rv:?}");
}

/// Recalibration without a graph (the inner backend, batch statistics, one batch of
/// activations at a time) leaves the running statistics of every batch norm where the
/// training-mode passes on the autodiff device left them — and it moves them, so agreeing
/// is not the same as doing nothing.
#[test]
fn recalibration_without_graph_matches_training_mode_passes() {
    use bloodshot::model::recalibrate::recalibrate;
    let ad = dev().autodiff();
    let net = EfficientNetB0::new(&ad).without_stochastic_depth();
    let shape = [4, 3, 32, 32];
    let batches: Vec<Vec<f32>> = (0..3)
        .map(|k| wiggly(shape.iter().product(), 40 + k))
        .collect();
    let snapshot = |net: &EfficientNetB0| -> Vec<Vec<f32>> {
        net.batch_norms()
            .iter()
            .flat_map(|bn| {
                [
                    values(bn.running_mean.value_sync()),
                    values(bn.running_var.value_sync()),
                ]
            })
            .collect()
    };
    let initial = snapshot(&net);
    // The former way: training-mode forward passes on the autodiff device, graph unused.
    for b in &batches {
        let x = Tensor::<4>::from_data(TensorData::new(b.clone(), shape), &ad);
        let _ = net.forward(x).into_data();
    }
    let with_graph = snapshot(&net);
    // Back to the initial statistics, then the passes without a graph.
    for (bn, pair) in net.batch_norms().iter().zip(initial.chunks(2)) {
        for (state, v) in [(&bn.running_mean, &pair[0]), (&bn.running_var, &pair[1])] {
            state.update(Tensor::<1>::from_data(
                TensorData::new(v.clone(), [v.len()]),
                &ad,
            ));
            let _ = state.value_sync();
        }
    }
    assert_eq!(snapshot(&net), initial);
    let passes = recalibrate(
        &net,
        batches
            .iter()
            .map(|b| Tensor::<4>::from_data(TensorData::new(b.clone(), shape), &dev())),
    );
    assert_eq!(passes, 3);
    let without_graph = snapshot(&net);
    assert_eq!(
        without_graph.len(),
        2 * 49,
        "49 batch norms, mean and variance each"
    );
    // The stem's batch norm sees the same convolution of the same images on both paths:
    // bit for bit the same statistics.
    assert_eq!(without_graph[0], with_graph[0], "stem mean");
    assert_eq!(without_graph[1], with_graph[1], "stem variance");
    // Deeper, the inference kernels (one-pass SiLU, 1×1 products) round differently from the
    // training nodes in the last bits, and 16 blocks compound it: measured 2.4e-5 (portable),
    // 4.4e-5 (AVX2) and 1.0e-4 (AVX-512) relative at worst. The statistics themselves move
    // by 2.5e-2 relative at the median, so a wrong recalibration (running instead of batch
    // statistics, another momentum, no write-back, no stochastic-depth switch) is off by far
    // more than 1e-3 per value, and by a good part of the whole move in total.
    let (mut error, mut moved, mut moves) = (0f64, 0f64, Vec::new());
    for (k, ((new, old), start)) in without_graph
        .iter()
        .zip(&with_graph)
        .zip(&initial)
        .enumerate()
    {
        for ((a, b), s) in new.iter().zip(old).zip(start) {
            assert!(
                (a - b).abs() <= 1e-3 * b.abs().max(1.0),
                "batch norm {} {}: {a} without a graph, {b} with one",
                k / 2,
                if k % 2 == 0 { "mean" } else { "variance" }
            );
            error += f64::from((a - b).abs());
            moved += f64::from((b - s).abs());
            moves.push((b - s).abs() / b.abs().max(1.0));
        }
    }
    moves.sort_by(f32::total_cmp);
    let median = moves[moves.len() / 2];
    assert!(
        median > 1e-2,
        "the passes hardly moved the statistics (median {median})"
    );
    assert!(
        error < 1e-3 * moved,
        "the two ways differ by {error} in total against a move of {moved}"
    );
}

/// Training-mode batch norms on the CPU update their running statistics as one chain,
/// whichever threads the steps run on (steps run on whichever pool worker takes them): four
/// steps, each on a new thread, give the statistics of the same steps on one thread, and
/// both equal the running average computed here by hand from the batch statistics.
#[test]
fn running_statistics_do_not_depend_on_the_steps_threads() {
    use burn::nn::BatchNormConfig;
    let ad = dev().autodiff();
    let (c, momentum) = (3usize, 0.1f64);
    let batches: Vec<Vec<f32>> = (0..4)
        .map(|k| {
            (0..2 * c * 4)
                .map(|i| ((i * 7 + k * 13) % 11) as f32 * 0.3 - 1.0 + k as f32)
                .collect()
        })
        .collect();
    let input =
        |b: &Vec<f32>| Tensor::<4>::from_data(TensorData::new(b.clone(), [2, c, 2, 2]), &ad);
    let step = |bn: &burn::nn::BatchNorm, b: &Vec<f32>| {
        let _ = bloodshot::model::cpu::batch_norm::forward(bn, input(b)).into_data();
    };
    let one_thread = BatchNormConfig::new(c).with_momentum(momentum).init(&ad);
    let many_threads = BatchNormConfig::new(c).with_momentum(momentum).init(&ad);
    for b in &batches {
        step(&one_thread, b);
        std::thread::scope(|s| {
            s.spawn(|| step(&many_threads, b));
        });
    }
    // By hand: running ← (1 − m)·running + m·batch, from mean 0 and variance 1, with the
    // biased batch variance.
    let (mut mean, mut var) = (vec![0f64; c], vec![1f64; c]);
    for b in &batches {
        for ch in 0..c {
            let v: Vec<f64> = (0..2)
                .flat_map(|n| (0..4).map(move |p| (n * c + ch) * 4 + p))
                .map(|i| b[i] as f64)
                .collect();
            let mu = v.iter().sum::<f64>() / v.len() as f64;
            let s2 = v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / v.len() as f64;
            mean[ch] = (1.0 - momentum) * mean[ch] + momentum * mu;
            var[ch] = (1.0 - momentum) * var[ch] + momentum * s2;
        }
    }
    for (name, bn) in [
        ("one thread", &one_thread),
        ("a thread per step", &many_threads),
    ] {
        let bn = bn.valid();
        for (got, want, what) in [
            (values(bn.running_mean.value()), &mean, "mean"),
            (values(bn.running_var.value()), &var, "variance"),
        ] {
            for (ch, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                assert!(
                    (*g as f64 - w).abs() < 1e-5,
                    "{name}: running {what} of channel {ch} is {g}, by hand {w}"
                );
            }
        }
    }
}
