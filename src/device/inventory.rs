//! What this binary can compute on, here: the CPU (threads, the SIMD level its kernels
//! chose), every wgpu / Vulkan adapter, every CUDA device — and for each backend that is
//! not compiled in or has no driver, why. `bloodshot devices` prints it; `train --device`,
//! `sweep --devices` and the console's forms accept only what it lists.

use serde::Serialize;

use super::cuda_driver::{self, CudaDevice};
use super::{Adapter, DeviceError, DeviceSpec, compiled_backends};
use crate::simd;

/// One backend: not compiled into this binary, compiled but unusable (no driver, no
/// adapter), or usable with what it found.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Backend<T> {
    /// Not in this build; `rebuild` says how to get it.
    NotCompiled {
        /// One sentence: the cargo command.
        rebuild: String,
    },
    /// Compiled in, but nothing to run on.
    Unavailable {
        /// One sentence: what is missing.
        reason: String,
    },
    /// Compiled in, with these devices.
    Available {
        /// The devices found.
        devices: T,
    },
}

/// The CPU backend (flex and our kernels).
#[derive(Debug, Clone, Serialize)]
pub struct CpuInfo {
    /// Threads the kernels use.
    pub threads: usize,
    /// The SIMD level the kernels use now.
    pub simd: String,
    /// Every level this CPU can run, lowest first.
    pub simd_supported: Vec<String>,
}

/// One wgpu adapter.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterEntry {
    /// What to pass to `--device`, e.g. `wgpu:cpu` or `vulkan:0`.
    pub device: String,
    /// The adapter's name.
    pub name: String,
    /// Discrete GPU, integrated GPU, virtual GPU or CPU.
    pub kind: String,
    /// Driver name and version.
    pub driver: String,
    /// Graphics API (Vulkan, Metal, DX12, GL).
    pub api: String,
}

/// CUDA devices with the driver's CUDA version.
#[derive(Debug, Clone, Serialize)]
pub struct CudaEntry {
    /// The CUDA version the driver supports.
    pub driver_cuda_version: String,
    /// The devices, `cuda:N` in order.
    pub devices: Vec<CudaDevice>,
}

/// Everything `bloodshot devices` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    /// Always there.
    pub cpu: CpuInfo,
    /// wgpu with WGSL shaders (feature `wgpu`).
    pub wgpu: Backend<Vec<AdapterEntry>>,
    /// wgpu with SPIR-V on Vulkan (feature `vulkan`).
    pub vulkan: Backend<Vec<AdapterEntry>>,
    /// burn-cuda (feature `cuda`).
    pub cuda: Backend<CudaEntry>,
}

impl Inventory {
    /// Looks at this machine (creates a graphics-API instance and loads the NVIDIA driver
    /// when their backends are compiled in; a fraction of a second).
    pub fn scan() -> Inventory {
        Inventory {
            cpu: CpuInfo {
                threads: rayon::current_num_threads(),
                simd: simd::level().name().into(),
                simd_supported: simd::supported().iter().map(|l| l.name().into()).collect(),
            },
            wgpu: graphics("wgpu", cfg!(feature = "wgpu")),
            vulkan: graphics("vulkan", cfg!(feature = "vulkan")),
            cuda: cuda(),
        }
    }

    /// Every `--device` value this machine can use now, CPU first; `wgpu` / `vulkan` (the
    /// best adapter) before their adapters by name.
    pub fn usable(&self) -> Vec<DeviceSpec> {
        let mut all = vec![DeviceSpec::Cpu];
        for (backend, best) in [
            (&self.wgpu, DeviceSpec::Wgpu(Adapter::Best)),
            (&self.vulkan, DeviceSpec::Vulkan(Adapter::Best)),
        ] {
            if let Backend::Available { devices } = backend {
                if !devices.is_empty() {
                    all.push(best);
                }
                for a in devices {
                    if let Ok(spec) = a.device.parse() {
                        all.push(spec);
                    }
                }
            }
        }
        if let Backend::Available { devices } = &self.cuda {
            all.extend(devices.devices.iter().map(|d| DeviceSpec::Cuda(d.index)));
        }
        all
    }

    /// `Ok` when `spec` is one of [`Inventory::usable`]; otherwise one sentence saying why
    /// not and what there is.
    pub fn check(&self, spec: DeviceSpec) -> Result<(), DeviceError> {
        let (backend_name, status): (&str, Status) = match spec {
            DeviceSpec::Cpu => return Ok(()),
            DeviceSpec::Cuda(_) => ("cuda", status(&self.cuda)),
            DeviceSpec::Wgpu(_) => ("wgpu", status(&self.wgpu)),
            DeviceSpec::Vulkan(_) => ("vulkan", status(&self.vulkan)),
        };
        let usable = self.usable();
        if usable.contains(&spec) {
            return Ok(());
        }
        let same: Vec<String> = usable
            .iter()
            .filter(|u| std::mem::discriminant(*u) == std::mem::discriminant(&spec))
            .map(|u| u.to_string())
            .collect();
        Err(match status {
            Status::NotCompiled(how) => DeviceError::NotCompiled { spec, how },
            Status::Unavailable(why) => DeviceError::Unusable { spec, why },
            Status::Available => DeviceError::NotListed {
                spec,
                backend: backend_name,
                listed: same.join(", "),
            },
        })
    }
}

enum Status {
    NotCompiled(String),
    Unavailable(String),
    Available,
}

fn status<T>(b: &Backend<T>) -> Status {
    match b {
        Backend::NotCompiled { rebuild } => Status::NotCompiled(rebuild.clone()),
        Backend::Unavailable { reason } => Status::Unavailable(reason.clone()),
        Backend::Available { .. } => Status::Available,
    }
}

/// The CUDA device `cuda:n`, if the driver lists it; otherwise why not.
pub fn cuda_device(n: usize) -> Result<CudaDevice, CudaLookupError> {
    let driver = cuda_driver::probe()?;
    let count = driver.devices.len();
    driver
        .devices
        .into_iter()
        .nth(n)
        .ok_or(CudaLookupError::NotListed { count })
}

/// Why `cuda:N` is not a device here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CudaLookupError {
    /// No driver, or it did not start.
    #[error(transparent)]
    Driver(#[from] cuda_driver::CudaProbeError),
    /// The driver lists fewer devices.
    #[error("{}", listed(*count))]
    NotListed {
        /// How many it lists.
        count: usize,
    },
}

/// What the driver lists, in words.
fn listed(count: usize) -> String {
    match count {
        0 => "the NVIDIA driver lists no CUDA device (`nvidia-smi` shows what it sees)".into(),
        1 => "the NVIDIA driver lists 1 CUDA device (cuda:0)".into(),
        n => format!(
            "the NVIDIA driver lists {n} CUDA devices (cuda:0 … cuda:{})",
            n - 1
        ),
    }
}

/// "this binary was built without `feature`: rebuild with …" — for `devices` and for
/// [`DeviceError::NotCompiled`].
pub(super) fn not_compiled(feature: &str) -> String {
    format!(
        "this binary was built without {feature}: rebuild with `cargo build --release --features {feature}`, or use `--device cpu` (compiled: {})",
        compiled_backends().join(", ")
    )
}

fn cuda() -> Backend<CudaEntry> {
    if !cfg!(feature = "cuda") {
        return Backend::NotCompiled {
            rebuild: format!(
                "{}; README \"CUDA on a server without internet\"",
                not_compiled("cuda")
            ),
        };
    }
    match cuda_driver::probe() {
        Err(e) => Backend::Unavailable {
            reason: e.to_string(),
        },
        Ok(d) if d.devices.is_empty() => Backend::Unavailable {
            reason: format!(
                "the NVIDIA driver (CUDA {}) lists no CUDA device",
                d.cuda_version
            ),
        },
        Ok(d) => Backend::Available {
            devices: CudaEntry {
                driver_cuda_version: d.cuda_version,
                devices: d.devices,
            },
        },
    }
}

#[cfg(any(feature = "vulkan", feature = "wgpu"))]
fn graphics(which: &str, compiled: bool) -> Backend<Vec<AdapterEntry>> {
    use burn::tensor::wgpu::wgpu::DeviceType;
    if !compiled {
        return Backend::NotCompiled {
            rebuild: not_compiled(which),
        };
    }
    let probe = match which {
        "vulkan" => DeviceSpec::Vulkan(Adapter::Best),
        _ => DeviceSpec::Wgpu(Adapter::Best),
    };
    let Some((_, adapters)) = super::adapters(probe) else {
        return Backend::Unavailable {
            reason: format!(
                "no {} adapter: install a GPU driver with Vulkan (or Mesa's lavapipe, `apt-get install mesa-vulkan-drivers`, to run on the CPU)",
                if which == "vulkan" { "Vulkan" } else { "wgpu" }
            ),
        };
    };
    let mut seen = std::collections::HashMap::<u8, usize>::new();
    let devices = adapters
        .iter()
        .filter_map(|a| {
            let (slot, kind, suffix) = match a.device_type {
                DeviceType::DiscreteGpu => (0, "discrete GPU", String::new()),
                DeviceType::IntegratedGpu => (1, "integrated GPU", "integrated:".into()),
                DeviceType::VirtualGpu => (2, "virtual GPU", "virtual:".into()),
                DeviceType::Cpu => (3, "CPU", String::new()),
                DeviceType::Other => return None,
            };
            let n = seen.entry(slot).or_insert(0);
            let device = if slot == 3 {
                // burn opens the first CPU adapter only.
                if *n > 0 {
                    return None;
                }
                format!("{which}:cpu")
            } else {
                format!("{which}:{suffix}{n}")
            };
            *n += 1;
            Some(AdapterEntry {
                device,
                name: a.name.clone(),
                kind: kind.into(),
                driver: format!("{} {}", a.driver, a.driver_info).trim().to_string(),
                api: format!("{:?}", a.backend),
            })
        })
        .collect();
    Backend::Available { devices }
}

#[cfg(not(any(feature = "vulkan", feature = "wgpu")))]
fn graphics(which: &str, _compiled: bool) -> Backend<Vec<AdapterEntry>> {
    Backend::NotCompiled {
        rebuild: not_compiled(which),
    }
}

/// `bloodshot devices` as text: one block per backend.
pub fn render(inv: &Inventory) -> String {
    let mut out = String::new();
    let c = &inv.cpu;
    out.push_str(&format!(
        "cpu      cpu · flex · {} threads · SIMD kernels: {} (this CPU runs {})\n",
        c.threads,
        c.simd,
        c.simd_supported.join(", ")
    ));
    for (name, backend) in [("wgpu", &inv.wgpu), ("vulkan", &inv.vulkan)] {
        match backend {
            Backend::Available { devices } => {
                for a in devices {
                    out.push_str(&format!(
                        "{name:<8} {} · {} · {} · {} · driver {}\n",
                        a.device, a.name, a.kind, a.api, a.driver
                    ));
                }
            }
            other => out.push_str(&format!("{name:<8} {}\n", unusable(other))),
        }
    }
    match &inv.cuda {
        Backend::Available { devices } => {
            for d in &devices.devices {
                out.push_str(&format!(
                    "cuda     cuda:{} · {} · {:.1} GiB · compute {}.{} · driver CUDA {}\n",
                    d.index,
                    d.name,
                    d.memory_bytes as f64 / (1u64 << 30) as f64,
                    d.compute_capability.0,
                    d.compute_capability.1,
                    devices.driver_cuda_version
                ));
            }
        }
        other => out.push_str(&format!("cuda     {}\n", unusable(other))),
    }
    out
}

fn unusable<T>(b: &Backend<T>) -> String {
    match b {
        Backend::NotCompiled { rebuild } => format!("not compiled in: {rebuild}"),
        Backend::Unavailable { reason } => format!("compiled in, unusable: {reason}"),
        Backend::Available { .. } => String::new(),
    }
}

/// `Ok` when every device of `specs` is listed on this machine (the CPU always is; nothing
/// is scanned for a CPU-only list); otherwise the first refusal's sentence.
pub fn require(specs: &[DeviceSpec]) -> Result<(), DeviceError> {
    if specs.iter().all(|s| !s.is_gpu()) {
        return Ok(());
    }
    let inv = Inventory::scan();
    specs.iter().try_for_each(|s| inv.check(*s))
}
