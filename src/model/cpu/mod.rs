//! The CPU (flex) backend's own versions of the operations that dominate EfficientNet-B0
//! training there: depthwise convolution, 1×1 convolution and training-mode batch norm.
//! Each computes the same function as burn's operation (tests compare values and gradients)
//! without the layout copies and element-wise passes that burn 0.22's generic
//! implementations spend their time in (`docs/cpu-profile.md`). On other backends, and for
//! tensors these do not cover, the callers use burn's operation.

pub mod batch_norm;
pub mod conv;
pub mod dense;
pub mod depthwise;
pub mod planes;
pub mod pointwise;
pub mod workers;

pub use workers::on_workers;

use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::ops::{Backward, OpsKind};
use burn_flex::{Flex, FlexTensor};
use std::borrow::Cow;

/// Flex under burn's default autodiff (no gradient checkpointing), as `Device::autodiff`
/// builds it.
pub(crate) type Ad = burn_autodiff::Autodiff<Flex>;

/// Which of the CPU paths a device takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cpu {
    Training,
    Inference,
    No,
}

pub(crate) fn cpu(device: &Device) -> Cpu {
    match crate::device::compute(device) {
        crate::device::Compute::CpuTraining => Cpu::Training,
        crate::device::Compute::CpuInference => Cpu::Inference,
        crate::device::Compute::Other => Cpu::No,
    }
}

/// The f32 values of a flex tensor in row-major order (copied only when it is a view).
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap_or(&[]).to_vec()),
    }
}

/// Values per task when [`zeroed`] and [`copied`] split a buffer across the workers (128 kB).
const FILL_CHUNK: usize = 1 << 15;

/// `n` zeros, written by the workers in parallel.
///
/// `vec![0f32; n]` zeroes a buffer that malloc reuses with one `memset` on the calling
/// thread, while the other workers wait for the next operation: at 64 px a training step
/// spent a few percent of its time in these, and a worker that waits that long goes to
/// sleep, leaving its core to any other process (`docs/cpu-profile.md`).
pub(crate) fn zeroed(n: usize) -> Vec<f32> {
    filled(n, |_, _| {})
}

/// A copy of `src`, written by the workers in parallel (see [`zeroed`]).
pub(crate) fn copied(src: &[f32]) -> Vec<f32> {
    filled(src.len(), |at, c| c.copy_from_slice(&src[at..at + c.len()]))
}

/// `n` values, written in parallel in chunks of [`FILL_CHUNK`]: `fill(at, chunk)` gets the
/// zeroed chunk that starts at value `at`.
fn filled(n: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    filled_in(n, FILL_CHUNK, fill)
}

/// [`filled`] in chunks of `chunk` values (the last may be shorter).
pub(crate) fn filled_in(
    n: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    use rayon::prelude::*;
    use std::mem::MaybeUninit;
    let mut v: Vec<f32> = Vec::with_capacity(n);
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, c)| {
            c.fill(MaybeUninit::new(0.0));
            // SAFETY: every element of `c` was initialised on the line above, and
            // `MaybeUninit<f32>` has the layout of `f32`.
            let c = unsafe { &mut *(c as *mut [MaybeUninit<f32>] as *mut [f32]) };
            fill(i * chunk, c);
        });
    // SAFETY: the chunks cover the first `n` elements of the capacity, and each chunk was
    // initialised above (a panic in `fill` unwinds before this line, leaving `v` empty).
    unsafe { v.set_len(n) };
    v
}

/// The flex tensors behind an input, a weight and an optional bias, when all three are f32
/// tensors of the flex backend without autodiff (the evaluation kernels' inputs).
pub(crate) fn flex_f32(
    x: &Tensor<4>,
    w: &Tensor<4>,
    bias: Option<&Tensor<1>>,
) -> Option<(FlexTensor, FlexTensor, Option<FlexTensor>)> {
    let xf = x.clone().try_into_primitive::<Flex>().ok()?;
    let wf = w.clone().try_into_primitive::<Flex>().ok()?;
    let bf = match bias {
        Some(b) => Some(b.clone().try_into_primitive::<Flex>().ok()?),
        None => None,
    };
    let all_f32 = [Some(&xf), Some(&wf), bf.as_ref()]
        .into_iter()
        .flatten()
        .all(|t| t.dtype() == DType::F32);
    all_f32.then_some((xf, wf, bf))
}

/// A flex tensor of these values.
pub(crate) fn flex(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `forward` of the flex values behind `x` and `w`, joined to burn's autodiff graph as one
/// node of `op`, whose backward pass gets both inputs and `extra`. `None` when the tensors
/// are not f32 flex tensors under autodiff (the caller then uses burn's operation).
fn binary_node<B, E>(
    op: B,
    x: &Tensor<4>,
    w: &Tensor<4>,
    extra: E,
    forward: impl FnOnce(&FlexTensor, &FlexTensor) -> FlexTensor,
) -> Option<Tensor<4>>
where
    B: Backward<Flex, 2, State = (FlexTensor, FlexTensor, E)>,
    E: Clone + Send + std::fmt::Debug + 'static,
{
    if x.dtype() != DType::F32 || w.dtype() != DType::F32 {
        return None;
    }
    let xa = x.clone().try_into_primitive::<Ad>().ok()?;
    let wa = w.clone().try_into_primitive::<Ad>().ok()?;
    let (xf, wf) = (xa.primitive().clone(), wa.primitive().clone());
    let y = forward(&xf, &wf);
    let out = match op
        .prepare::<NoCheckpointing>([xa.node(), wa.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((xf, wf, extra), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Ad>(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_has_n_zeros_across_chunks() {
        assert!(zeroed(0).is_empty());
        for n in [1, FILL_CHUNK - 1, FILL_CHUNK, 2 * FILL_CHUNK + 5] {
            let v = zeroed(n);
            assert_eq!(v.len(), n);
            assert!(
                v.iter().all(|&x| x == 0.0),
                "a nonzero value in zeroed({n})"
            );
        }
    }

    #[test]
    fn copied_keeps_every_value_in_place() {
        // A ramp: a chunk written at the wrong offset, or twice, shows as a wrong value.
        let src: Vec<f32> = (0..3 * FILL_CHUNK + 7).map(|i| i as f32).collect();
        assert_eq!(copied(&src), src);
        assert_eq!(copied(&src[..3]), vec![0.0, 1.0, 2.0]);
        assert!(copied(&[]).is_empty());
    }

    #[test]
    fn filled_hands_each_chunk_its_start() {
        let v = filled(2 * FILL_CHUNK + 1, |at, c| c[0] = at as f32);
        let starts: Vec<(usize, f32)> = v
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, x)| x != 0.0)
            .collect();
        // The first chunk's start is 0, which reads as an untouched zero.
        assert_eq!(
            starts,
            vec![
                (FILL_CHUNK, FILL_CHUNK as f32),
                (2 * FILL_CHUNK, 2.0 * FILL_CHUNK as f32)
            ]
        );
    }
}
