//! burn's `fusion` on this model, reduced: small burn programs built from the operations
//! EfficientNet-B0 training uses around its reductions (global average pooling, the
//! squeeze-and-excitation mean, training-mode batch norm), each run on the wgpu device and
//! compared with the CPU. With `--features fusion` burn fuses them; burn 0.22.1 / cubecl
//! 0.11.3 failed to compile a fused reduce kernel for the model ("Cast element count must
//! match if input is not scalar", `ReduceKernelFused`).
//!
//!   cargo run --release --example fusion_reduce --features fusion   # on lavapipe or a GPU
//!
//! It prints one line per program (ok / FAILS with the first line of burn's message) and
//! exits 1 when any fails, so a burn upgrade that fixes it shows in one command. Without the
//! `fusion` feature the same programs run unfused (all should pass).

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::nn::BatchNormConfig;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, silu};

type Program = fn(&Device) -> Vec<f32>;

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

fn pool_backward(device: &Device) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let x = input([2, 16, 8, 8], &ad).require_grad();
    let y = silu(x.clone()).mean_dim(2).mean_dim(3).sum();
    let grads = y.backward();
    values(x.grad(&grads).expect("a gradient"))
}

fn batch_norm_train(device: &Device) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let bn = BatchNormConfig::new(16).init(&ad);
    let x = input([4, 16, 8, 8], &ad).require_grad();
    let y = bn.forward(x.clone());
    let grads = (y.clone() * y).sum().backward();
    values(x.grad(&grads).expect("a gradient"))
}

/// The whole model: one softmax training step at 32 px, batch 4 (nothing to compare: it must
/// run).
fn training_step(device: &Device) -> Vec<f32> {
    let t = bloodshot::bench::train(device, bloodshot::model::Objective::Softmax, 32, 4, 2);
    assert_eq!(t.steps_s.len(), 2);
    Vec::new()
}

/// Batch-norm recalibration's graph-free passes (batch statistics from burn's reductions).
fn recalibration(device: &Device) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let net = bloodshot::model::EfficientNetB0::new(&ad).without_stochastic_depth();
    let passes = bloodshot::model::recalibrate::recalibrate(
        &net,
        std::iter::once(input([2, 3, 32, 32], device)),
    );
    assert_eq!(passes, 1);
    Vec::new()
}

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
    let programs: [(&str, Program); 7] = [
        ("mean over h, w", pool),
        ("silu, then mean over h, w", silu_then_pool),
        (
            "squeeze-and-excitation (silu, mean, sigmoid, scale)",
            squeeze_excitation,
        ),
        ("gradient of silu + mean over h, w", pool_backward),
        (
            "training-mode batch norm and its gradient",
            batch_norm_train,
        ),
        ("EfficientNet-B0: one training step", training_step),
        ("EfficientNet-B0: batch-norm recalibration", recalibration),
    ];
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = 0;
    for (name, program) in programs {
        let cpu = program(&Device::flex());
        match catch_unwind(AssertUnwindSafe(|| program(&gpu))) {
            Ok(got) => {
                let worst = cpu
                    .iter()
                    .zip(&got)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                if worst <= 1e-4 {
                    println!("ok     {name} (max |Δ| vs CPU {worst:.1e})");
                } else {
                    failed += 1;
                    println!("FAILS  {name}: max |Δ| vs CPU {worst:.1e}");
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
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
