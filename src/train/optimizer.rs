//! The optimizer: burn's Adam (`AdamConfig::new()`: β₁ 0.9, β₂ 0.999, ε 1e-5, no weight
//! decay), with its update of a parameter on the CPU (flex) backend done in one pass over
//! the values by the pool's workers.
//!
//! burn's Adam runs about ten element-wise operations per parameter (the two moments, their
//! square root and quotient, the step), each a pass of its own, and flex's scalar
//! operations run on one thread: at 64 px about 17 ms of every training step ran on one
//! worker while the other slept (`scripts/serial-profile.py`, `docs/cpu-profile.md`). The
//! pass here computes each value with the same f32 operations in the same order, so the
//! results are burn's bit for bit (`tests` below), and the state is burn's `AdamState`, so
//! checkpoints (`optim.bpk`) are the same files. Other backends, and any state the pass
//! cannot read, take burn's `Adam::step`.

use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, ModuleOptimizer, Optimizer};
use burn::prelude::*;
use burn_flex::Flex;
use rayon::prelude::*;

/// Values per task of the fused pass (128 kB of each buffer).
const CHUNK: usize = 1 << 15;

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// The optimizer of every training run: [`FusedAdam`] for all parameters.
pub fn optimizer() -> ModuleOptimizer {
    FusedAdam::new().into()
}

/// burn's Adam with the CPU pass described in the module's comment.
#[derive(Clone)]
pub struct FusedAdam {
    burn: Adam,
}

impl FusedAdam {
    pub fn new() -> Self {
        Self {
            burn: AdamConfig::new()
                .with_beta_1(BETA_1)
                .with_beta_2(BETA_2)
                .with_epsilon(EPSILON)
                .build(),
        }
    }
}

impl Default for FusedAdam {
    fn default() -> Self {
        Self::new()
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        match fused(lr, &tensor, &grad, state.as_ref()) {
            Some((p, s)) => (p, Some(s)),
            None => self.burn.step(lr, tensor, grad, state),
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// One Adam step of `tensor` in one parallel pass, when the tensor, its gradient and its
/// moments are f32 flex tensors (no autodiff) of the same length and the state has no
/// AMSGrad maximum. Every value goes through burn's operations in burn's order:
/// `m ← m·β₁ + g·(1 − β₁)`, `v ← v·β₂ + (g·g)·(1 − β₂)`, then
/// `p ← p − (m·c) / (√v + ε·b)·lr`, with `b = √(1 − β₂ᵗ)` and `c = b / (1 − β₁ᵗ)`.
fn fused<const D: usize>(
    lr: f64,
    tensor: &Tensor<D>,
    grad: &Tensor<D>,
    state: Option<&AdamState<D>>,
) -> Option<(Tensor<D>, AdamState<D>)> {
    let f32s = |t: &Tensor<D>| {
        let f = t.clone().try_into_primitive::<Flex>().ok()?;
        (f.dtype() == burn::tensor::DType::F32).then_some(f)
    };
    let (pf, gf) = (f32s(tensor)?, f32s(grad)?);
    let (p, g) = (
        crate::model::cpu::values(&pf),
        crate::model::cpu::values(&gf),
    );
    let n = p.len();
    let moments = match state {
        Some(s) if s.momentum.max_moment_2.is_some() => return None,
        Some(s) => Some((f32s(&s.momentum.moment_1)?, f32s(&s.momentum.moment_2)?)),
        None => None,
    };
    let old = moments
        .as_ref()
        .map(|(m, v)| (crate::model::cpu::values(m), crate::model::cpu::values(v)));
    if g.len() != n
        || old
            .as_ref()
            .is_some_and(|(m, v)| m.len() != n || v.len() != n)
    {
        return None;
    }
    let time = state.map_or(1, |s| s.momentum.time + 1);
    let t = time as i32;
    let b = (1.0 - BETA_2.powi(t)).sqrt();
    let c = b / (1.0 - BETA_1.powi(t));
    let (eps, lr) = (EPSILON * b, lr as f32);
    let (f1, f2) = (1.0 - BETA_1, 1.0 - BETA_2);
    let (mut p2, mut m2, mut v2) = (
        crate::model::cpu::zeroed(n),
        crate::model::cpu::zeroed(n),
        crate::model::cpu::zeroed(n),
    );
    p2.par_chunks_mut(CHUNK)
        .zip(m2.par_chunks_mut(CHUNK))
        .zip(v2.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(i, ((po, mo), vo))| {
            let at = i * CHUNK;
            for k in 0..po.len() {
                let gi = g[at + k];
                let (m, v) = match &old {
                    Some((m, v)) => (
                        m[at + k] * BETA_1 + gi * f1,
                        v[at + k] * BETA_2 + (gi * gi) * f2,
                    ),
                    None => (gi * f1, (gi * gi) * f2),
                };
                mo[k] = m;
                vo[k] = v;
                po[k] = p[at + k] - (m * c) / (v.sqrt() + eps) * lr;
            }
        });
    let shape = tensor.shape();
    let make = |v: Vec<f32>| {
        Tensor::<D>::from_primitive::<Flex>(crate::model::cpu::flex(v, shape.clone()))
    };
    let momentum = AdaptiveMomentumState::new(time, make(m2), make(v2));
    Some((make(p2), AdamState::new(momentum)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn bits<const D: usize>(t: &Tensor<D>) -> Vec<u32> {
        t.clone()
            .into_data()
            .iter::<f32>()
            .map(f32::to_bits)
            .collect()
    }

    /// Values from -1 to 1 in an irregular order, different for each `seed`.
    fn wiggly(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                ((i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 2001) as f32 / 1000.0
                    - 1.0
            })
            .collect()
    }

    /// Three steps of the fused pass against burn's `AdamConfig::new()` Adam on the same
    /// values and gradients: parameters and both moments equal bit for bit, for a tensor of
    /// one chunk and one of three (the last partial), and a state burn wrote that the pass
    /// then continues.
    #[test]
    fn fused_steps_are_burns_bit_for_bit() {
        let dev = Device::flex();
        let burn = AdamConfig::new().build();
        let ours = FusedAdam::new();
        for n in [5, 2 * CHUNK + 3] {
            let p0 = Tensor::<2>::from_data(TensorData::new(wiggly(n, 1), [1, n]), &dev);
            let (mut pb, mut pf) = (p0.clone(), p0);
            let (mut sb, mut sf) = (None, None);
            for step in 0..3u32 {
                let g = Tensor::<2>::from_data(TensorData::new(wiggly(n, 7 + step), [1, n]), &dev);
                assert!(
                    fused(1e-3, &pf, &g, sf.as_ref()).is_some(),
                    "the fused pass applies"
                );
                (pb, sb) = burn.step(1e-3, pb, g.clone(), sb);
                (pf, sf) = ours.step(1e-3, pf, g, sf);
                let (b, f) = (sb.as_ref().unwrap(), sf.as_ref().unwrap());
                assert_eq!(bits(&pf), bits(&pb), "n {n}, step {step}: parameters");
                assert_eq!(
                    bits(&f.momentum.moment_1),
                    bits(&b.momentum.moment_1),
                    "n {n}, step {step}: m"
                );
                assert_eq!(
                    bits(&f.momentum.moment_2),
                    bits(&b.momentum.moment_2),
                    "n {n}, step {step}: v"
                );
                assert_eq!(f.momentum.time, b.momentum.time);
            }
            // The parameters moved: a pass that skipped the update would fail above only
            // if burn's did too.
            assert_ne!(
                bits(&pf),
                bits(&Tensor::<2>::from_data(
                    TensorData::new(wiggly(n, 1), [1, n]),
                    &dev
                ))
            );
            // burn's state, continued by the pass (a checkpoint written before this pass).
            let g = Tensor::<2>::from_data(TensorData::new(wiggly(n, 20), [1, n]), &dev);
            let (b, _) = burn.step(1e-3, pb.clone(), g.clone(), sb.clone());
            let (f, _) = ours.step(1e-3, pb, g, sb);
            assert_eq!(bits(&f), bits(&b), "n {n}: a step from burn's state");
        }
    }

    /// A step by hand: first step, g = 1 everywhere: m = 0.1, v = 0.001, b = √0.001, c =
    /// b / 0.1, so p moves by lr · (0.1·c) / (√0.001 + ε·b) = lr · b / (b + ε·b) = lr / (1 + ε).
    #[test]
    fn first_step_by_hand() {
        let dev = Device::flex();
        let p = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, -2.0], [2]), &dev);
        let g = Tensor::<1>::ones([2], &dev);
        let (p, s) = FusedAdam::new().step(0.5, p, g, None);
        let got: Vec<f32> = p.into_data().iter::<f32>().collect();
        let step = 0.5 / (1.0 + 1e-5);
        assert!((got[0] - (1.0 - step)).abs() < 1e-6, "{got:?}");
        assert!((got[1] - (-2.0 - step)).abs() < 1e-6, "{got:?}");
        assert_eq!(s.unwrap().momentum.time, 1);
    }

    /// An `optim.bpk` written by burn's Adam (every checkpoint before this optimizer) loads
    /// into [`optimizer`], and the next step from it moves a layer exactly as burn's Adam
    /// continuing from the same file does.
    #[test]
    fn burns_checkpoints_load_and_continue() {
        use burn::nn::LinearConfig;
        use burn::optim::GradientsParams;
        let dev = Device::flex().autodiff();
        let layer = LinearConfig::new(3, 2).init(&dev);
        let x = Tensor::<2>::from_data(TensorData::new(wiggly(12, 3), [4, 3]), &dev);
        let loss = |l: &burn::nn::Linear| (l.forward(x.clone()) * 0.5).sum();
        let grads = |l: &burn::nn::Linear| GradientsParams::from_grads(loss(l).backward(), l);
        let mut burns = AdamConfig::new().init();
        let layer = burns.step(1e-2, layer.clone(), grads(&layer));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("optim.bpk");
        burns.save(&file).expect("burn's Adam saves");
        let mut theirs = AdamConfig::new()
            .init()
            .load(&file)
            .expect("burn's Adam loads");
        let mut ours = optimizer()
            .load(&file)
            .expect("burn's file loads into ours");
        let a = theirs.step(1e-2, layer.clone(), grads(&layer));
        let b = ours.step(1e-2, layer.clone(), grads(&layer));
        assert_eq!(bits(&a.weight.val()), bits(&b.weight.val()), "weights");
        let bias = |l: &burn::nn::Linear| bits(&l.bias.as_ref().unwrap().val());
        assert_eq!(bias(&a), bias(&b), "biases");
        assert_ne!(
            bits(&a.weight.val()),
            bits(&layer.weight.val()),
            "the step moved the weights"
        );
    }
}
