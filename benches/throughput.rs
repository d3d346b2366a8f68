//! Throughput benchmark (a bench binary, not a test): image decode + resize, embedding and
//! training images/s, on the device named by `BENCH_DEVICE` (cpu, cuda:0, vulkan:0).
//!
//! `cargo bench --bench throughput` — `BENCH_QUICK=1` for a shorter run, `BENCH_SIZE=64` for
//! 64 px (default 224), `BENCH_STEPS=N`
//! training steps per objective (default 4), `BENCH_OBJECTIVES=aam-consistency` to choose.
//! Lines starting with `RESULT` are machine-readable (scripts/gpu-check.sh reads them).

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use bloodshot::data::decode::load_rgb;
use bloodshot::device::{self, DeviceSpec};
use bloodshot::model::inference::InferenceB0;
use bloodshot::model::{Classifier, EfficientNetB0, Objective};
use bloodshot::runs::TrainConfig;
use bloodshot::train::loss::losses;

fn images() -> Vec<PathBuf> {
    let real = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/real-sample/cnmc/all");
    let dir = if real.is_dir() {
        real
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("sample-data/cnmc/C-NMC_training_data/fold_0/all")
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn main() {
    bloodshot::memory::init(); // as the program does
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let spec: DeviceSpec = std::env::var("BENCH_DEVICE")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or_default();
    let size: usize = std::env::var("BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(224);
    println!("throughput device: {}", device::describe(spec));
    let dev = match device::open(spec) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("throughput: {e}");
            std::process::exit(1);
        }
    };
    // Freed memory stays in the process during each measurement, as `train` and
    // `embed_images` keep it on the CPU (src/memory.rs); BENCH_NO_HOLD=1 measures without.
    let hold = || {
        if std::env::var("BENCH_NO_HOLD").is_ok_and(|v| v == "1") {
            None
        } else {
            bloodshot::memory::Hold::for_device(&dev)
        }
    };
    println!(
        "throughput on {spec} ({} threads)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // Decode + resize to 224 (no cache).
    let files = images();
    let t = Instant::now();
    let mut n = 0;
    let rounds = if quick { 1 } else { 3 };
    for _ in 0..rounds {
        for f in &files {
            load_rgb(f, 224).unwrap();
            n += 1;
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "decode+resize to 224: {n} images ({}) in {:.2} s = {:.1} images/s",
        files[0].parent().unwrap().display(),
        s,
        n as f64 / s
    );

    // BENCH_SIZE (default 224) for embedding and training.
    // The k-shot path embeds with batch norm folded (`InferenceB0`); the unfolded network in
    // evaluation mode is measured too, for the difference.
    let bench_embed = |batch: usize, reps: usize, folded: bool| {
        let _memory = hold();
        let net = EfficientNetB0::new(&dev).valid();
        let inference = InferenceB0::new(&net);
        let forward = |x: Tensor<4>| {
            if folded {
                inference.forward(x)
            } else {
                net.forward(x)
            }
        };
        let x = Tensor::<4>::random(
            [batch, 3, size, size],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &dev,
        );
        let t = Instant::now();
        let _ = forward(x.clone()).into_data();
        let first = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..reps {
            let _ = forward(x.clone()).into_data();
        }
        let s = t.elapsed().as_secs_f64() / reps as f64;
        let what = if folded { "folded" } else { "unfolded" };
        println!(
            "embed EfficientNet-B0 ({what}) {size} px batch {batch}: first batch {first:.2} s, then {s:.2} s/batch = {:.1} images/s",
            batch as f64 / s
        );
        println!(
            "RESULT embed_{what} batch={batch} first_s={first:.3} images_per_s={:.2}",
            batch as f64 / s
        );
    };
    let batch: usize = std::env::var("BENCH_EMBED_BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| bloodshot::fewshot::embed::batch_size(&dev));
    bench_embed(batch, if quick { 1 } else { 3 }, true);
    if std::env::var_os("BENCH_UNFOLDED").is_some() {
        bench_embed(batch, if quick { 1 } else { 3 }, false);
    }

    let objectives: Vec<Objective> = std::env::var("BENCH_OBJECTIVES")
        .ok()
        .map(|v| v.split(',').filter_map(|o| o.parse().ok()).collect())
        .unwrap_or_else(|| vec![Objective::Softmax, Objective::AamConsistency]);
    let steps: usize = std::env::var("BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 2 } else { 4 })
        .max(2);
    for objective in objectives {
        let batch = 32;
        let _memory = hold();
        let ad = dev.clone().autodiff();
        let cfg = TrainConfig {
            objective,
            batch_size: batch,
            ..Default::default()
        };
        let mut model = Classifier::new(objective, 11, &ad);
        let mut optim = AdamConfig::new().init();
        let labels: Vec<usize> = (0..batch).map(|i| i % 11).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let x = Tensor::<4>::random(
            [batch, 3, size, size],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &ad,
        );
        let mut times = Vec::new();
        for _ in 0..steps {
            let t = Instant::now();
            let (total, ..) = losses(&model, &cfg, x.clone(), &labels, 11, &mut rng, true);
            let grads = GradientsParams::from_grads(total.backward(), &model);
            model = optim.step(1e-3, model, grads);
            let _ = total.into_scalar::<f32>();
            times.push(t.elapsed().as_secs_f64());
        }
        let rest = &times[1..];
        let mut sorted = rest.to_vec();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = sorted[sorted.len() / 2];
        println!(
            "train {objective} {size} px batch {batch}: first step {:.2} s, median of the next {} {:.2} s = {:.1} images/s",
            times[0],
            rest.len(),
            median,
            batch as f64 / median
        );
        println!(
            "RESULT train_{objective} first_s={:.3} median_s={:.4} images_per_s={:.2}",
            times[0],
            median,
            batch as f64 / median
        );
    }
}
