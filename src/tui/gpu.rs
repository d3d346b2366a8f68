//! GPU utilisation and memory from NVML while a run trains on a GPU. NVML is loaded at run
//! time (`libnvidia-ml.so`), so the binary works without it and says why stats are missing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuStats {
    /// Device name.
    pub name: String,
    /// GPU utilisation, percent.
    pub util_percent: u32,
    /// Memory in use, bytes.
    pub mem_used: u64,
    /// Memory in all, bytes.
    pub mem_total: u64,
}

impl GpuStats {
    /// `NVIDIA H100 · 87 % · 21.3/79.6 GiB`.
    pub fn describe(&self) -> String {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        format!(
            "{} · {} % busy · {:.1}/{:.1} GiB",
            self.name,
            self.util_percent,
            gib(self.mem_used),
            gib(self.mem_total)
        )
    }
}

/// Polls GPU `index` every two seconds while `running` holds, handing each reading (or one
/// sentence saying why there is none) to `send`, which returns false once nobody listens.
pub fn poll(send: impl Fn(Result<GpuStats, String>) -> bool, index: u32, running: Arc<AtomicBool>) {
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(e) => {
            send(Err(format!(
                "GPU stats unavailable: NVML could not load ({e})"
            )));
            return;
        }
    };
    while running.load(Ordering::SeqCst) {
        let reading = nvml.device_by_index(index).and_then(|d| {
            let u = d.utilization_rates()?;
            let m = d.memory_info()?;
            Ok(GpuStats {
                name: d.name()?,
                util_percent: u.gpu,
                mem_used: m.used,
                mem_total: m.total,
            })
        });
        let msg = reading.map_err(|e| format!("GPU stats unavailable for GPU {index}: {e}"));
        let failed = msg.is_err();
        if !send(msg) || failed {
            return;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}
