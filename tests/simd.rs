//! Every SIMD level this CPU can run — portable always, AVX2 + FMA and AVX-512 when present —
//! forced in turn (`bloodshot::simd::force`): the depthwise kernels, the fast SiLU and
//! sigmoid (values and gradients) and the k-shot scorer (direct and Gram paths) against the portable result, against
//! burn's operations and against the float64 reference. One test, so that no other test of
//! this binary runs while a level is forced. It prints which levels ran.

use std::sync::Arc;

use bloodshot::fewshot::classify::Embeddings;
use bloodshot::fewshot::sampler::{SamplerOptions, heldout_draws};
use bloodshot::fewshot::score::{Normalization, Scorer, reference_predict};
use bloodshot::model::cpu::{conv, depthwise};
use bloodshot::model::fast;
use bloodshot::simd::{self, Level};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

mod common;
use common::wiggly;

fn close(ours: &[f32], theirs: &[f32], tolerance: f32, what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    let scale = theirs.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= tolerance * scale,
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

/// Everything the SIMD kernels compute, at the level in force.
#[derive(Debug, Clone, PartialEq)]
struct Outputs {
    depthwise: Vec<Vec<f32>>,
    silu: Vec<f32>,
    sigmoid: Vec<f32>,
    silu_grad: Vec<f32>,
    predictions: Vec<Vec<usize>>,
}

/// Depthwise geometries B0 uses (3×3 and 5×5, strides 1 and 2), odd sizes, several images.
const GEOMETRIES: [([usize; 4], usize, usize); 4] = [
    ([2, 3, 9, 7], 3, 1),
    ([3, 2, 11, 10], 3, 2),
    ([2, 2, 13, 9], 5, 2),
    ([5, 2, 64, 60], 3, 1),
];

fn run_all(level: Level) -> Outputs {
    let mut out = Outputs {
        depthwise: Vec::new(),
        silu: Vec::new(),
        sigmoid: Vec::new(),
        silu_grad: Vec::new(),
        predictions: Vec::new(),
    };
    let cpu = Device::flex();
    let ad = cpu.clone().autodiff();
    for (n, &(shape, k, s)) in GEOMETRIES.iter().enumerate() {
        let what = format!("{level}: depthwise {k}x{k}/{s} on {shape:?}");
        let [b, c, h, w] = shape;
        let xs = wiggly(b * c * h * w, n as u32 + 1);
        let g = depthwise::Geometry::new(shape, k, s, (k - 1) / 2).unwrap();
        let wt = wiggly(c * k * k, n as u32 + 50);
        let y = depthwise::forward(&xs, &wt, None, &g);
        let dy = wiggly(y.len(), n as u32 + 90);
        let dx = depthwise::x_backward(&dy, &wt, &g);
        let dw = depthwise::w_backward(&xs, &dy, &g);
        out.depthwise.extend([y, dx, dw]);
        // Through the autodiff node against burn's grouped convolution.
        let pad = (k - 1) / 2;
        let layer = Conv2dConfig::new([c, c], [k, k])
            .with_stride([s, s])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_groups(c)
            .with_bias(false)
            .init(&ad);
        let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), shape), &ad).require_grad();
        let ours = conv::forward(&layer, x.clone());
        let theirs = layer.forward(x.clone());
        close(
            &values(ours.clone()),
            &values(theirs.clone()),
            2e-5,
            &format!("{what}: values"),
        );
        let r = Tensor::<4>::from_data(
            TensorData::new(wiggly(theirs.shape().num_elements(), 7), theirs.dims()),
            &ad,
        );
        let g_ours = (ours * r.clone()).sum().backward();
        let g_burn = (theirs * r).sum().backward();
        close(
            &values(x.grad(&g_ours).unwrap()),
            &values(x.grad(&g_burn).unwrap()),
            2e-5,
            &format!("{what}: dx against burn"),
        );
        let wv = layer.weight.val();
        close(
            &values(wv.grad(&g_ours).unwrap()),
            &values(wv.grad(&g_burn).unwrap()),
            2e-5,
            &format!("{what}: dw against burn"),
        );
    }
    // Activations: odd length (a vector tail), tiny to saturated.
    let xs: Vec<f32> = (-2001..=2001).map(|i| i as f32 * 0.0499).collect();
    let t = |d: &Device| Tensor::<1>::from_floats(xs.as_slice(), d);
    out.silu = values(fast::silu(t(&cpu)));
    out.sigmoid = values(fast::sigmoid(t(&cpu)));
    close(
        &out.silu,
        &values(burn::tensor::activation::silu(t(&cpu))),
        1e-6,
        &format!("{level}: silu"),
    );
    close(
        &out.sigmoid,
        &values(burn::tensor::activation::sigmoid(t(&cpu))),
        1e-6,
        &format!("{level}: sigmoid"),
    );
    // Each value against float64, relative: the tolerance above scales with the largest
    // value (100), which would let a reciprocal good to only 14 bits pass.
    for (&x, (&silu, &sigmoid)) in xs.iter().zip(out.silu.iter().zip(&out.sigmoid)) {
        let s = 1.0 / (1.0 + (-f64::from(x)).exp());
        for (name, got, want) in [("silu", silu, f64::from(x) * s), ("sigmoid", sigmoid, s)] {
            assert!(
                (f64::from(got) - want).abs() <= 1e-6 * want.abs() + 1e-30,
                "{level}: {name}({x}) = {got}, float64 {want}"
            );
        }
    }
    let x = t(&ad).require_grad();
    let grads = fast::silu(x.clone()).sum().backward();
    out.silu_grad = values(x.grad(&grads).unwrap());
    let x2 = t(&ad).require_grad();
    let grads2 = burn::tensor::activation::silu(x2.clone()).sum().backward();
    close(
        &out.silu_grad,
        &values(x2.grad(&grads2).unwrap()),
        1e-5,
        &format!("{level}: silu gradient"),
    );
    // k-shot: 40 pool and 30 query embeddings of dimension 37 (not a multiple of the lanes).
    let dim = 37;
    let pool_labels: Vec<usize> = (0..40).map(|i| i % 2).collect();
    let query_labels: Vec<usize> = (0..30).map(|i| i % 2).collect();
    let emb = |n: usize, seed: u32, labels: &[usize]| {
        let mut v = wiggly(n * dim, seed);
        for (i, l) in labels.iter().enumerate() {
            v[i * dim + l] += 1.5;
        }
        Embeddings::new(dim, v).unwrap()
    };
    let pool = emb(40, 11, &pool_labels);
    let queries = emb(30, 12, &query_labels);
    let draws = heldout_draws(&pool_labels, 2, 30, &SamplerOptions::new(5, 8, 3)).unwrap();
    for mode in Normalization::ALL {
        let scorer = Scorer::new(
            Arc::new(pool.clone()),
            Some(Arc::new(queries.clone())),
            mode,
        );
        for draw in &draws {
            let ours = scorer.predict(&draw.support, &draw.queries);
            let reference =
                reference_predict(&pool, Some(&queries), mode, &draw.support, &draw.queries);
            assert_eq!(ours, reference, "{level}: draw {} under {mode}", draw.index);
            out.predictions.push(ours);
        }
        // The Gram path's row sums and verdicts at this level: the same metrics.
        assert_eq!(
            scorer.evaluate_bank_gram(&query_labels, &draws, 2, 2),
            Some(scorer.evaluate_bank(&query_labels, &draws, 2, 1)),
            "{level}: Gram path under {mode}"
        );
    }
    out
}

#[test]
fn every_simd_level_matches_portable_and_burn() {
    let levels = simd::supported();
    assert_eq!(levels[0], Level::Portable);
    // A level the CPU lacks is refused, changing nothing.
    if let Some(missing) = Level::ALL.iter().find(|l| !levels.contains(l)) {
        assert!(simd::force(Some(*missing)).is_err());
        assert_eq!(simd::level(), simd::detected());
    }
    simd::force(Some(Level::Portable)).unwrap();
    assert_eq!(simd::level(), Level::Portable);
    let portable = run_all(Level::Portable);
    for &level in &levels[1..] {
        simd::force(Some(level)).unwrap();
        assert_eq!(simd::level(), level);
        let got = run_all(level);
        for (i, (a, b)) in got.depthwise.iter().zip(&portable.depthwise).enumerate() {
            close(
                a,
                b,
                1e-5,
                &format!("{level} depthwise output {i} against portable"),
            );
        }
        close(
            &got.silu,
            &portable.silu,
            1e-6,
            &format!("{level} silu against portable"),
        );
        close(
            &got.sigmoid,
            &portable.sigmoid,
            1e-6,
            &format!("{level} sigmoid against portable"),
        );
        close(
            &got.silu_grad,
            &portable.silu_grad,
            1e-6,
            &format!("{level} silu gradient against portable"),
        );
        assert_eq!(
            got.predictions, portable.predictions,
            "{level} k-shot predictions"
        );
    }
    simd::force(None).unwrap();
    assert_eq!(simd::level(), simd::detected());
    eprintln!(
        "SIMD levels tested: {}",
        levels
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
}
