//! Choosing the compute device explicitly: `cpu` (flex), `cuda[:N]`, `vulkan[…]` (SPIR-V)
//! and `wgpu[…]` (WGSL), where `…` picks the adapter: nothing (the best), `:N` (discrete GPU
//! N), `:integrated:N`, `:virtual:N` or `:cpu` (e.g. Mesa's lavapipe).
//!
//! `Device::default()` would silently pick whatever GPU backend is compiled in; we never
//! call it. A GPU is used only when asked for, and only after it answered a first operation.

pub mod cuda_driver;
mod error;
pub mod inventory;

pub use error::DeviceError;

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;

/// Which wgpu adapter of a graphics API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// The best one wgpu finds (high-power GPUs first).
    Best,
    /// The Nth discrete GPU.
    Discrete(usize),
    /// The Nth integrated GPU.
    Integrated(usize),
    /// The Nth virtual GPU (a VM's or a container's).
    Virtual(usize),
    /// A CPU implementation (e.g. Mesa's lavapipe / llvmpipe).
    Cpu,
}

impl Adapter {
    fn suffix(self) -> String {
        match self {
            Adapter::Best => String::new(),
            Adapter::Discrete(n) => format!(":{n}"),
            Adapter::Integrated(n) => format!(":integrated:{n}"),
            Adapter::Virtual(n) => format!(":virtual:{n}"),
            Adapter::Cpu => ":cpu".into(),
        }
    }

    #[cfg(any(feature = "vulkan", feature = "wgpu"))]
    fn kind(self) -> DeviceKind {
        match self {
            Adapter::Best => DeviceKind::DefaultDevice,
            Adapter::Discrete(n) => DeviceKind::DiscreteGpu(n),
            Adapter::Integrated(n) => DeviceKind::IntegratedGpu(n),
            Adapter::Virtual(n) => DeviceKind::VirtualGpu(n),
            Adapter::Cpu => DeviceKind::Cpu,
        }
    }

    /// Parses what follows `vulkan` / `wgpu`: nothing, `:N`, `:discrete[:N]`,
    /// `:integrated[:N]`, `:virtual[:N]` or `:cpu`.
    fn parse(rest: &[&str], whole: &str) -> Result<Adapter, DeviceParseError> {
        let index = |s: Option<&&str>| parse_index(s, whole);
        match rest {
            [] => Ok(Adapter::Best),
            ["best"] | ["default"] => Ok(Adapter::Best),
            ["cpu"] => Ok(Adapter::Cpu),
            ["discrete", tail @ ..] if tail.len() <= 1 => {
                Ok(Adapter::Discrete(index(tail.first())?))
            }
            ["integrated", tail @ ..] if tail.len() <= 1 => {
                Ok(Adapter::Integrated(index(tail.first())?))
            }
            ["virtual", tail @ ..] if tail.len() <= 1 => Ok(Adapter::Virtual(index(tail.first())?)),
            [n] => Ok(Adapter::Discrete(index(Some(n))?)),
            _ => Err(DeviceParseError::UnknownAdapter(whole.to_string())),
        }
    }
}

/// What the user asked for with `--device`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The pure-Rust flex CPU backend.
    #[default]
    Cpu,
    /// CUDA device N (needs the `cuda` feature).
    Cuda(usize),
    /// A Vulkan adapter through wgpu with SPIR-V shaders (needs the `vulkan` feature).
    Vulkan(Adapter),
    /// A wgpu adapter with WGSL shaders on any graphics API (needs the `wgpu` feature).
    Wgpu(Adapter),
}

impl DeviceSpec {
    /// Whether this is a GPU backend (anything but the flex CPU backend).
    pub fn is_gpu(self) -> bool {
        self != DeviceSpec::Cpu
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Vulkan(a) => write!(f, "vulkan{}", a.suffix()),
            DeviceSpec::Wgpu(a) => write!(f, "wgpu{}", a.suffix()),
        }
    }
}

/// A `--device` value that names no device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceParseError {
    /// An index that is not a number.
    #[error("device index `{index}` in `{whole}` is not a non-negative integer")]
    BadIndex {
        /// The index as typed.
        index: String,
        /// The whole value.
        whole: String,
    },
    /// A wgpu / Vulkan adapter that is none of the forms.
    #[error(
        "unknown adapter in `{0}`: use NAME, NAME:N (discrete GPU N), NAME:integrated:N, NAME:virtual:N or NAME:cpu"
    )]
    UnknownAdapter(String),
    /// No backend of that name.
    #[error(
        "unknown device `{0}`: use cpu, cuda[:N], vulkan[:N|:integrated:N|:virtual:N|:cpu] or wgpu[:…]"
    )]
    UnknownDevice(String),
}

/// An optional `:N` of a device value (`0` when absent).
fn parse_index(i: Option<&&str>, whole: &str) -> Result<usize, DeviceParseError> {
    match i {
        None => Ok(0),
        Some(i) => i.parse::<usize>().map_err(|_| DeviceParseError::BadIndex {
            index: i.to_string(),
            whole: whole.to_string(),
        }),
    }
}

impl FromStr for DeviceSpec {
    type Err = DeviceParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let parts: Vec<&str> = s.split(':').collect();
        let index = |i: Option<&&str>| parse_index(i, &s);
        match parts.as_slice() {
            ["cpu"] | ["flex"] => Ok(DeviceSpec::Cpu),
            ["cuda" | "gpu", rest @ ..] if rest.len() <= 1 => {
                Ok(DeviceSpec::Cuda(index(rest.first())?))
            }
            ["vulkan", rest @ ..] => Ok(DeviceSpec::Vulkan(Adapter::parse(rest, &s)?)),
            ["wgpu", rest @ ..] => Ok(DeviceSpec::Wgpu(Adapter::parse(rest, &s)?)),
            _ => Err(DeviceParseError::UnknownDevice(s.clone())),
        }
    }
}

/// Stored as its command-line text; the older `{"Vulkan": N}` / `{"Cuda": N}` / `"Cpu"` forms
/// of earlier runs' `config.json` still read.
impl serde::Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for DeviceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        enum Old {
            Cpu,
            Cuda(usize),
            Vulkan(usize),
        }
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Old(Old),
        }
        match Repr::deserialize(d)? {
            Repr::Text(t) if t == "Cpu" => Ok(DeviceSpec::Cpu),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
            Repr::Old(Old::Cpu) => Ok(DeviceSpec::Cpu),
            Repr::Old(Old::Cuda(n)) => Ok(DeviceSpec::Cuda(n)),
            Repr::Old(Old::Vulkan(n)) => Ok(DeviceSpec::Vulkan(Adapter::Discrete(n))),
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
    if cfg!(feature = "wgpu") {
        v.push("wgpu");
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
        DeviceSpec::Wgpu(_) => "wgpu",
    }
}

/// Where a burn device computes, for the code that takes its own path on the CPU (our
/// kernels, the embedding batch size, the allocator hold). Decided here once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compute {
    /// flex (the CPU) under autodiff: training.
    CpuTraining,
    /// flex without autodiff: inference.
    CpuInference,
    /// Any other backend (a GPU, or Mesa's lavapipe through wgpu).
    Other,
}

impl Compute {
    /// True for flex, with or without autodiff.
    pub fn is_cpu(self) -> bool {
        self != Compute::Other
    }
}

/// Where `device` computes.
pub fn compute(device: &Device) -> Compute {
    if device.is_autodiff() {
        if device.clone().without_autodiff() == Device::flex() {
            return Compute::CpuTraining;
        }
    } else if *device == Device::flex() {
        return Compute::CpuInference;
    }
    Compute::Other
}

/// Builds the device (without autodiff). Errors when the backend is not compiled in.
fn build(spec: DeviceSpec) -> Result<Device, DeviceError> {
    let not_compiled = |feature: &str| {
        Err(DeviceError::NotCompiled {
            spec,
            how: inventory::not_compiled(feature),
        })
    };
    match spec {
        DeviceSpec::Cpu => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        DeviceSpec::Cuda(n) => Ok(Device::cuda(n)),
        #[cfg(not(feature = "cuda"))]
        DeviceSpec::Cuda(_) => not_compiled("cuda"),
        #[cfg(feature = "vulkan")]
        DeviceSpec::Vulkan(a) => Ok(Device::vulkan(a.kind())),
        #[cfg(not(feature = "vulkan"))]
        DeviceSpec::Vulkan(_) => not_compiled("vulkan"),
        #[cfg(feature = "wgpu")]
        DeviceSpec::Wgpu(a) => Ok(Device::wgpu(a.kind())),
        #[cfg(not(feature = "wgpu"))]
        DeviceSpec::Wgpu(_) => not_compiled("wgpu"),
    }
}

/// One line naming the hardware behind `spec`: for a wgpu / Vulkan device the adapter wgpu
/// selects for it (name, driver, type, graphics API), found the way burn's runtime selects it.
/// Call it before [`open`]: it creates (and drops) a graphics-API instance of its own.
pub fn describe(spec: DeviceSpec) -> String {
    match spec {
        DeviceSpec::Cpu => format!(
            "cpu (flex, {} threads)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ),
        DeviceSpec::Cuda(n) => match cuda_driver::probe() {
            Ok(d) => match d.devices.get(n) {
                Some(g) => format!(
                    "{spec}: {} · {:.1} GiB · compute {}.{} · CUDA {} driver",
                    g.name,
                    g.memory_bytes as f64 / (1u64 << 30) as f64,
                    g.compute_capability.0,
                    g.compute_capability.1,
                    d.cuda_version
                ),
                None => format!("{spec}: no such device"),
            },
            Err(_) => spec.to_string(),
        },
        #[cfg(any(feature = "vulkan", feature = "wgpu"))]
        DeviceSpec::Vulkan(a) | DeviceSpec::Wgpu(a) => match adapter_info(spec, a) {
            Some(info) => format!(
                "{spec}: {} · driver {} {} · {:?} · {:?}",
                info.name, info.driver, info.driver_info, info.device_type, info.backend
            ),
            None => format!("{spec}: no such adapter"),
        },
        #[cfg(not(any(feature = "vulkan", feature = "wgpu")))]
        DeviceSpec::Vulkan(_) | DeviceSpec::Wgpu(_) => spec.to_string(),
    }
}

/// The adapters wgpu sees for `spec`'s backend: those of the first graphics API that has any
/// (wgpu settles on Vulkan wherever Vulkan has an adapter, else the next API), with the
/// instance that found them.
#[cfg(any(feature = "vulkan", feature = "wgpu"))]
pub(crate) fn adapters(
    spec: DeviceSpec,
) -> Option<(
    burn::tensor::wgpu::wgpu::Instance,
    Vec<burn::tensor::wgpu::wgpu::AdapterInfo>,
)> {
    use burn::tensor::wgpu::wgpu;
    let candidates: Vec<wgpu::Backends> = match spec {
        DeviceSpec::Vulkan(_) => vec![wgpu::Backends::VULKAN],
        _ => vec![
            wgpu::Backends::VULKAN,
            wgpu::Backends::METAL,
            wgpu::Backends::DX12,
            wgpu::Backends::GL,
        ],
    };
    for backends in candidates {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapters: Vec<wgpu::AdapterInfo> =
            futures_lite::future::block_on(instance.enumerate_adapters(backends))
                .iter()
                .map(wgpu::Adapter::get_info)
                .collect();
        if !adapters.is_empty() {
            return Some((instance, adapters));
        }
    }
    None
}

#[cfg(any(feature = "vulkan", feature = "wgpu"))]
fn adapter_info(
    spec: DeviceSpec,
    adapter: Adapter,
) -> Option<burn::tensor::wgpu::wgpu::AdapterInfo> {
    use burn::tensor::wgpu::wgpu;
    let (instance, adapters) = adapters(spec)?;
    let of_type = |t: wgpu::DeviceType, n: usize| {
        adapters
            .iter()
            .filter(|a| a.device_type == t)
            .nth(n)
            .cloned()
    };
    match adapter {
        Adapter::Best => {
            futures_lite::future::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                ..Default::default()
            }))
            .ok()
            .map(|a| a.get_info())
        }
        Adapter::Discrete(n) => of_type(wgpu::DeviceType::DiscreteGpu, n),
        Adapter::Integrated(n) => of_type(wgpu::DeviceType::IntegratedGpu, n),
        Adapter::Virtual(n) => of_type(wgpu::DeviceType::VirtualGpu, n),
        Adapter::Cpu => of_type(wgpu::DeviceType::Cpu, 0),
    }
}

/// Builds the device and makes it answer a first small operation, so that a missing driver
/// or GPU is one clear error before any training starts (never a panic, never a fall-back).
pub fn open(spec: DeviceSpec) -> Result<Device, DeviceError> {
    let device = build(spec)?;
    if spec == DeviceSpec::Cpu {
        return Ok(device);
    }
    // burn-cuda starts its runtime on a thread of its own, which panics without a driver; the
    // driver's own answer is the sentence to give.
    if let DeviceSpec::Cuda(n) = spec {
        inventory::cuda_device(n).map_err(|e| DeviceError::Unusable {
            spec,
            why: e.to_string(),
        })?;
    }
    let probe = device.clone();
    // A backend that cannot start panics inside burn: keep its message for our sentence, but
    // do not let the default hook print it (and a backtrace) first.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let answer = std::panic::catch_unwind(move || {
        let t = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &probe);
        t.sum().into_scalar::<f32>()
    });
    std::panic::set_hook(previous);
    match answer {
        Ok(v) if (v - 6.0).abs() < 1e-4 => Ok(device),
        Ok(value) => Err(DeviceError::WrongAnswer { spec, value }),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "no detail".into());
            let first = why.lines().next().unwrap_or("");
            // A runtime thread that died leaves only Rust's unwrap text behind: not a reason.
            let first = if first.contains("called `Result::unwrap()`")
                || first.contains("called `Option::unwrap()`")
            {
                "its runtime stopped without an answer"
            } else {
                first
            };
            Err(DeviceError::NoAnswer {
                spec,
                why: first.to_string(),
            })
        }
    }
}
