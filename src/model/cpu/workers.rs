//! Where CPU work runs (training steps, validation and recalibration passes, embedding
//! batches): on rayon's workers, with the other workers kept on their cores for the length
//! of the work.
//!
//! Every flex operation splits its loop across the workers and meets them again at its end;
//! a 64 px training step has hundreds of these meeting points. Rayon's worker waits at a
//! meeting point (and idles between operations) by calling `sched_yield` 32 times before it
//! sleeps. On a shared machine a yield hands the core to any other runnable process — even
//! one at `nice 19` — for a whole time slice, and the yielded worker, runnable but never
//! woken, gets its core back only at the scheduler's next tick: every operation then waits
//! for its slowest half. Measured beside one `nice -n 19` spinner (2 cores, alternated
//! builds, `docs/cpu-profile.md`), training lost 15–33 % where PyTorch, whose OpenMP
//! workers spin between operations, lost −12 to 12 %. So, for the length of a step:
//!
//! - every other worker runs [`help_until`], which takes pool work the moment there is some
//!   and never gives up its core;
//! - on Linux, a `sched_yield` called on one of the step's workers (rayon's wait loop)
//!   spins for a moment instead of entering the kernel, and rayon still puts the thread to
//!   sleep after its 32 rounds, so a long wait costs no core. The symbol is this crate's
//!   ([`sched_yield`]); every other thread, and every other moment, gets the kernel's.

use burn::prelude::Device;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `work` on one of rayon's worker threads when `device` is the CPU backend (else right
/// here), the other workers polling for its operations' halves until it returns.
///
/// Called from a thread outside the pool, every flex operation would be handed to the pool
/// with the caller asleep until it is done — two cross-thread wake-ups per operation. On a
/// worker, an operation runs its first half itself while another worker takes the second.
/// Measured on a 64 px training step (2 cores, `cargo bench --bench throughput`, alternated
/// builds): softmax 51.8–53.8 → 54.5–60.2 img/s, aam 48.5–51.9 → 52.9–63.3 on a worker;
/// the helpers and the spinning yield are in `docs/cpu-profile.md`.
pub fn on_workers<R: Send>(device: &Device, work: impl FnOnce() -> R + Send) -> R {
    if super::cpu(device) == super::Cpu::No {
        return work();
    }
    let done = &AtomicBool::new(false);
    rayon::scope(|s| {
        let owner = rayon::current_thread_index();
        s.spawn_broadcast(move |_, ctx| {
            // The owner would wait here for its own `work` to end: it must not help.
            if Some(ctx.index()) != owner {
                help_until(done);
            }
        });
        // Set even when `work` panics: the scope waits for every helper, which must end.
        let _done = SetOnDrop(done);
        let _spin = Spinning::here();
        work()
    })
}

/// Runs the pool's pending jobs on this worker, polling without giving up the core, until
/// `done` is set.
fn help_until(done: &AtomicBool) {
    let _spin = Spinning::here();
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::hint::spin_loop();
        }
    }
}

struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

thread_local! {
    /// Whether this thread is one of a step's workers (its yields spin).
    static SPINNING: Cell<bool> = const { Cell::new(false) };
    /// How many yields have spun on this thread (what the tests check).
    static SPUN: Cell<u64> = const { Cell::new(0) };
}

/// Marks this thread as a step's worker until dropped (then restores what it was, so that
/// nested steps end right).
struct Spinning(bool);

impl Spinning {
    fn here() -> Self {
        Spinning(SPINNING.with(|s| s.replace(true)))
    }
}

impl Drop for Spinning {
    fn drop(&mut self) {
        SPINNING.with(|s| s.set(self.0));
    }
}

/// Runs `f` as a step's worker would (yields spin); for tests.
#[doc(hidden)]
pub fn as_step_worker<R>(f: impl FnOnce() -> R) -> R {
    let _spin = Spinning::here();
    f()
}

/// How many of this thread's yields have spun instead of entering the kernel; for tests.
#[doc(hidden)]
pub fn yields_spun() -> u64 {
    SPUN.with(Cell::get)
}

/// `spin_loop` hints per yield on a step's worker: about a microsecond here (PAUSE is ~65
/// cycles on Zen), so rayon's 33 rounds before it sleeps spin ~50 µs — the wait for an
/// operation's other half, not a long idle stretch.
const SPINS_PER_YIELD: u32 = 64;

/// glibc's `sched_yield`, replaced for the whole program: on a training step's worker it
/// spins [`SPINS_PER_YIELD`] times and returns (POSIX lets a yield return at once); on every
/// other thread it is the kernel's `sched_yield`. Defining the symbol here makes every
/// caller linked into the program (`std::thread::yield_now`, rayon) call this one.
#[cfg(target_os = "linux")]
#[unsafe(no_mangle)]
pub extern "C" fn sched_yield() -> libc::c_int {
    if SPINNING.with(Cell::get) {
        SPUN.with(|n| n.set(n.get() + 1));
        for _ in 0..SPINS_PER_YIELD {
            std::hint::spin_loop();
        }
        0
    } else {
        // SAFETY: the raw system call takes no arguments and touches no memory of ours.
        unsafe { libc::syscall(libc::SYS_sched_yield) as libc::c_int }
    }
}
