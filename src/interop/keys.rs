//! The correspondence between torchvision's `efficientnet_b0` state-dict keys and the paths
//! of our [`Classifier`](crate::model::Classifier) parameters, generated from the stage table
//! so that it cannot drift from the network.

use crate::model::efficientnet::STAGES;

/// What a parameter is, which decides how it is named on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A convolution weight `[out, in/groups, k, k]`, same layout on both sides.
    ConvWeight,
    /// A convolution bias.
    ConvBias,
    /// Batch-norm scale (torch `weight`, burn `gamma`).
    BnWeight,
    /// Batch-norm shift (torch `bias`, burn `beta`).
    BnBias,
    /// Batch-norm running mean.
    BnMean,
    /// Batch-norm running variance.
    BnVar,
}

/// One embedder parameter: torchvision key, burn path, kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// torchvision key, e.g. `features.1.0.block.0.1.weight`.
    pub torch: String,
    /// Path in our `Classifier`, e.g. `embedder.blocks.0.depthwise.bn.gamma`.
    pub burn: String,
    /// What it is.
    pub kind: Kind,
}

fn conv(out: &mut Vec<KeyPair>, torch: &str, burn: &str) {
    out.push(KeyPair {
        torch: format!("{torch}.weight"),
        burn: format!("embedder.{burn}.weight"),
        kind: Kind::ConvWeight,
    });
}

fn conv_bias(out: &mut Vec<KeyPair>, torch: &str, burn: &str) {
    conv(out, torch, burn);
    out.push(KeyPair {
        torch: format!("{torch}.bias"),
        burn: format!("embedder.{burn}.bias"),
        kind: Kind::ConvBias,
    });
}

fn bn(out: &mut Vec<KeyPair>, torch: &str, burn: &str) {
    for (t, b, kind) in [
        ("weight", "gamma", Kind::BnWeight),
        ("bias", "beta", Kind::BnBias),
        ("running_mean", "running_mean", Kind::BnMean),
        ("running_var", "running_var", Kind::BnVar),
    ] {
        out.push(KeyPair {
            torch: format!("{torch}.{t}"),
            burn: format!("embedder.{burn}.{b}"),
            kind,
        });
    }
}

/// Every embedder parameter (309 for B0), in network order.
pub fn embedder_keys() -> Vec<KeyPair> {
    let mut out = Vec::new();
    conv(&mut out, "features.0.0", "stem.conv");
    bn(&mut out, "features.0.1", "stem.bn");
    let mut block = 0;
    for (stage, &(expand, .., repeats)) in STAGES.iter().enumerate() {
        for r in 0..repeats {
            let t = format!("features.{}.{r}.block", stage + 1);
            let b = format!("blocks.{block}");
            // torchvision numbers the block's layers from 0 and leaves out the expansion when
            // the ratio is 1: (depthwise, SE, project) or (expand, depthwise, SE, project).
            let first = if expand == 1 {
                0
            } else {
                conv(&mut out, &format!("{t}.0.0"), &format!("{b}.expand.conv"));
                bn(&mut out, &format!("{t}.0.1"), &format!("{b}.expand.bn"));
                1
            };
            conv(
                &mut out,
                &format!("{t}.{first}.0"),
                &format!("{b}.depthwise.conv"),
            );
            bn(
                &mut out,
                &format!("{t}.{first}.1"),
                &format!("{b}.depthwise.bn"),
            );
            conv_bias(
                &mut out,
                &format!("{t}.{}.fc1", first + 1),
                &format!("{b}.se.reduce"),
            );
            conv_bias(
                &mut out,
                &format!("{t}.{}.fc2", first + 1),
                &format!("{b}.se.expand"),
            );
            conv(
                &mut out,
                &format!("{t}.{}.0", first + 2),
                &format!("{b}.project.conv"),
            );
            bn(
                &mut out,
                &format!("{t}.{}.1", first + 2),
                &format!("{b}.project.bn"),
            );
            block += 1;
        }
    }
    conv(&mut out, "features.8.0", "head.conv");
    bn(&mut out, "features.8.1", "head.bn");
    out
}

/// torchvision's softmax head weight (`[classes, 1280]`; ours is the transpose).
pub const TORCH_CLASSIFIER_WEIGHT: &str = "classifier.1.weight";
/// torchvision's softmax head bias.
pub const TORCH_CLASSIFIER_BIAS: &str = "classifier.1.bias";
/// BloodShot's AAMSoftmax class centres (`[1280, classes]`; ours is the transpose).
pub const BLOODSHOT_AAM_W: &str = "metric_loss.W";
/// Our softmax head weight (`[1280, classes]`).
pub const BURN_LINEAR_WEIGHT: &str = "head.linear.weight";
/// Our softmax head bias.
pub const BURN_LINEAR_BIAS: &str = "head.linear.bias";
/// Our AAM class centres (`[classes, 1280]`).
pub const BURN_AAM_WEIGHT: &str = "head.weight";

/// The class order of `metric_loss.W` in the original BloodShot checkpoints (the 11 AML
/// classes kept, alphabetical).
pub const BLOODSHOT_CLASSES: [&str; 11] = [
    "BAS", "EBO", "EOS", "LYT", "MON", "MYB", "MYO", "NGB", "NGS", "PMB", "PMO",
];

/// Row-major `[r, c]` values as `[c, r]` (our head layouts are the transposes of PyTorch's).
pub fn transposed(values: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut t = vec![0f32; values.len()];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = values[i * c + j];
        }
    }
    t
}
