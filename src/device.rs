//! Choosing the compute device explicitly: `cpu` (flex), `cuda[:N]`, `vulkan[:N]`.
//!
//! `Device::default()` would silently pick whatever GPU backend is compiled in; we never
//! call it. A GPU is used only when asked for, and only after it answered a first operation.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;

/// What the user asked for with `--device`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DeviceSpec {
    /// The pure-Rust flex CPU backend.
    #[default]
    Cpu,
    /// CUDA device N (needs the `cuda` feature).
    Cuda(usize),
    /// Vulkan device N through wgpu (needs the `vulkan` feature).
    Vulkan(usize),
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Vulkan(n) => write!(f, "vulkan:{n}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let (name, index) = match s.split_once(':') {
            Some((n, i)) => {
                let index = i.parse::<usize>().map_err(|_| {
                    format!("device index `{i}` in `{s}` is not a non-negative integer")
                })?;
                (n.to_string(), index)
            }
            None => (s.clone(), 0),
        };
        match name.as_str() {
            "cpu" | "flex" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(index)),
            "vulkan" | "wgpu" => Ok(DeviceSpec::Vulkan(index)),
            _ => Err(format!(
                "unknown device `{s}`: use cpu, cuda, cuda:N, vulkan or vulkan:N"
            )),
        }
    }
}

/// Backends compiled into this binary, for messages and `--help`.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut v = vec!["cpu"];
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    if cfg!(feature = "vulkan") {
        v.push("vulkan");
    }
    v
}

/// Value for `BURN_DEVICE`, so that the few burn internals that fall back to
/// `Device::default()` (optimizer-state loading) land on the backend we chose.
pub fn burn_device_env(spec: DeviceSpec) -> &'static str {
    match spec {
        DeviceSpec::Cpu => "flex",
        DeviceSpec::Cuda(_) => "cuda",
        DeviceSpec::Vulkan(_) => "vulkan",
    }
}

/// Builds the device (without autodiff). Errors when the backend is not compiled in.
fn build(spec: DeviceSpec) -> Result<Device, String> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        DeviceSpec::Cuda(n) => Ok(Device::cuda(n)),
        #[cfg(not(feature = "cuda"))]
        DeviceSpec::Cuda(_) => Err(format!(
            "device `{spec}` asked for, but this binary was built without CUDA: rebuild with `cargo build --release --features cuda` on the GPU server, or use `--device cpu` (compiled: {})",
            compiled_backends().join(", ")
        )),
        #[cfg(feature = "vulkan")]
        DeviceSpec::Vulkan(n) => Ok(Device::vulkan(DeviceKind::DiscreteGpu(n))),
        #[cfg(not(feature = "vulkan"))]
        DeviceSpec::Vulkan(_) => Err(format!(
            "device `{spec}` asked for, but this binary was built without Vulkan: rebuild with `--features vulkan`, or use `--device cpu` (compiled: {})",
            compiled_backends().join(", ")
        )),
    }
}

/// Builds the device and makes it answer a first small operation, so that a missing driver
/// or GPU is one clear error before any training starts (never a panic, never a fall-back).
pub fn open(spec: DeviceSpec) -> Result<Device, String> {
    let device = build(spec)?;
    if spec == DeviceSpec::Cpu {
        return Ok(device);
    }
    let probe = device.clone();
    let answer = std::panic::catch_unwind(move || {
        let t = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &probe);
        t.sum().into_scalar::<f32>()
    });
    match answer {
        Ok(v) if (v - 6.0).abs() < 1e-4 => Ok(device),
        Ok(v) => Err(format!(
            "device `{spec}` answered a test sum with {v} instead of 6: refusing to use it"
        )),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "no detail".into());
            let first = why.lines().next().unwrap_or("").to_string();
            Err(format!(
                "device `{spec}` did not answer a first operation ({first}); check the driver and `nvidia-smi`, or use `--device cpu`"
            ))
        }
    }
}
