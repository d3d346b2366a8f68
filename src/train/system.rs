//! System history of a training run: the process's CPU use and resident memory, and the
//! GPU's utilisation and memory when the run trains on an NVIDIA GPU and NVML loads, sampled
//! every two seconds from the first one and appended to `system.jsonl` in the run folder —
//! so a run watched from another console, or exported later, has them too.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Seconds between samples.
pub const INTERVAL_SECONDS: f64 = 2.0;

/// One sample of `system.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemSample {
    /// Seconds since the sampler started (the run's start in this process).
    pub t: f64,
    /// CPU time of the process over the last interval, percent of one core.
    pub cpu_percent: f64,
    /// Resident memory of the process, MB.
    pub rss_mb: f64,
    /// GPU utilisation, percent (an NVIDIA run with NVML only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_percent: Option<u32>,
    /// GPU memory in use, MB (an NVIDIA run with NVML only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_mem_mb: Option<f64>,
}

/// CPU seconds (user + system) the process has used, from `/proc/self/stat`.
#[cfg(unix)]
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks / per_second as f64)
}

#[cfg(not(unix))]
fn cpu_seconds() -> Option<f64> {
    None
}

/// Resident memory of the process in MB, from `/proc/self/status`.
fn rss_mb() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = text
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Reads of one NVIDIA GPU through NVML, loaded at run time.
#[cfg(feature = "nvml")]
struct Gpu {
    nvml: nvml_wrapper::Nvml,
    index: u32,
}

#[cfg(feature = "nvml")]
impl Gpu {
    fn open(index: Option<u32>) -> Option<Gpu> {
        Some(Gpu {
            nvml: nvml_wrapper::Nvml::init().ok()?,
            index: index?,
        })
    }

    fn read(&self) -> (Option<u32>, Option<f64>) {
        let Ok(d) = self.nvml.device_by_index(self.index) else {
            return (None, None);
        };
        (
            d.utilization_rates().ok().map(|u| u.gpu),
            d.memory_info()
                .ok()
                .map(|m| m.used as f64 / (1u64 << 20) as f64),
        )
    }
}

#[cfg(not(feature = "nvml"))]
struct Gpu;

#[cfg(not(feature = "nvml"))]
impl Gpu {
    fn open(_index: Option<u32>) -> Option<Gpu> {
        None
    }

    fn read(&self) -> (Option<u32>, Option<f64>) {
        (None, None)
    }
}

/// Samples until dropped; the last sample is taken as it stops.
#[must_use = "sampling stops when this is dropped"]
pub struct Sampler {
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling into `path` (appending); `gpu` is the CUDA device index of the run,
    /// if it trains on one. A file that cannot be written ends the sampling silently: the
    /// history is a convenience, never a reason for a run to fail.
    pub fn start(path: PathBuf, gpu: Option<u32>) -> Sampler {
        let running = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&running);
        let thread = std::thread::Builder::new()
            .name("system-history".into())
            .spawn(move || sample(path, gpu, &flag))
            .ok();
        Sampler { running, thread }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn sample(path: PathBuf, gpu: Option<u32>, running: &AtomicBool) {
    let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let gpu = Gpu::open(gpu);
    let start = Instant::now();
    let (mut last_t, mut last_cpu) = (0.0, cpu_seconds().unwrap_or(0.0));
    loop {
        // The first sample after half a second, then one per interval; a stop wakes it.
        if running.load(Ordering::SeqCst) {
            let wait = if last_t == 0.0 { 0.5 } else { INTERVAL_SECONDS };
            std::thread::park_timeout(Duration::from_secs_f64(wait));
        }
        let stopping = !running.load(Ordering::SeqCst);
        let t = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds().unwrap_or(last_cpu);
        let cpu_percent = if t > last_t {
            100.0 * (cpu - last_cpu) / (t - last_t)
        } else {
            0.0
        };
        (last_t, last_cpu) = (t, cpu);
        let (gpu_percent, gpu_mem_mb) = gpu.as_ref().map_or((None, None), Gpu::read);
        let s = SystemSample {
            t,
            cpu_percent,
            rss_mb: rss_mb().unwrap_or(0.0),
            gpu_percent,
            gpu_mem_mb,
        };
        let written = serde_json::to_string(&s)
            .map_err(std::io::Error::other)
            .and_then(|line| writeln!(file, "{line}"));
        if written.is_err() || stopping {
            return;
        }
    }
}

/// The samples of a run's `system.jsonl` (a torn last line is skipped).
pub fn read_history(path: &std::path::Path) -> Vec<SystemSample> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}
