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
        let cpu = device.clone().without_autodiff() == burn::prelude::Device::flex();
        cpu.then(Hold::new)
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

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod sys {
    /// glibc's defaults (`mallopt(3)`).
    const MMAP_MAX_DEFAULT: libc::c_int = 65_536;
    const TRIM_THRESHOLD_DEFAULT: libc::c_int = 128 * 1024;

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
    pub fn one_arena() {}
    pub fn keep() {}
    pub fn release() {}
}
