//! Minimal reproduction for burn's flex backend (see docs/cpu-profile.md): one depthwise
//! 3×3 convolution like EfficientNet-B0's second stage (96 channels, 112×112, batch 32,
//! groups = channels), forward and forward + backward, against the same layer as a dense
//! 1×1 convolution of the same tensor for scale. `cargo bench --bench depthwise`;
//! `python3 scripts/depthwise_torch.py` times the same in PyTorch.

use std::time::Instant;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;

fn time(label: &str, reps: usize, mut f: impl FnMut()) {
    f();
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!("{label}: {ms:.1} ms");
    println!("RESULT {} ms={ms:.2}", label.replace(' ', "_"));
}

fn main() {
    bloodshot::memory::init();
    let _memory = bloodshot::memory::Hold::new(); // as training on the CPU does
    let (b, c, hw) = (32, 96, 112);
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    println!(
        "flex, {} threads, input [{b}, {c}, {hw}, {hw}]",
        rayon::current_num_threads()
    );
    for (name, groups, k) in [("depthwise 3x3", c, 3), ("dense 1x1", 1, 1)] {
        let pad = (k - 1) / 2;
        let cfg = Conv2dConfig::new([c, c], [k, k])
            .with_groups(groups)
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false);
        let conv = cfg.init(&dev);
        let x = Tensor::<4>::random([b, c, hw, hw], burn::tensor::Distribution::Default, &dev);
        time(&format!("{name} forward"), 5, || {
            let _ = conv.forward(x.clone()).into_data();
        });
        let conv = cfg.init(&ad);
        let xa = Tensor::<4>::random([b, c, hw, hw], burn::tensor::Distribution::Default, &ad)
            .require_grad();
        time(&format!("{name} forward+backward"), 3, || {
            let y = conv.forward(xa.clone());
            let g = y.sum().backward();
            let _ = xa.grad(&g).map(|t| t.into_data());
        });
        // The same layer through bloodshot's CPU path (src/model/cpu/conv.rs).
        let conv = cfg.init(&dev);
        time(&format!("{name} forward, bloodshot"), 5, || {
            let _ = bloodshot::model::cpu::conv::forward(&conv, x.clone()).into_data();
        });
        let conv = cfg.init(&ad);
        time(&format!("{name} forward+backward, bloodshot"), 3, || {
            let y = bloodshot::model::cpu::conv::forward(&conv, xa.clone());
            let g = y.sum().backward();
            let _ = xa.grad(&g).map(|t| t.into_data());
        });
    }
}
