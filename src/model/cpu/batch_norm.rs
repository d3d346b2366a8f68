//! Training-mode batch normalisation on the CPU, as one autodiff node.
//!
//! burn 0.22's flex backend runs `batch_norm_train` and its backward pass through the
//! generic implementation: each statistic swaps the batch and channel axes and copies the
//! whole activation into that layout first (`copy_2d_tiled`), and the gradient takes about
//! ten element-wise passes. At 64 px, batch 32, the 49 batch norms were ≈ 22 % of a
//! training step (0.48 → 0.38 s with them skipped; `cargo bench --bench throughput`).
//!
//! Here, in the `[n, c, h, w]` layout as it is: the statistics are one pass per channel
//! over its n planes (sums of x − k and (x − k)² in f64, k the channel's first value), the
//! output one pass; the backward pass is one pass for Σ dy and Σ dy·(x − μ) per channel and one for the
//! input gradient, written as `dx = k₁·dy + k₂·(x − μ) + k₀` with per-channel constants:
//!
//! with x̂ = (x − μ)·s, s = 1/√(σ² + ε), M = n·h·w, dβ = Σ dy, dγ = Σ dy·x̂:
//! dx = γ·s·(dy − dβ/M − x̂·dγ/M), the formula of burn's `batch_norm_train_backward`.
//!
//! The running statistics are updated as burn's `BatchNorm` does (biased batch variance,
//! `running ← (1 − momentum)·running + momentum·batch`). `tests/model.rs` compares output,
//! the three gradients and the running statistics with burn's `BatchNorm`.

use burn::module::RunningState;
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::{Ad, Cpu, cpu, flex, values};

/// `bn.forward(x)`; in training on the CPU, through the node below; during a batch-norm
/// recalibration ([`crate::model::recalibrate`]) on a device without autodiff, with batch
/// statistics and no graph.
pub fn forward(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    if !device.is_autodiff() && crate::model::recalibrate::active() {
        let (out, mean, var) = match cpu(&device) {
            Cpu::Inference => statistics(&x, &bn.gamma.val(), &bn.beta.val(), bn.epsilon),
            _ => None,
        }
        .unwrap_or_else(|| generic(x, bn));
        update_running(bn, mean, var, &device);
        return out;
    }
    if cpu(&device) != Cpu::Training || !bn.training.is_enabled() {
        return bn.forward(x);
    }
    let Some((out, mean, var)) = train(&x, &bn.gamma.val(), &bn.beta.val(), bn.epsilon) else {
        return bn.forward(x);
    };
    update_running(bn, mean, var, &device);
    out
}

/// `running ← (1 − momentum)·running + momentum·batch`, as burn's `BatchNorm` does.
fn update_running(bn: &BatchNorm, mean: Tensor<1>, var: Tensor<1>, device: &Device) {
    let m = bn.momentum;
    for (running, batch) in [(&bn.running_mean, mean), (&bn.running_var, var)] {
        let updated = synced(running)
            .to_device(device)
            .mul_scalar(1.0 - m)
            .add(batch.mul_scalar(m));
        running.update(updated.detach());
        // Folded in now, so that a reader on any thread (a checkpoint's record, `value()`)
        // sees this step's statistics.
        let _ = synced(running);
    }
}

/// A running statistic with every thread's pending update folded in.
///
/// burn's `RunningState` keeps one pending value per thread, and `value_sync` folds them in
/// only when the calling thread has one of its own. Training steps and recalibration passes
/// run on whichever pool worker takes them ([`super::on_workers`]): with `value_sync`, a step
/// on another worker than the last read the value from before the last step, and the
/// running average split into per-thread chains that were averaged later. `Module::valid`
/// folds every thread's value (there is at most one: each update here is folded in at once),
/// so the statistics are the same as on a single thread, whichever threads the steps ran on.
pub(crate) fn synced(state: &RunningState<Tensor<1>>) -> Tensor<1> {
    let _ = Module::valid(state);
    state.value()
}

/// Batch-statistics normalisation with burn's tensor operations (any backend, no graph):
/// the output, the batch mean and the biased batch variance.
fn generic(x: Tensor<4>, bn: &BatchNorm) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let [_, c, _, _] = x.dims();
    let mean = x.clone().mean_dim(0).mean_dim(2).mean_dim(3);
    let centred = x - mean.clone();
    let var = centred.clone().square().mean_dim(0).mean_dim(2).mean_dim(3);
    let inv_std = var.clone().add_scalar(bn.epsilon).sqrt().recip();
    let gamma = bn.gamma.val().reshape([1, c, 1, 1]);
    let beta = bn.beta.val().reshape([1, c, 1, 1]);
    let out = centred * inv_std * gamma + beta;
    (out, mean.reshape([c]), var.reshape([c]))
}

/// Batch-statistics normalisation of a flex tensor without autodiff, with the same
/// per-channel sums as the training node: the output, batch mean and biased variance.
#[allow(clippy::type_complexity)]
fn statistics(
    x: &Tensor<4>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    epsilon: f64,
) -> Option<(Tensor<4>, Tensor<1>, Tensor<1>)> {
    let d = Dims::of_f32(x, gamma, beta)?;
    let c = d.c;
    let xf = x.clone().try_into_primitive::<Flex>().ok()?;
    let gf = gamma.clone().try_into_primitive::<Flex>().ok()?;
    let bf = beta.clone().try_into_primitive::<Flex>().ok()?;
    let (out, mean, var) = normalise(&xf, &values(&gf), &values(&bf), epsilon, d);
    let device = x.device();
    let stat = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [c]), &device);
    Some((Tensor::from_primitive::<Flex>(out), stat(mean), stat(var)))
}

/// `(x − μ)·γ/√(σ² + ε) + β` per channel with the batch's μ and biased σ²: the output and
/// the statistics.
fn normalise(
    xf: &FlexTensor,
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    d: Dims,
) -> (FlexTensor, Vec<f32>, Vec<f32>) {
    let xv = values(xf);
    let (mean, var) = stats(&xv, d);
    let inv_std: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect();
    let a: Vec<f32> = (0..d.c).map(|ch| gamma[ch] * inv_std[ch]).collect();
    let y = per_plane(&xv, None, (&a, &mean, beta), d);
    (flex(y, d.shape), mean, var)
}

/// Sizes of one batch-norm input: images, channels, values per plane.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    c: usize,
    hw: usize,
    shape: [usize; 4],
}

impl Dims {
    /// The sizes of `x`, when it, `gamma` and `beta` are all f32 (the kernels here are
    /// f32-only; the callers use burn's operation otherwise).
    fn of_f32(x: &Tensor<4>, gamma: &Tensor<1>, beta: &Tensor<1>) -> Option<Dims> {
        if [x.dtype(), gamma.dtype(), beta.dtype()]
            .iter()
            .any(|d| *d != DType::F32)
        {
            return None;
        }
        let [n, c, h, w] = x.dims();
        Some(Dims {
            n,
            c,
            hw: h * w,
            shape: [n, c, h, w],
        })
    }

    /// The `n` planes of channel `ch` in `t`.
    fn planes<'a>(&self, t: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> + Clone {
        let (c, hw) = (self.c, self.hw);
        (0..self.n).map(move |i| &t[(i * c + ch) * hw..(i * c + ch + 1) * hw])
    }

    fn count(&self) -> f64 {
        (self.n * self.hw) as f64
    }
}

/// Σ f(v), in eight f64 lanes so that it vectorises.
#[inline(always)]
fn lanes(p: &[f32], f: impl Fn(usize, f64) -> f64) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = p.chunks_exact(8);
    let tail = chunks.remainder();
    for (k, chunk) in chunks.enumerate() {
        for l in 0..8 {
            acc[l] += f(k * 8 + l, chunk[l] as f64);
        }
    }
    let base = p.len() - tail.len();
    let rest: f64 = tail
        .iter()
        .enumerate()
        .map(|(i, &v)| f(base + i, v as f64))
        .sum();
    acc.iter().sum::<f64>() + rest
}

/// Σ (v − k) and Σ (v − k)², in eight f64 lanes each.
#[inline(always)]
fn shifted_sums(p: &[f32], k: f64) -> (f64, f64) {
    let (mut s1, mut s2) = ([0f64; 8], [0f64; 8]);
    let chunks = p.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for l in 0..8 {
            let v = chunk[l] as f64 - k;
            s1[l] += v;
            s2[l] += v * v;
        }
    }
    let (mut t1, mut t2) = (0.0, 0.0);
    for &v in tail {
        let v = v as f64 - k;
        t1 += v;
        t2 += v * v;
    }
    (s1.iter().sum::<f64>() + t1, s2.iter().sum::<f64>() + t2)
}

/// Per-channel mean and biased variance in one pass over the channel: sums in f64 of the
/// values less the channel's first value (a shift close to the mean in practice), so that
/// `E[(x − k)²] − E[x − k]²` does not lose the variance to cancellation when the mean is
/// large against the spread.
fn stats(x: &[f32], d: Dims) -> (Vec<f32>, Vec<f32>) {
    (0..d.c)
        .into_par_iter()
        .map(|ch| {
            let k = d
                .planes(x, ch)
                .next()
                .and_then(|p| p.first())
                .copied()
                .unwrap_or(0.0) as f64;
            let (s1, s2) = d
                .planes(x, ch)
                .map(|p| shifted_sums(p, k))
                .fold((0.0, 0.0), |(a, b), (c, e)| (a + c, b + e));
            let m = d.count();
            let shifted_mean = s1 / m;
            let var = (s2 / m - shifted_mean * shifted_mean).max(0.0);
            ((k + shifted_mean) as f32, var as f32)
        })
        .unzip()
}

/// `y = a[c]·(x − μ[c]) + b[c]` plane by plane (also `dx = k₁·dy + k₂·(x − μ) + k₀` with
/// `extra`). Centring before scaling keeps the digits of `x − μ` when the mean is large
/// against the spread.
fn per_plane(
    x: &[f32],
    extra: Option<(&[f32], &[f32])>,
    (a, mu, b): (&[f32], &[f32], &[f32]),
    d: Dims,
) -> Vec<f32> {
    let mut y = super::zeroed(x.len());
    y.par_chunks_mut(d.hw)
        .enumerate()
        .with_min_len(super::planes::min_planes(d.hw))
        .for_each(|(plane, y)| {
            let ch = plane % d.c;
            let xp = &x[plane * d.hw..(plane + 1) * d.hw];
            match extra {
                None => {
                    for (y, &x) in y.iter_mut().zip(xp) {
                        *y = a[ch] * (x - mu[ch]) + b[ch];
                    }
                }
                Some((dy, k1)) => {
                    let dyp = &dy[plane * d.hw..(plane + 1) * d.hw];
                    for ((y, &x), &g) in y.iter_mut().zip(xp).zip(dyp) {
                        *y = k1[ch] * g + a[ch] * (x - mu[ch]) + b[ch];
                    }
                }
            }
        });
    y
}

/// The backward node's saved values.
#[derive(Clone, Debug)]
struct Saved {
    x: FlexTensor,
    gamma: Vec<f32>,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    dims: Dims,
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Saved {
            x,
            gamma,
            mean,
            inv_std,
            dims: d,
        } = ops.state;
        let (dy, x) = (values(&dy), values(&x));
        // dβ = Σ dy, and Σ dy·(x − μ) (dγ is that times s).
        let (d_beta, d_centred): (Vec<f64>, Vec<f64>) = (0..d.c)
            .into_par_iter()
            .map(|ch| {
                let mu = mean[ch] as f64;
                let mut sum = 0.0;
                let mut dot = 0.0;
                for (xp, dyp) in d.planes(&x, ch).zip(d.planes(&dy, ch)) {
                    sum += lanes(dyp, |_, g| g);
                    dot += lanes(dyp, |i, g| g * (xp[i] as f64 - mu));
                }
                (sum, dot)
            })
            .unzip();
        let d_gamma: Vec<f64> = (0..d.c)
            .map(|ch| d_centred[ch] * inv_std[ch] as f64)
            .collect();
        if let Some(node) = node_x {
            let m = d.count();
            let (mut k1, mut kx, mut k0) = (vec![0f32; d.c], vec![0f32; d.c], vec![0f32; d.c]);
            for ch in 0..d.c {
                let s = inv_std[ch] as f64;
                let a = gamma[ch] as f64 * s;
                let proj = s * d_gamma[ch] / m;
                k1[ch] = a as f32;
                kx[ch] = (-a * proj) as f32;
                k0[ch] = (-a * d_beta[ch] / m) as f32;
            }
            let dx = per_plane(&x, Some((&dy, &k1)), (&kx, &mean, &k0), d);
            grads.register::<Flex>(node.id, flex(dx, d.shape));
        }
        let vector = |v: &[f64]| flex(v.iter().map(|&v| v as f32).collect(), [d.c]);
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, vector(&d_gamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, vector(&d_beta));
        }
    }
}

/// Training-mode batch norm of `x` on flex under autodiff: the output (in the graph) and the
/// batch mean and biased variance (constants). `None` when the tensors are not f32 on that
/// backend (the caller then uses burn's).
#[allow(clippy::type_complexity)]
fn train(
    x: &Tensor<4>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    epsilon: f64,
) -> Option<(Tensor<4>, Tensor<1>, Tensor<1>)> {
    let d = Dims::of_f32(x, gamma, beta)?;
    let c = d.c;
    let xa = x.clone().try_into_primitive::<Ad>().ok()?;
    let ga = gamma.clone().try_into_primitive::<Ad>().ok()?;
    let ba = beta.clone().try_into_primitive::<Ad>().ok()?;
    let xf = xa.primitive().clone();
    let gv = values(ga.primitive()).into_owned();
    let (y, mean, var) = normalise(&xf, &gv, &values(ba.primitive()), epsilon, d);
    let inv_std: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect();
    let device = x.device();
    let stat = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [c]), &device);
    let (mean_t, var_t) = (stat(&mean), stat(&var));
    let out = match BatchNormBackward
        .prepare::<NoCheckpointing>([xa.node(), ga.node(), ba.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                x: xf,
                gamma: gv,
                mean,
                inv_std,
                dims: d,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some((Tensor::from_primitive::<Ad>(out), mean_t, var_t))
}
