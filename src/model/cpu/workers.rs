//! Where CPU work runs (training steps, validation and recalibration passes, embedding
//! batches): on rayon's workers, with the other workers kept on their cores for the length
//! of the work.
//!
//! Every flex operation splits its loop across the workers and meets them again at its end;
//! a 64 px training step has hundreds of these meeting points. Rayon's worker waits at a
//! meeting point (and idles between operations) by calling `sched_yield` 33 times before it
//! sleeps. On a shared machine a yield hands the core to any other runnable process — even
//! one at `nice 19` — for a whole time slice, and the yielded worker, runnable but never
//! woken, gets its core back only at the scheduler's next tick: every operation then waits
//! for its slowest half. Measured beside one `nice -n 19` spinner (2 cores, alternated
//! builds, `docs/cpu-profile.md`), training lost 15–33 % where PyTorch, whose OpenMP
//! workers spin between operations, lost −12 to 12 %. So, while any such work runs:
//!
//! - on Linux, a `sched_yield` called on one of rayon's workers (its wait and idle loops)
//!   spins for [`SPIN_PER_YIELD`] instead of entering the kernel, so a worker stays on its
//!   core for about a third of a millisecond of waiting or idling, then rayon puts it to
//!   sleep (a long wait costs no core, and a futex wake-up preempts a `nice` process at
//!   once). The symbol is this crate's ([`sched_yield`]); every other thread, and every
//!   other moment, gets the kernel's.
//!
//! (Until 2026-12-01 every other worker also ran a helper job for the length of the step,
//! polling for work without ever sleeping. A worker that had taken part of the step's work
//! before its helper job could start its helper inside that work's wait and then never
//! returned to it: the step hung — seen with three workers on two cores, and possible with
//! two steps at once, e.g. the console's training and a k-shot embedding.)

use burn::prelude::Device;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Runs `work` on one of rayon's worker threads when `device` is the CPU backend (else right
/// here), the pool's workers spinning in their yields until it returns.
///
/// Called from a thread outside the pool, every flex operation would be handed to the pool
/// with the caller asleep until it is done — two cross-thread wake-ups per operation. On a
/// worker, an operation runs its first half itself while another worker takes the second.
/// Measured on a 64 px training step (2 cores, `cargo bench --bench throughput`, alternated
/// builds): softmax 51.8–53.8 → 54.5–60.2 img/s, aam 48.5–51.9 → 52.9–63.3 on a worker;
/// the spinning yield is in `docs/cpu-profile.md`.
pub fn on_workers<R: Send>(device: &Device, work: impl FnOnce() -> R + Send) -> R {
    if super::cpu(device) == super::Cpu::No {
        return work();
    }
    // Counted until the work ends, also when it panics.
    let _active = Active::start();
    rayon::scope(|_| work())
}

/// How many [`on_workers`] calls are running, on any thread.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// One running [`on_workers`] call, counted in [`ACTIVE`] until dropped.
struct Active;

impl Active {
    fn start() -> Self {
        ACTIVE.fetch_add(1, Ordering::AcqRel);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

thread_local! {
    /// Whether this thread's yields spin whether or not it is a pool worker in a step
    /// ([`as_step_worker`]); for tests.
    static SPINNING: Cell<bool> = const { Cell::new(false) };
    /// How many yields have spun on this thread (what the tests check).
    static SPUN: Cell<u64> = const { Cell::new(0) };
}

/// Marks this thread as a step's worker until dropped (then restores what it was).
struct Spinning(bool);

impl Drop for Spinning {
    fn drop(&mut self) {
        SPINNING.with(|s| s.set(self.0));
    }
}

/// Runs `f` with this thread's yields spinning as a pool worker's do while a step runs; for
/// tests.
#[doc(hidden)]
pub fn as_step_worker<R>(f: impl FnOnce() -> R) -> R {
    let _spin = Spinning(SPINNING.with(|s| s.replace(true)));
    f()
}

/// How many of this thread's yields have spun instead of entering the kernel; for tests.
#[doc(hidden)]
pub fn yields_spun() -> u64 {
    SPUN.with(Cell::get)
}

/// How long a yield on a pool worker spins while a step runs. Rayon yields 33 times before
/// it puts a worker to sleep, so a worker stays on its core for about 0.3 ms of waiting or
/// idling: the wait for an operation's other half, or the bookkeeping between two of a
/// training step's operations, not a long idle stretch. (GNU OpenMP's workers, PyTorch's,
/// spin for longer by default.)
pub const SPIN_PER_YIELD: Duration = Duration::from_micros(10);

/// Whether a yield on this thread spins: a rayon worker while an [`on_workers`] call runs
/// anywhere in the program, or a thread marked by [`as_step_worker`].
fn spins() -> bool {
    (ACTIVE.load(Ordering::Relaxed) > 0 && rayon::current_thread_index().is_some())
        || SPINNING.with(Cell::get)
}

/// glibc's `sched_yield`, replaced for the whole program: on a pool worker while a step
/// runs it spins for [`SPIN_PER_YIELD`] and returns (POSIX lets a yield return at once); on
/// every other thread it is the kernel's `sched_yield`. Defining the symbol here makes
/// every caller linked into the program (`std::thread::yield_now`, rayon) call this one.
#[cfg(target_os = "linux")]
#[unsafe(no_mangle)]
pub extern "C" fn sched_yield() -> libc::c_int {
    if spins() {
        SPUN.with(|n| n.set(n.get() + 1));
        let start = Instant::now();
        while start.elapsed() < SPIN_PER_YIELD {
            for _ in 0..16 {
                std::hint::spin_loop();
            }
        }
        0
    } else {
        // SAFETY: the raw system call takes no arguments and touches no memory of ours.
        unsafe { libc::syscall(libc::SYS_sched_yield) as libc::c_int }
    }
}
