//! EfficientNet-B0 (Tan & Le 2019) as torchvision builds it: stem, 16 MBConv blocks with
//! squeeze-and-excitation and SiLU, a 1×1 head convolution to 1280 channels and global
//! average pooling. Parameter count matches `torchvision.models.efficientnet_b0().features`
//! (4,007,548), which a test checks.

use super::cpu::{batch_norm, conv, planes};
use super::fast::{sigmoid, silu};
use burn::module::{Flag, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::Distribution;

/// Width of the pooled feature vector used as the embedding.
pub const EMBEDDING_DIM: usize = 1280;

/// torchvision's stochastic-depth probability for B0, scaled linearly per block.
const STOCHASTIC_DEPTH: f64 = 0.2;

/// (expand ratio, kernel, stride, in channels, out channels, repeats) of the seven stages.
pub const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];

/// Convolution without bias followed by batch normalisation.
#[derive(Module, Debug)]
pub struct ConvBn {
    pub(super) conv: Conv2d,
    pub(super) bn: BatchNorm,
}

impl ConvBn {
    fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        let pad = (kernel - 1) / 2;
        let conv = Conv2dConfig::new(channels, [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_groups(groups)
            .with_bias(false)
            .init(device);
        Self {
            conv,
            bn: BatchNormConfig::new(channels[1]).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm::forward(&self.bn, conv::forward(&self.conv, x))
    }
}

/// Squeeze-and-excitation: channel gates from globally pooled features.
#[derive(Module, Debug)]
pub struct SqueezeExcitation {
    pub(super) reduce: Conv2d,
    pub(super) expand: Conv2d,
}

impl SqueezeExcitation {
    fn new(channels: usize, squeeze: usize, device: &Device) -> Self {
        Self {
            reduce: Conv2dConfig::new([channels, squeeze], [1, 1]).init(device),
            expand: Conv2dConfig::new([squeeze, channels], [1, 1]).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let s = spatial_mean(x.clone());
        let s = silu(conv::forward(&self.reduce, s));
        let s = sigmoid(conv::forward(&self.expand, s));
        planes::scale(x, s)
    }
}

/// Mobile inverted bottleneck block.
#[derive(Module, Debug)]
pub struct MbConv {
    pub(super) expand: Option<ConvBn>,
    pub(super) depthwise: ConvBn,
    pub(super) se: SqueezeExcitation,
    pub(super) project: ConvBn,
    pub(super) residual: bool,
    drop_prob: f64,
    training: Param<Flag>,
}

impl MbConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        expand_ratio: usize,
        kernel: usize,
        stride: usize,
        c_in: usize,
        c_out: usize,
        drop_prob: f64,
        device: &Device,
    ) -> Self {
        let hidden = c_in * expand_ratio;
        let expand = (expand_ratio != 1).then(|| ConvBn::new([c_in, hidden], 1, 1, 1, device));
        Self {
            expand,
            depthwise: ConvBn::new([hidden, hidden], kernel, stride, hidden, device),
            // torchvision: squeeze channels = max(1, input channels / 4).
            se: SqueezeExcitation::new(hidden, (c_in / 4).max(1), device),
            project: ConvBn::new([hidden, c_out], 1, 1, 1, device),
            residual: stride == 1 && c_in == c_out,
            drop_prob,
            training: Param::from_bool(true),
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        if let Some(expand) = &self.expand {
            x = silu(expand.forward(x));
        }
        x = silu(self.depthwise.forward(x));
        x = self.se.forward(x);
        x = self.project.forward(x);
        if !self.residual {
            return x;
        }
        // Stochastic depth ("row" mode): drop the whole residual branch per sample.
        let training = self.training.is_enabled() && x.device().is_autodiff();
        if self.drop_prob > 0.0 && (training || super::recalibrate::active()) {
            let keep = 1.0 - self.drop_prob;
            let [b, _, _, _] = x.dims();
            let mask =
                Tensor::<4>::random([b, 1, 1, 1], Distribution::Bernoulli(keep), &x.device());
            x = x * mask / keep;
        }
        x + input
    }
}

/// EfficientNet-B0 feature extractor; `forward` returns the 1280-d pooled embedding.
#[derive(Module, Debug)]
pub struct EfficientNetB0 {
    pub(super) stem: ConvBn,
    pub(super) blocks: Vec<MbConv>,
    pub(super) head: ConvBn,
}

impl EfficientNetB0 {
    /// A randomly initialised network (BloodShot trains from scratch).
    pub fn new(device: &Device) -> Self {
        let total: usize = STAGES.iter().map(|s| s.5).sum();
        let mut blocks = Vec::with_capacity(total);
        let mut index = 0;
        for &(expand, kernel, stride, c_in, c_out, repeats) in &STAGES {
            for r in 0..repeats {
                let (cin, s) = if r == 0 { (c_in, stride) } else { (c_out, 1) };
                let drop = STOCHASTIC_DEPTH * index as f64 / total as f64;
                blocks.push(MbConv::new(expand, kernel, s, cin, c_out, drop, device));
                index += 1;
            }
        }
        Self {
            stem: ConvBn::new([3, 32], 3, 2, 1, device),
            blocks,
            head: ConvBn::new([320, EMBEDDING_DIM], 1, 1, 1, device),
        }
    }

    /// The same network with stochastic depth off (every residual branch kept in training
    /// too), so that a training-mode forward pass is deterministic: for comparing backends.
    pub fn without_stochastic_depth(mut self) -> Self {
        for block in &mut self.blocks {
            block.drop_prob = 0.0;
        }
        self
    }

    /// Every batch norm, in forward order (stem, each block's expand, depthwise and
    /// projection, head).
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        let mut all = vec![&self.stem.bn];
        for b in &self.blocks {
            all.extend(b.expand.iter().map(|e| &e.bn));
            all.push(&b.depthwise.bn);
            all.push(&b.project.bn);
        }
        all.push(&self.head.bn);
        all
    }

    /// Number of MBConv blocks (16 for B0).
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Feature map before pooling: `[batch, 1280, h/32, w/32]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = silu(self.stem.forward(images));
        for block in &self.blocks {
            x = block.forward(x);
        }
        silu(self.head.forward(x))
    }

    /// The output of each of torchvision's nine `features[i]` stages: the stem (with its
    /// SiLU), the seven MBConv stages, and the head convolution (with its SiLU). Used to find
    /// where an implementation diverges from torchvision.
    pub fn stage_outputs(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let mut outputs = Vec::with_capacity(STAGES.len() + 2);
        let mut x = silu(self.stem.forward(images));
        outputs.push(x.clone());
        let mut blocks = self.blocks.iter();
        for &(.., repeats) in &STAGES {
            for block in blocks.by_ref().take(repeats) {
                x = block.forward(x);
            }
            outputs.push(x.clone());
        }
        outputs.push(silu(self.head.forward(x)));
        outputs
    }

    /// Embedding: global average pool of the features, `[batch, 1280]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let f = self.features(images);
        let [b, c, _, _] = f.dims();
        spatial_mean(f).reshape([b, c])
    }
}

/// The mean over height and width, `[b, c, h, w]` → `[b, c, 1, 1]`. A 1×1 map (the last
/// stages at 32 px) is its own mean and is returned as it is: the same values, and burn's
/// `fusion` (0.22.1 on lavapipe) fails to run the gradient of a mean over one element after a
/// training-mode batch norm (`examples/fusion_reduce.rs`).
fn spatial_mean(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if h == 1 && w == 1 {
        return x;
    }
    planes::mean(x)
}

/// Counts learnable parameters, leaving out batch-norm running statistics (buffers, not
/// parameters, in PyTorch's count; burn's `num_params` includes them).
pub fn trainable_params<M: Module>(module: &M) -> usize {
    struct Counter {
        path: Vec<String>,
        count: usize,
    }
    impl burn::module::ModuleVisitor for Counter {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let buffer = self
                .path
                .last()
                .is_some_and(|n| n == "running_mean" || n == "running_var");
            if !buffer {
                self.count += param.lazy_shape().num_elements();
            }
        }
    }
    let mut c = Counter {
        path: Vec::new(),
        count: 0,
    };
    module.visit(&mut c);
    c.count
}
