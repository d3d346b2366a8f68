//! The CPU (flex) backend's own versions of the operations that dominate EfficientNet-B0
//! training there: depthwise convolution, 1×1 convolution and training-mode batch norm.
//! Each computes the same function as burn's operation (tests compare values and gradients)
//! without the layout copies and element-wise passes that burn 0.22's generic
//! implementations spend their time in (`docs/cpu-profile.md`). On other backends, and for
//! tensors these do not cover, the callers use burn's operation.

pub mod batch_norm;
pub mod conv;
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
