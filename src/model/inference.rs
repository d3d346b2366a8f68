//! The embedding network for inference: every batch normalisation folded into the
//! convolution before it, so an evaluation-mode forward pass runs one biased convolution
//! where it ran a convolution and four element-wise passes (subtract the mean, divide by the
//! standard deviation, scale, shift) over the whole activation tensor.
//!
//! SiLU and sigmoid use [`super::fast`] (vectorised, one pass) on the CPU backend.
//!
//! Folding, per output channel c with s_c = γ_c / √(σ²_c + ε):
//! `W'_c = s_c · W_c`, `b'_c = β_c − s_c · μ_c`. It changes float rounding only; embeddings
//! stay within 1e-5 relative of the unfolded network (a test checks).

use super::cpu::conv;
use super::fast::{sigmoid, silu};
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::efficientnet::{ConvBn, EfficientNetB0, MbConv, SqueezeExcitation};

/// A convolution with its batch norm folded in.
fn fold(cb: &ConvBn) -> Conv2d {
    let bn = &cb.bn;
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let [out] = scale.dims();
    let mut conv = cb.conv.clone();
    let weight = conv.weight.val() * scale.clone().reshape([out, 1, 1, 1]);
    let bias = bn.beta.val() - bn.running_mean.value() * scale;
    conv.weight = Param::from_tensor(weight);
    conv.bias = Some(Param::from_tensor(bias));
    conv
}

/// One MBConv block, folded.
#[derive(Module, Debug)]
struct FoldedBlock {
    expand: Option<Conv2d>,
    depthwise: Conv2d,
    reduce: Conv2d,
    excite: Conv2d,
    project: Conv2d,
    residual: bool,
}

impl FoldedBlock {
    fn new(b: &MbConv) -> Self {
        let SqueezeExcitation { reduce, expand } = &b.se;
        FoldedBlock {
            expand: b.expand.as_ref().map(fold),
            depthwise: fold(&b.depthwise),
            reduce: reduce.clone(),
            excite: expand.clone(),
            project: fold(&b.project),
            residual: b.residual,
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(e) => conv::forward_silu(e, input.clone()),
            None => input.clone(),
        };
        let (x, s) = conv::depthwise_silu_mean(&self.depthwise, &x).unwrap_or_else(|| {
            let x = silu(conv::forward(&self.depthwise, x));
            let s = x.clone().mean_dim(2).mean_dim(3);
            (x, s)
        });
        let s = sigmoid(conv::forward(
            &self.excite,
            conv::forward_silu(&self.reduce, s),
        ));
        let x = conv::forward(&self.project, x * s);
        if self.residual { x + input } else { x }
    }
}

/// EfficientNet-B0 for embedding only (evaluation mode, no autodiff, batch norm folded).
#[derive(Module, Debug)]
pub struct InferenceB0 {
    stem: Conv2d,
    blocks: Vec<FoldedBlock>,
    head: Conv2d,
}

impl InferenceB0 {
    /// Folds a network's batch norms (with their running statistics) into its convolutions.
    pub fn new(net: &EfficientNetB0) -> Self {
        InferenceB0 {
            stem: fold(&net.stem),
            blocks: net.blocks.iter().map(FoldedBlock::new).collect(),
            head: fold(&net.head),
        }
    }

    /// Embedding: global average pool of the features, `[batch, 1280]`, as
    /// [`EfficientNetB0::forward`] in evaluation mode.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = conv::forward_silu(&self.stem, images);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let f = conv::forward_silu(&self.head, x);
        let [b, c, _, _] = f.dims();
        f.mean_dim(2).mean_dim(3).reshape([b, c])
    }

    /// [`InferenceB0::forward`], on the CPU backend as one sub-batch per worker thread, each
    /// through the whole network (the images are independent in evaluation mode, so the rows
    /// are the same). Each operation's own parallel loops then mostly run on the thread that
    /// started them instead of meeting at a fork-join point per operation — hundreds per
    /// image at 64 px — where an idle worker yields its core (to any other process that wants
    /// it) until the slowest part is done.
    pub fn embed(&self, images: Tensor<4>) -> Tensor<2> {
        let batch = images.dims()[0];
        let parts = if crate::device::compute(&images.device()).is_cpu() {
            rayon::current_num_threads().min(batch)
        } else {
            1
        };
        if parts <= 1 {
            return self.forward(images);
        }
        use rayon::prelude::*;
        let per = batch.div_ceil(parts);
        let pieces: Vec<Tensor<4>> = (0..batch)
            .step_by(per)
            .map(|start| images.clone().narrow(0, start, per.min(batch - start)))
            .collect();
        // With the other workers kept on their cores until the last piece is done, as a
        // training step's are (`on_workers`): one that finishes early takes parts of the
        // others' operations instead of yielding its core.
        let rows: Vec<Tensor<2>> = crate::model::cpu::on_workers(&images.device(), || {
            pieces
                .into_par_iter()
                .map(|piece| self.forward(piece))
                .collect()
        });
        Tensor::cat(rows, 0)
    }
}
