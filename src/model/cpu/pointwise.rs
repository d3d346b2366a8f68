//! 1×1 convolution (stride 1, one group) for training on the CPU, as one autodiff node whose
//! three products call the `gemm` crate (the one flex uses) directly on the `[n, c, h·w]`
//! layout.
//!
//! Per image, with W `[c_out, c_in]`, x `[c_in, h·w]`, dy `[c_out, h·w]`:
//! `y = W·x`, `dx = Wᵀ·dy`, `dW = Σ_images dy·xᵀ`; the transposes are strides, not copies.
//! Through flex's `matmul` the same products cost a second pass over every result: flex
//! allocates each output as `vec![0u8; n]` and `Bytes::from_bytes_vec` copies it into an
//! aligned buffer (`docs/cpu-profile.md`), ≈ 10 % of a 64 px training step.
//!
//! Where the plane is smaller than the batch (the last stages at 64 px, 2×2 and 4×4, and
//! squeeze-and-excitation's 1×1 maps), a product per image has only `h·w` columns and packs
//! the whole weight again for each image; there the same values come from one product per
//! position of the plane, over the whole batch (the images are a fixed stride apart), and
//! `dW` sums `h·w` products whose inner dimension is the batch instead of `n` rank-`h·w`
//! updates of the whole matrix.

use burn::prelude::*;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::{binary_node, flex, values};

/// Sizes of one 1×1 convolution.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    hw: usize,
}

impl Dims {
    /// The sizes of `x` (`[n, c_in, h, w]`) convolved with `weight` (`[c_out, c_in, 1, 1]`).
    fn new(x: &Tensor<4>, weight: &Tensor<4>) -> Self {
        let [n, c_in, h, w] = x.dims();
        let [c_out, ..] = weight.dims();
        Self {
            n,
            c_in,
            c_out,
            h,
            w,
            hw: h * w,
        }
    }

    fn shape_in(&self) -> [usize; 4] {
        [self.n, self.c_in, self.h, self.w]
    }

    fn shape_out(&self) -> [usize; 4] {
        [self.n, self.c_out, self.h, self.w]
    }
}

/// `dst (m × p) = [dst +] a (m × k) · b (k × p)`, row-major `dst`, with `a` and `b` given by
/// their row and column strides.
///
/// # Safety
/// Each pointer must cover its matrix under its strides, and `dst` must not overlap the others.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    dst: &mut [f32],
    accumulate: bool,
    (m, k, p): (usize, usize, usize),
    a: *const f32,
    a_strides: (usize, usize),
    b: *const f32,
    b_strides: (usize, usize),
) {
    debug_assert!(dst.len() >= m * p);
    // SAFETY: the caller's contract; `dst` is `m × p` row-major (asserted in debug builds).
    unsafe {
        product_strided(
            dst.as_mut_ptr(),
            (p, 1),
            accumulate,
            (m, k, p),
            a,
            a_strides,
            b,
            b_strides,
        )
    }
}

/// [`product`] with `dst` given by its row and column strides too.
///
/// # Safety
/// Each pointer must cover its matrix under its strides, `dst` must not overlap the others,
/// and no other thread may access `dst`'s elements during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn product_strided(
    dst: *mut f32,
    (d_rs, d_cs): (usize, usize),
    accumulate: bool,
    (m, k, p): (usize, usize, usize),
    a: *const f32,
    (a_rs, a_cs): (usize, usize),
    b: *const f32,
    (b_rs, b_cs): (usize, usize),
) {
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            p,
            k,
            dst,
            d_cs as isize,
            d_rs as isize,
            accumulate,
            a,
            a_cs as isize,
            a_rs as isize,
            b,
            b_cs as isize,
            b_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// A pointer to write through from several tasks, each to its own elements.
#[derive(Clone, Copy)]
struct Shared(*mut f32);

impl Shared {
    /// The pointer (a method, so that closures capture the whole `Shared`, not its field).
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: every user writes disjoint elements (see `by_position`), and the buffer outlives
// the parallel loop that uses it.
unsafe impl Send for Shared {}
// SAFETY: as for `Send`: shared only to write disjoint elements.
unsafe impl Sync for Shared {}

/// Whether products over the batch, one per position of the plane, beat products per image:
/// planes smaller than the batch (the last stages, and squeeze-and-excitation's 1×1 maps),
/// where a product per image has only `hw` columns and re-packs the weight for each image.
fn by_positions(n: usize, hw: usize) -> bool {
    hw < n
}

/// Bands of rows per thread for the products by position: a few per thread, so that one
/// slow band does not hold the others up, each a multiple of the products' row blocking.
fn row_band(rows: usize) -> usize {
    let tasks = rayon::current_num_threads().max(1) * 4;
    rows.div_ceil(tasks).next_multiple_of(8).max(8)
}

/// [`per_image`] computed as `hw` products over the whole batch, one per position `p` of
/// the plane: `out[·, ·, p] (rows × n) = M · input[·, ·, p] (inner × n)`, the images
/// `inner·hw` values apart. Each task writes its own band of rows of every image.
fn by_position(
    input: &[f32],
    w: &[f32],
    (rows, inner): (usize, usize),
    (m_rs, m_cs): (usize, usize),
    hw: usize,
) -> Vec<f32> {
    let n = input.len() / (inner * hw).max(1);
    let mut out = super::zeroed(n * rows * hw);
    let dst = Shared(out.as_mut_ptr());
    let band = row_band(rows);
    (0..rows.div_ceil(band)).into_par_iter().for_each(|b| {
        let (r0, r1) = (b * band, ((b + 1) * band).min(rows));
        for p in 0..hw {
            // SAFETY: rows r0..r1 of out[i] (`rows × hw` each) are this task's alone, and
            // (r, i) ↦ r·hw + i·rows·hw + p stays inside `out`; M's rows r0..r1 and
            // input[·, ·, p] (k, i) ↦ k·hw + i·inner·hw + p are inside `w` and `input`.
            unsafe {
                product_strided(
                    dst.ptr().add(r0 * hw + p),
                    (hw, rows * hw),
                    false,
                    (r1 - r0, inner, n),
                    w.as_ptr().add(r0 * m_rs),
                    (m_rs, m_cs),
                    input.as_ptr().add(p),
                    (hw, inner * hw),
                )
            }
        }
    });
    out
}

/// `out[i] = M · input[i]` for every image, with M (`rows × inner`) the weight W
/// (`c_out × c_in`, row-major) read with the strides `m_strides` (W itself or Wᵀ).
fn per_image(
    input: &[f32],
    w: &[f32],
    (rows, inner): (usize, usize),
    m_strides: (usize, usize),
    hw: usize,
) -> Vec<f32> {
    per_image_then(input, w, (rows, inner), m_strides, hw, None, None)
}

/// [`per_image`] plus a per-row `bias`, which the product adds, then `then` on each
/// image's output while it is fresh in cache: with `then`, each image's product runs in
/// blocks of columns ([`column_block`]) and each block gets its bias, its product and
/// `then` before the next starts, so a 224 px layer's output (4.8 MB per image) is not
/// written, read back and written again from memory.
///
/// Every output value is written before it is read (the bias fill or a product that does
/// not read its destination), so the buffer is not zeroed first.
fn per_image_then(
    input: &[f32],
    w: &[f32],
    (rows, inner): (usize, usize),
    m_strides: (usize, usize),
    hw: usize,
    bias: Option<&[f32]>,
    then: Option<fn(&mut [f32])>,
) -> Vec<f32> {
    // The buffer is not zeroed: a bias that did not cover every row would leave values
    // that the product then reads.
    assert!(
        bias.is_none_or(|b| b.len() == rows),
        "a 1x1 convolution's bias must have one value per output channel"
    );
    let len = input.len() / inner.max(1) * rows;
    let block = if then.is_some() {
        column_block(rows, hw)
    } else {
        hw.max(1)
    };
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut((rows * hw).max(1))
        .zip(input.par_chunks((inner * hw).max(1)))
        .for_each(|(out, input)| {
            let out = out.as_mut_ptr().cast::<f32>();
            for c0 in (0..hw).step_by(block) {
                let cols = block.min(hw - c0);
                // SAFETY: `out` is this image's `rows × hw` values (row-major) and
                // `input` its `inner × hw`; columns c0..c0 + cols of both are inside them,
                // and M covers W's c_out·c_in values under `m_strides`. The bias fill
                // writes the block before the product reads it; without a bias the product
                // only writes. `then` gets rows of the block after the product wrote them.
                unsafe {
                    if let Some(b) = bias {
                        for (r, &v) in b.iter().enumerate() {
                            let row = out.add(r * hw + c0);
                            for c in 0..cols {
                                row.add(c).write(v);
                            }
                        }
                    }
                    product_strided(
                        out.add(c0),
                        (hw, 1),
                        bias.is_some(),
                        (rows, inner, cols),
                        w.as_ptr(),
                        m_strides,
                        input.as_ptr().add(c0),
                        (hw, 1),
                    );
                    if let Some(f) = then {
                        for r in 0..rows {
                            f(std::slice::from_raw_parts_mut(out.add(r * hw + c0), cols));
                        }
                    }
                }
            }
        });
    // SAFETY: the loop above wrote all `len` values (every image, every block of columns).
    unsafe { out.set_len(len) };
    out
}

/// Columns per block of an image's product when a pass follows it: about 128 kB of output
/// (`rows × block` values), which stays in a core's L2 cache for the pass, in multiples of
/// 16 (one AVX-512 register), and no fewer than 64 so that each product is still wide.
fn column_block(rows: usize, hw: usize) -> usize {
    const VALUES: usize = 32 * 1024;
    (VALUES / rows.max(1) / 16 * 16).max(64).min(hw.max(1))
}

/// `y[i] = W · x[i]` for every image.
fn forward(x: &[f32], w: &[f32], d: Dims) -> Vec<f32> {
    if by_positions(d.n, d.hw) {
        return by_position(x, w, (d.c_out, d.c_in), (d.c_in, 1), d.hw);
    }
    per_image(x, w, (d.c_out, d.c_in), (d.c_in, 1), d.hw)
}

/// `dx[i] = Wᵀ · dy[i]` for every image (Wᵀ is W read with swapped strides).
fn x_backward(dy: &[f32], w: &[f32], d: Dims) -> Vec<f32> {
    if by_positions(d.n, d.hw) {
        return by_position(dy, w, (d.c_in, d.c_out), (1, d.c_in), d.hw);
    }
    per_image(dy, w, (d.c_in, d.c_out), (1, d.c_in), d.hw)
}

/// [`w_backward`] for planes smaller than the batch: `dW = Σ_p dy[·, ·, p] · x[·, ·, p]ᵀ`,
/// `hw` products whose inner dimension is the batch, each task its own band of dW's rows.
fn w_backward_by_position(x: &[f32], dy: &[f32], d: Dims) -> Vec<f32> {
    let mut dw = vec![0f32; d.c_out * d.c_in];
    let band = row_band(d.c_out);
    dw.par_chunks_mut(band * d.c_in)
        .enumerate()
        .for_each(|(b, dst)| {
            let r0 = b * band;
            let rows = dst.len() / d.c_in;
            for p in 0..d.hw {
                // SAFETY: dst is rows r0.. of dW (`rows × c_in`, row-major); dy[·, ·, p]'s
                // rows r0.. are (r, i) ↦ r·hw + i·c_out·hw + p, and x[·, ·, p]ᵀ is
                // (i, k) ↦ i·c_in·hw + k·hw + p, all inside `dy` and `x`.
                unsafe {
                    product(
                        dst,
                        p > 0,
                        (rows, d.n, d.c_in),
                        dy.as_ptr().add(r0 * d.hw + p),
                        (d.hw, d.c_out * d.hw),
                        x.as_ptr().add(p),
                        (d.c_in * d.hw, d.hw),
                    )
                }
            }
        });
    dw
}

/// `dW = Σ_i dy[i] · x[i]ᵀ`: images split among the threads, each summing into its own
/// matrix, then the matrices summed.
fn w_backward(x: &[f32], dy: &[f32], d: Dims) -> Vec<f32> {
    if by_positions(d.n, d.hw) {
        return w_backward_by_position(x, dy, d);
    }
    let size = d.c_out * d.c_in;
    let per = d.n.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let parts: Vec<Vec<f32>> = (0..d.n.div_ceil(per))
        .into_par_iter()
        .map(|part| {
            let mut acc = vec![0f32; size];
            for i in part * per..((part + 1) * per).min(d.n) {
                let xi = &x[i * d.c_in * d.hw..(i + 1) * d.c_in * d.hw];
                let dyi = &dy[i * d.c_out * d.hw..(i + 1) * d.c_out * d.hw];
                // SAFETY: dy[i] is c_out × hw row-major; x[i]ᵀ is x[i] (c_in × hw) read with
                // swapped strides; acc is c_out × c_in.
                unsafe {
                    product(
                        &mut acc,
                        i > part * per,
                        (d.c_out, d.hw, d.c_in),
                        dyi.as_ptr(),
                        (d.hw, 1),
                        xi.as_ptr(),
                        (1, d.hw),
                    )
                }
            }
            acc
        })
        .collect();
    let mut dw = vec![0f32; size];
    for part in &parts {
        for (a, b) in dw.iter_mut().zip(part) {
            *a += b;
        }
    }
    dw
}

#[derive(Debug)]
struct PointwiseBackward;

impl Backward<Flex, 2> for PointwiseBackward {
    type State = (FlexTensor, FlexTensor, Dims);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w, d) = ops.state;
        let dy = values(&dy);
        if let Some(node) = node_x {
            let dx = x_backward(&dy, &values(&w), d);
            grads.register::<Flex>(node.id, flex(dx, d.shape_in()));
        }
        if let Some(node) = node_w {
            let dw = w_backward(&values(&x), &dy, d);
            grads.register::<Flex>(node.id, flex(dw, [d.c_out, d.c_in, 1, 1]));
        }
    }
}

/// The 1×1 convolution of `x` (`[n, c_in, h, w]`) with `weight` (`[c_out, c_in, 1, 1]`) on
/// flex under autodiff. `None` when the tensors are not f32 on that backend (the caller then
/// uses burn's operations).
pub fn forward_autodiff(x: &Tensor<4>, weight: &Tensor<4>) -> Option<Tensor<4>> {
    let d = Dims::new(x, weight);
    binary_node(PointwiseBackward, x, weight, d, |x, w| {
        flex(forward(&values(x), &values(w), d), d.shape_out())
    })
}

/// The 1×1 convolution on flex without autodiff (the inference path), plus a per-channel
/// bias when given (added by the product itself), then SiLU when `silu` (on each image's
/// output as it is produced, not as another pass over the whole activation). `None` when
/// the tensors are not f32 flex tensors.
pub fn forward_inference(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    silu: bool,
) -> Option<Tensor<4>> {
    let (xf, wf, bf) = super::flex_f32(x, weight, bias)?;
    let d = Dims::new(x, weight);
    let b = bf.as_ref().map(values);
    let then = silu.then_some(crate::model::fast::silu_slice as fn(&mut [f32]));
    let y = per_image_then(
        &values(&xf),
        &values(&wf),
        (d.c_out, d.c_in),
        (d.c_in, 1),
        d.hw,
        b.as_deref(),
        then,
    );
    Some(Tensor::from_primitive::<Flex>(flex(y, d.shape_out())))
}
