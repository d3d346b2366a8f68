//! Test-time augmentation: an image's embedding as the mean over its views.
//!
//! `dihedral` uses the 8 symmetries of the square — the 4 rotations by 90°, each with and
//! without a mirror flip — the transformations BloodShot's rotation-consistency loss trains
//! the embedder to ignore. Cells under the microscope have no preferred orientation, so
//! averaging over them removes what is left of the orientation from the embedding.

use crate::choice::UnknownChoice;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// How many views of each image are embedded and averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tta {
    /// The image as it is: the original method.
    #[default]
    None,
    /// The mean over the 8 rotations and flips of the image.
    Dihedral,
}

impl Tta {
    /// Every choice, in display order.
    pub const ALL: [Tta; 2] = [Tta::None, Tta::Dihedral];

    /// Name on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Tta::None => "none",
            Tta::Dihedral => "dihedral",
        }
    }

    /// Views embedded per image (the cost factor of the embedding).
    pub fn views(self) -> usize {
        match self {
            Tta::None => 1,
            Tta::Dihedral => 8,
        }
    }

    /// Index in [`Tta::ALL`].
    pub fn index(self) -> usize {
        Tta::ALL.iter().position(|&t| t == self).unwrap_or(0)
    }
}

impl std::fmt::Display for Tta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Tta {
    type Err = UnknownChoice;
    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        match s {
            "none" => Ok(Tta::None),
            "dihedral" | "d4" => Ok(Tta::Dihedral),
            _ => Err(UnknownChoice::new(
                "test-time augmentation",
                s,
                "none or dihedral",
            )),
        }
    }
}

/// View `i` (0 ≤ i < 8) of a batch of square images `[batch, channels, side, side]`: the
/// identity, the rotations by 90°, 180° and 270°, then the same four after a mirror flip.
pub fn dihedral_view(x: Tensor<4>, i: usize) -> Tensor<4> {
    let x = if i >= 4 { x.flip([3]) } else { x };
    match i % 4 {
        0 => x,
        // transpose, then flip the columns: a quarter turn
        1 => x.swap_dims(2, 3).flip([3]),
        2 => x.flip([2, 3]),
        _ => x.swap_dims(2, 3).flip([2]),
    }
}
