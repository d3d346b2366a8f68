//! The seeded, stratified 70/10/20 train/validation/test split of the base set.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Indices into `Dataset::samples` for each part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// 70 %: training.
    pub train: Vec<usize>,
    /// 10 %: validation after each epoch.
    pub val: Vec<usize>,
    /// 20 %: the base-test report after training.
    pub test: Vec<usize>,
}

/// Stratified split: each class is shuffled with its own seeded RNG and cut 70/10/20
/// (rounded), so every class appears in every part once it has at least 3 images.
pub fn split(labels: &[usize], n_classes: usize, seed: u64) -> Split {
    let mut out = Split::default();
    for class in 0..n_classes {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(
            seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(class as u64 + 1)),
        );
        idx.shuffle(&mut rng);
        let n = idx.len();
        let mut n_val = ((n as f64) * 0.1).round() as usize;
        let mut n_test = ((n as f64) * 0.2).round() as usize;
        if n >= 3 {
            n_val = n_val.max(1);
            n_test = n_test.max(1);
        }
        let n_train = n.saturating_sub(n_val + n_test);
        out.train.extend_from_slice(&idx[..n_train]);
        out.val.extend_from_slice(&idx[n_train..n_train + n_val]);
        out.test.extend_from_slice(&idx[n_train + n_val..]);
    }
    out.train.sort_unstable();
    out.val.sort_unstable();
    out.test.sort_unstable();
    out
}
