//! SiLU and sigmoid for CPU inference, vectorised and in one pass.
//!
//! A profile of embedding on the flex backend (`perf record` on `benches/throughput.rs`,
//! 224 px, batch 64; see `docs/cpu-profile.md`) put 31 % of the time in flex's element-wise
//! sigmoid: a scalar `expf` call per element behind a branch, which the compiler cannot
//! vectorise, and SiLU = x · sigmoid(x) then allocates and walks the tensor twice more. Here
//! the tensor's values are taken out once, x / (1 + e^(−x)) is computed with a branch-free
//! exponential (Cephes' `expf` reduction and polynomial, relative error ≈ 2e-7) that the
//! compiler vectorises with AVX2 + FMA when the CPU has them, on every core, and the values
//! go back into a tensor. With AVX-512 the values go 16 at a time and the division is the
//! reciprocal estimate plus one Newton step (`sigmoid16`).
//!
//! Under autodiff on the CPU backend (training) the same pass also computes the slopes, and
//! the result is one node of the graph whose backward pass multiplies by them (`with_grad`). On a GPU the data
//! would have to travel to the host: burn's `silu` / `sigmoid` run there unchanged.

use super::cpu::{self, Ad};
use burn::prelude::*;
use burn::tensor::activation;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::borrow::Cow;

/// Values per parallel task: large enough to amortise the split, small enough for 2+ cores.
const CHUNK: usize = 1 << 15;

/// True where the fast path applies: the flex (CPU) backend without autodiff.
fn applies(device: &Device) -> bool {
    crate::device::compute(device) == crate::device::Compute::CpuInference
}

/// True for the flex backend under autodiff (training on the CPU).
fn applies_with_grad(device: &Device) -> bool {
    crate::device::compute(device) == crate::device::Compute::CpuTraining
}

/// SiLU, `x · sigmoid(x)`.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if applies_with_grad(&x.device()) {
        return with_grad(x, silu_and_slope, activation::silu);
    }
    map(x, silu_slice, activation::silu)
}

/// The logistic sigmoid.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if applies_with_grad(&x.device()) {
        return with_grad(x, sigmoid_and_slope, activation::sigmoid);
    }
    map(x, sigmoid_slice, activation::sigmoid)
}

/// f(x) under autodiff on the CPU, as one node of burn's graph: the values f(x) and slopes
/// f'(x) come from one vectorised pass, the slopes are kept for the backward pass, which is
/// one multiplication `dx = dy · f'(x)`. (An earlier version joined constant values and
/// slopes to the graph as `f(x) + (x − detach(x)) · f'(x)`, three more element-wise passes
/// forward and two backward on every activation.)
fn with_grad<const D: usize>(
    x: Tensor<D>,
    f: fn(&mut [f32], &mut [f32]),
    slow: fn(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    if x.dtype() != burn::tensor::DType::F32 {
        return slow(x); // A half-precision model: burn's operation.
    }
    let Ok(xa) = x.clone().try_into_primitive::<Ad>() else {
        return slow(x);
    };
    let shape = xa.primitive().layout().shape().clone();
    // A view is already a fresh copy; a contiguous tensor is copied by the workers.
    let mut values = match cpu::values(xa.primitive()) {
        Cow::Owned(v) => v,
        Cow::Borrowed(v) => cpu::copied(v),
    };
    let mut slopes = cpu::zeroed(values.len());
    values
        .par_chunks_mut(CHUNK)
        .zip(slopes.par_chunks_mut(CHUNK))
        .for_each(|(v, d)| f(v, d));
    let y = cpu::flex(values, shape.clone());
    let out = match Activation
        .prepare::<NoCheckpointing>([xa.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(cpu::flex(slopes, shape), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive::<Ad>(out)
}

/// The autodiff node of an element-wise activation: `dx = dy · slope`.
#[derive(Debug)]
struct Activation;

impl Backward<Flex, 1> for Activation {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(node) = node else { return };
        let slope = ops.state;
        let dx: Vec<f32> = {
            let (dy, s) = (cpu::values(&dy), cpu::values(&slope));
            dy.par_iter()
                .zip(s.par_iter())
                .map(|(g, s)| g * s)
                .collect()
        };
        let shape = slope.layout().shape().clone();
        grads.register::<Flex>(node.id, cpu::flex(dx, shape));
    }
}

/// x ← silu(x), d ← silu'(x) = s + x·s·(1 − s) with s = sigmoid(x).
fn silu_and_slope(v: &mut [f32], d: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx512 {
        // SAFETY: `simd::level` returns a level only when the CPU has it: AVX-512F here.
        unsafe { silu_and_slope_avx512(v, d) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx2Fma {
        // SAFETY: `simd::level` returns a level only when the CPU has it: AVX2 and FMA here.
        unsafe { silu_and_slope_avx2(v, d) };
        return;
    }
    silu_and_slope_portable(v, d);
}

/// x ← sigmoid(x), d ← s·(1 − s).
fn sigmoid_and_slope(v: &mut [f32], d: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx512 {
        // SAFETY: `simd::level` returns a level only when the CPU has it: AVX-512F here.
        unsafe { sigmoid_and_slope_avx512(v, d) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx2Fma {
        // SAFETY: `simd::level` returns a level only when the CPU has it: AVX2 and FMA here.
        unsafe { sigmoid_and_slope_avx2(v, d) };
        return;
    }
    sigmoid_and_slope_portable(v, d);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn silu_and_slope_avx2(v: &mut [f32], d: &mut [f32]) {
    silu_and_slope_portable(v, d)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sigmoid_and_slope_avx2(v: &mut [f32], d: &mut [f32]) {
    sigmoid_and_slope_portable(v, d)
}

#[inline(always)]
fn silu_and_slope_portable(v: &mut [f32], d: &mut [f32]) {
    for (x, d) in v.iter_mut().zip(d.iter_mut()) {
        let s = 1.0 / (1.0 + exp(-*x));
        *d = s + *x * s * (1.0 - s);
        *x *= s;
    }
}

#[inline(always)]
fn sigmoid_and_slope_portable(v: &mut [f32], d: &mut [f32]) {
    for (x, d) in v.iter_mut().zip(d.iter_mut()) {
        let s = 1.0 / (1.0 + exp(-*x));
        *d = s * (1.0 - s);
        *x = s;
    }
}

fn map<const D: usize>(
    x: Tensor<D>,
    fast: fn(&mut [f32]),
    slow: fn(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    let device = x.device();
    if !applies(&device) {
        return slow(x);
    }
    let mut data = x.into_data();
    match data.as_mut_slice::<f32>() {
        Ok(values) => {
            values.par_chunks_mut(CHUNK).for_each(fast);
            Tensor::from_data(data, &device)
        }
        // Not f32 (a half-precision model): burn's operation.
        Err(_) => slow(Tensor::from_data(data, &device)),
    }
}

/// SiLU in place over a slice (vectorised at the CPU's level).
pub(crate) fn silu_slice(v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx512 {
        // SAFETY: `simd::level` returns a level only when the CPU has it: AVX-512F here.
        unsafe { silu_avx512(v) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx2Fma {
        // SAFETY: `simd::level` returns a level only when the CPU has it: AVX2 and FMA here.
        unsafe { silu_avx2(v) };
        return;
    }
    silu_portable(v);
}

fn sigmoid_slice(v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx512 {
        // SAFETY: `simd::level` returns a level only when the CPU has it: AVX-512F here.
        unsafe { sigmoid_avx512(v) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx2Fma {
        // SAFETY: `simd::level` returns a level only when the CPU has it: AVX2 and FMA here.
        unsafe { sigmoid_avx2(v) };
        return;
    }
    sigmoid_portable(v);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn silu_avx2(v: &mut [f32]) {
    silu_portable(v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sigmoid_avx2(v: &mut [f32]) {
    sigmoid_portable(v)
}

#[inline(always)]
fn silu_portable(v: &mut [f32]) {
    for x in v.iter_mut() {
        *x /= 1.0 + exp(-*x);
    }
}

#[inline(always)]
fn sigmoid_portable(v: &mut [f32]) {
    for x in v.iter_mut() {
        *x = 1.0 / (1.0 + exp(-*x));
    }
}

/// `1 / (1 + e^(−x))` for 16 values, with AVX-512: the exponential vectorised as everywhere
/// here, the division as AVX-512's 14-bit reciprocal estimate refined by one Newton step,
/// `r·(2 − d·r)` (relative error ≈ 2⁻²⁸ before rounding, below f32's 2⁻²⁴), three full-speed
/// instructions where a 16-lane division takes as long as two 8-lane ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn sigmoid16(x: &[f32; 16]) -> [f32; 16] {
    use std::arch::x86_64::*;
    let mut d = [0f32; 16];
    for (d, &x) in d.iter_mut().zip(x) {
        *d = 1.0 + exp(-x);
    }
    let mut s = [0f32; 16];
    // SAFETY: both arrays hold 16 f32s (unaligned loads and stores), and AVX-512F is enabled
    // for this function.
    unsafe {
        let d = _mm512_loadu_ps(d.as_ptr());
        let r = _mm512_rcp14_ps(d);
        let r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0)));
        _mm512_storeu_ps(s.as_mut_ptr(), r);
    }
    s
}

/// Applies `f(x, sigmoid(x))` to each value, 16 at a time with [`sigmoid16`]; `rest` takes
/// the last `len mod 16` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn by_16(v: &mut [f32], f: impl Fn(&mut f32, f32), rest: impl FnOnce(&mut [f32])) {
    let mut chunks = v.chunks_exact_mut(16);
    for c in &mut chunks {
        let c: &mut [f32; 16] = c.try_into().expect("16 values");
        let s = sigmoid16(c);
        for (x, s) in c.iter_mut().zip(s) {
            f(x, s);
        }
    }
    rest(chunks.into_remainder());
}

/// [`by_16`] over two slices of equal length: `f(x, d, sigmoid(x))`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn by_16_with(
    v: &mut [f32],
    d: &mut [f32],
    f: impl Fn(&mut f32, &mut f32, f32),
    rest: impl FnOnce(&mut [f32], &mut [f32]),
) {
    let mut chunks = v.chunks_exact_mut(16);
    let mut slopes = d.chunks_exact_mut(16);
    for (c, d) in (&mut chunks).zip(&mut slopes) {
        let c: &mut [f32; 16] = c.try_into().expect("16 values");
        let s = sigmoid16(c);
        for ((x, d), s) in c.iter_mut().zip(d.iter_mut()).zip(s) {
            f(x, d, s);
        }
    }
    rest(chunks.into_remainder(), slopes.into_remainder());
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn silu_avx512(v: &mut [f32]) {
    by_16(v, |x, s| *x *= s, silu_portable)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sigmoid_avx512(v: &mut [f32]) {
    by_16(v, |x, s| *x = s, sigmoid_portable)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn silu_and_slope_avx512(v: &mut [f32], d: &mut [f32]) {
    by_16_with(
        v,
        d,
        |x, d, s| {
            *d = s + *x * s * (1.0 - s);
            *x *= s;
        },
        silu_and_slope_portable,
    )
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sigmoid_and_slope_avx512(v: &mut [f32], d: &mut [f32]) {
    by_16_with(
        v,
        d,
        |x, d, s| {
            *d = s * (1.0 - s);
            *x = s;
        },
        sigmoid_and_slope_portable,
    )
}

/// e^x without branches (so loops over it vectorise): Cephes' `expf`. x is clamped to
/// [−87.3, 88.3] first, where e^x and 2^n are normal f32s; NaN gives NaN (as a select, not a
/// branch).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n · ln2 is exact in the high part.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // max/min rather than clamp: they map NaN to a bound, so the integer conversion below
    // always sees a value in range; the NaN comes back at the end.
    #[allow(clippy::manual_clamp)]
    let c = x.max(-87.3).min(88.3);
    let n = (c * LOG2E + 0.5).floor();
    let r = c - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5); // Cephes' 5.0000001201e-1, which rounds to 0.5 in f32
    let y = (p * r).mul_add(r, r) + 1.0;
    // 2^n from its exponent bits. n + 127 is a whole number in [1, 254] after the clamp, so
    // the unchecked conversion (one vector instruction, where `as` saturates element by
    // element) is exact.
    // SAFETY: n + 127 is finite and within i32 (see above).
    let bits = unsafe { (n + 127.0).to_int_unchecked::<i32>() };
    let e = y * f32::from_bits((bits as u32) << 23);
    if x.is_nan() { x } else { e }
}
