//! Per-plane operations of squeeze-and-excitation and pooling in training on the CPU: the
//! mean of each `[h, w]` plane and the scaling of each plane by its own factor, each one
//! node of the autodiff graph.
//!
//! burn's versions of both on flex take several passes over the whole activation: the mean
//! is two reductions (over height, then width) whose backward passes broadcast twice, and
//! `x * s` with `s` of shape `[n, c, 1, 1]` is a broadcast product whose backward pass
//! multiplies `dy · x` in full and then reduces it over the plane, besides `dy · s`. Here
//! each is one pass forward and one backward: `mean` reads the planes once and its gradient
//! writes `dy / hw` once; `scale`'s backward pass computes `dx = dy · s` and
//! `ds = Σ dy · x` together, plane by plane. `tests/model.rs` compares values and gradients
//! with burn's operations.

use burn::prelude::*;
use burn::tensor::DType;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::depthwise::dot;
use super::{Ad, Cpu, binary_node, cpu, flex, values};

/// Planes per parallel task, so that each task has at least 16,384 values.
pub(super) fn min_planes(hw: usize) -> usize {
    (16_384 / hw.max(1)).max(1)
}

/// The mean of each `[h, w]` plane of `[n, c, h, w]`: `[n, c, 1, 1]`.
pub fn mean(x: Tensor<4>) -> Tensor<4> {
    if cpu(&x.device()) == Cpu::Training
        && x.dtype() == DType::F32
        && let Some(y) = mean_autodiff(&x)
    {
        return y;
    }
    x.mean_dim(2).mean_dim(3)
}

/// `x · s`, each `[h, w]` plane of `x` (`[n, c, h, w]`) times its own factor of `s`
/// (`[n, c, 1, 1]`).
pub fn scale(x: Tensor<4>, s: Tensor<4>) -> Tensor<4> {
    let [n, c, _, _] = x.dims();
    if cpu(&x.device()) == Cpu::Training && s.dims() == [n, c, 1, 1] {
        let hw = x.dims()[2] * x.dims()[3];
        if let Some(y) = binary_node(ScaleBackward, &x, &s, hw, |xf, sf| {
            let (xv, sv) = (values(xf), values(sf));
            flex(scaled(&xv, &sv, hw), xf.layout().shape().clone())
        }) {
            return y;
        }
    }
    x * s
}

/// Each plane of `x` times its factor.
fn scaled(x: &[f32], s: &[f32], hw: usize) -> Vec<f32> {
    let mut y = super::zeroed(x.len());
    y.par_chunks_mut(hw.max(1))
        .zip(x.par_chunks(hw.max(1)))
        .zip(s.par_iter())
        .with_min_len(min_planes(hw))
        .for_each(|((y, x), &s)| {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * s;
            }
        });
    y
}

/// Σ a in eight lanes, so that it vectorises.
fn sum(a: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for l in 0..8 {
            acc[l] += c[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[derive(Debug)]
struct ScaleBackward;

impl Backward<Flex, 2> for ScaleBackward {
    type State = (FlexTensor, FlexTensor, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_s] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (xf, sf, hw) = ops.state;
        let (dyv, xv, sv) = (values(&dy), values(&xf), values(&sf));
        let hw1 = hw.max(1);
        if let Some(node) = node_x {
            grads.register::<Flex>(
                node.id,
                flex(scaled(&dyv, &sv, hw), xf.layout().shape().clone()),
            );
        }
        if let Some(node) = node_s {
            let ds: Vec<f32> = dyv
                .par_chunks(hw1)
                .zip(xv.par_chunks(hw1))
                .with_min_len(min_planes(hw))
                .map(|(g, x)| dot(g, x))
                .collect();
            grads.register::<Flex>(node.id, flex(ds, sf.layout().shape().clone()));
        }
    }
}

/// [`mean`] as one node under autodiff; `None` when `x` is not a flex tensor there.
fn mean_autodiff(x: &Tensor<4>) -> Option<Tensor<4>> {
    let [n, c, h, w] = x.dims();
    let hw = h * w;
    let xa = x.clone().try_into_primitive::<Ad>().ok()?;
    let xv = values(xa.primitive());
    let m: Vec<f32> = xv
        .par_chunks(hw.max(1))
        .with_min_len(min_planes(hw))
        .map(|p| sum(p) / hw as f32)
        .collect();
    let y = flex(m, [n, c, 1, 1]);
    let out = match MeanBackward
        .prepare::<NoCheckpointing>([xa.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish([n, c, h, w], y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Ad>(out))
}

#[derive(Debug)]
struct MeanBackward;

impl Backward<Flex, 1> for MeanBackward {
    type State = [usize; 4];

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(node) = node else { return };
        let shape = ops.state;
        let hw = shape[2] * shape[3];
        let dyv = values(&dy);
        let mut dx = super::zeroed(shape.iter().product());
        dx.par_chunks_mut(hw.max(1))
            .zip(dyv.par_iter())
            .with_min_len(min_planes(hw))
            .for_each(|(p, &g)| p.fill(g / hw as f32));
        grads.register::<Flex>(node.id, flex(dx, shape));
    }
}
