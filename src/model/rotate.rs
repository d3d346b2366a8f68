//! Per-image rotation on the device for the consistency objective.

use burn::prelude::*;
use burn::tensor::grid::affine_grid_2d;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};

/// Rotates each image of `[batch, c, h, w]` by its own angle (radians, counter-clockwise
/// in the displayed image) about the centre; pixels from outside the frame are zero, as in
/// torchvision's `rotate`.
pub fn rotate(images: Tensor<4>, angles: &[f32]) -> Tensor<4> {
    let dims = images.dims();
    let device = images.device();
    let mut m = Vec::with_capacity(angles.len() * 6);
    for &a in angles {
        let (s, c) = (a.sin(), a.cos());
        // Output pixel (x, y) samples input at R(-a)·(x, y) in normalised coordinates, with
        // y pointing down, which turns the content by +a as seen on screen.
        m.extend_from_slice(&[c, -s, 0.0, s, c, 0.0]);
    }
    let transform = Tensor::<3>::from_data(TensorData::new(m, [angles.len(), 2, 3]), &device);
    let grid = affine_grid_2d(transform, dims);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Zeros)
        .with_align_corners(true);
    images.grid_sample_2d(grid, options)
}
