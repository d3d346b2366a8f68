//! The C allocator's policy while the CPU backend computes.
//!
//! burn's flex backend allocates a new buffer for nearly every operation's result (12 MB
//! per activation at 64 px and batch 32, 150 MB at 224 px) and frees it soon after. glibc's
//! `malloc` serves blocks that large with fresh `mmap`s, returns them with `munmap` and
//! trims its heap after frees, so every operation pays first-touch page faults and the
//! kernel's page zeroing again: a quarter of embedding time went to the kernel
//! (`docs/cpu-profile.md`).
//!
//! - [`init`], at the start of the program: one malloc arena for all threads
//!   (`M_ARENA_MAX = 1`). glibc's per-thread arenas cannot hold blocks over 64 MB and map
//!   those on their own, whatever the policy below; the training and embedding threads of
//!   the console and rayon's workers would keep doing so.
//! - While a [`Hold`] lives (training or embedding on the CPU): large blocks come from the
//!   heap too and freed memory stays there for the next operation (`M_MMAP_MAX = 0`,
//!   `M_TRIM_THRESHOLD` unbounded). The heap reuses freed memory for any size, so the
//!   peak footprint is the same as without (measured: 3.1 GB against 3.0–3.1 GB).
//! - When the last hold ends, glibc's usual policy returns and `malloc_trim` gives the free
//!   memory back, so a console that trained on the CPU does not keep the training's peak.
//!
//! Measured with `cargo bench --bench throughput` at 224 px on 2 cores, against
//! `BENCH_NO_HOLD=1`: see `docs/cpu-profile.md`. Only glibc has these switches; elsewhere
//! both do nothing.

use std::sync::Mutex;

/// Holds that are alive (the policy changes on the first and back on the last).
static HOLDS: Mutex<usize> = Mutex::new(0);

/// One malloc arena for every thread; call before starting threads.
pub fn init() {
    sys::one_arena();
}

/// Freed memory stays in the process while this lives (see the module documentation).
#[must_use = "the policy lasts as long as the hold"]
pub struct Hold(());

impl Hold {
    /// A hold when `device` is the CPU backend (GPU backends keep their own memory pools
    /// and leave the host allocator as it is), else `None`.
    pub fn for_device(device: &burn::prelude::Device) -> Option<Hold> {
        crate::device::compute(device).is_cpu().then(Hold::new)
    }

    /// A hold, whatever the device.
    pub fn new() -> Hold {
        let mut holds = HOLDS.lock().unwrap_or_else(|e| e.into_inner());
        if *holds == 0 {
            sys::keep();
        }
        *holds += 1;
        Hold(())
    }
}

impl Default for Hold {
    fn default() -> Self {
        Hold::new()
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut holds = HOLDS.lock().unwrap_or_else(|e| e.into_inner());
        *holds = holds.saturating_sub(1);
        if *holds == 0 {
            sys::release();
        }
    }
}

/// Number of holds alive now.
pub fn holds() -> usize {
    *HOLDS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Asks the kernel to back `values` with 2 MB pages where whole ones fit (Linux's
/// transparent huge pages in `madvise` mode; a hint, nothing changes elsewhere or when it is
/// refused): for large tables read at scattered places, such as the k-shot Gram matrices,
/// each 4 kB page would otherwise cost its own TLB miss.
pub fn huge_pages<T>(values: &mut [T]) {
    sys::huge_pages(values.as_mut_ptr().cast(), std::mem::size_of_val(values));
}

/// Peak resident memory of one phase of the work (training steps, batch-norm
/// recalibration, validation, base test, embedding), for `scripts/memory.sh`: with
/// `BLOODSHOT_MEMORY_PHASES=1`, the kernel's peak (`VmHWM`) is reset when the phase starts
/// (`/proc/self/clear_refs`) and printed to stderr when it ends, as
/// `memory phase NAME: peak X MB (resident at start Y MB)`. Otherwise, and off Linux, it
/// does nothing.
#[must_use = "the phase ends when this is dropped"]
pub struct Phase {
    name: &'static str,
    start_kb: Option<u64>,
}

impl Phase {
    /// Starts measuring `name`.
    pub fn start(name: &'static str) -> Phase {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let on = *ON.get_or_init(|| std::env::var_os("BLOODSHOT_MEMORY_PHASES").is_some());
        let start_kb = on
            .then(|| {
                std::fs::write("/proc/self/clear_refs", "5").ok()?;
                status_kb("VmRSS")
            })
            .flatten();
        Phase { name, start_kb }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let (Some(start), Some(peak)) = (self.start_kb, status_kb("VmHWM")) {
            eprintln!(
                "memory phase {}: peak {} MB (resident at start {} MB)",
                self.name,
                peak / 1024,
                start / 1024
            );
        }
    }
}

/// A `kB` field of `/proc/self/status`.
fn status_kb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod sys {
    /// glibc's defaults (`mallopt(3)`).
    const MMAP_MAX_DEFAULT: libc::c_int = 65_536;
    const TRIM_THRESHOLD_DEFAULT: libc::c_int = 128 * 1024;

    pub fn huge_pages(start: *mut u8, len: usize) {
        const HUGE: usize = 2 << 20;
        let first = (start as usize).next_multiple_of(HUGE);
        let end = (start as usize + len) / HUGE * HUGE;
        if end > first {
            // SAFETY: the range lies inside the caller's live allocation; MADV_HUGEPAGE only
            // changes how the kernel backs those pages, never their contents.
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
        }
    }

    pub fn one_arena() {
        // SAFETY: mallopt only changes malloc's tunables; 1 is a valid arena count.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    }

    pub fn keep() {
        // SAFETY: as above; any value is valid for these two.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        }
    }

    pub fn release() {
        // SAFETY: as above; malloc_trim only returns free memory to the system.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, MMAP_MAX_DEFAULT);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_DEFAULT);
            libc::malloc_trim(0);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod sys {
    pub fn huge_pages(_: *mut u8, _: usize) {}
    pub fn one_arena() {}
    pub fn keep() {}
    pub fn release() {}
}
