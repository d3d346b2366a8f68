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
//!   sleep. The symbol is this crate's ([`sched_yield`]); every other thread, and every
//!   other moment, gets the kernel's.
//! - on Linux with glibc (x86-64, AArch64), rayon's sleep itself — a futex wait on a
//!   condition variable — first watches the futex word on the worker's core for
//!   [`SPIN_BEFORE_SLEEP`] (2 ms), the way GNU OpenMP's workers (PyTorch's) spin before they
//!   block: rayon wakes a worker by changing that word, so a worker idle for a few
//!   milliseconds between two operations sees its next work at once, from its own core,
//!   instead of waking in the kernel and waiting for the process that took its core
//!   meanwhile (a `nice 19` process that has just been given a core keeps it for its
//!   minimum slice). Only a wait of more than about 2.3 ms gives the core up. The symbol is
//!   glibc's `syscall` ([`syscall`]), through which Rust's standard library makes its futex
//!   waits; every other call, thread and moment gets the kernel's system call unchanged.
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
    /// How many futex waits on this thread ended by seeing their word change while spinning
    /// (what the tests check).
    static WAITS_SPUN: Cell<u64> = const { Cell::new(0) };
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

/// How many of this thread's futex waits ended on its core, the word seen changing while it
/// spun, instead of in the kernel; for tests.
#[doc(hidden)]
pub fn waits_spun() -> u64 {
    WAITS_SPUN.with(Cell::get)
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

/// How long a pool worker, while a step runs, watches the word of a futex wait (rayon putting
/// it to sleep after its yields, or a contended lock) on its own core before it asks the
/// kernel to sleep. Rayon wakes a sleeping worker — new work, or the job it waits for done —
/// by changing that word before it calls the kernel, so the watching worker sees it at once,
/// without a wake-up that must wait for whatever took its core meanwhile.
pub const SPIN_BEFORE_SLEEP: Duration = Duration::from_millis(2);

/// glibc's `syscall`, replaced for the whole program (Rust's standard library waits on its
/// mutexes and condition variables — rayon's sleep among them — through `syscall(SYS_futex,
/// …)`). A futex wait with no time limit, on a thread whose yields spin ([`spins`]), first
/// watches the futex word for [`SPIN_BEFORE_SLEEP`] and returns 0 as soon as it differs from
/// the expected value (a wake-up, which a futex wait may always report); every other call,
/// and a wait whose word has not changed by then, is the kernel's system call with the same
/// arguments, its error in `errno` as glibc's wrapper leaves it.
///
/// # Safety
/// As glibc's `syscall`: the arguments must be what system call `n` expects (for a futex
/// wait, the address of a live, aligned 32-bit word). The definition takes six arguments
/// after the number, which on these targets is how a variadic caller passes them.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(
    n: libc::c_long,
    a1: libc::c_long,
    a2: libc::c_long,
    a3: libc::c_long,
    a4: libc::c_long,
    a5: libc::c_long,
    a6: libc::c_long,
) -> libc::c_long {
    if n == libc::SYS_futex && waits_without_limit(a2, a4) && spins() {
        // SAFETY: the caller passes a futex word (this function's contract), which the
        // kernel would read too; only atomic loads touch it.
        let word = unsafe { &*(a1 as usize as *const std::sync::atomic::AtomicU32) };
        if word_changes(word, a3 as u32, SPIN_BEFORE_SLEEP) {
            WAITS_SPUN.with(|n| n.set(n.get() + 1));
            return 0;
        }
    }
    // SAFETY: the same call the caller asked for (this function's contract).
    unsafe { raw_syscall(n, a1, a2, a3, a4, a5, a6) }
}

/// Whether futex operation `op` with timeout pointer `timeout` is a wait (plain or with a
/// bit set) without a time limit.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn waits_without_limit(op: libc::c_long, timeout: libc::c_long) -> bool {
    let cmd = op as libc::c_int & libc::FUTEX_CMD_MASK;
    (cmd == libc::FUTEX_WAIT || cmd == libc::FUTEX_WAIT_BITSET) && timeout == 0
}

/// Watches `word` for up to `limit`: whether it came to differ from `expected`. A word that
/// already differs returns false, leaving the kernel to answer as it does (`EAGAIN`).
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn word_changes(word: &std::sync::atomic::AtomicU32, expected: u32, limit: Duration) -> bool {
    if word.load(Ordering::Acquire) != expected {
        return false;
    }
    let start = Instant::now();
    while start.elapsed() < limit {
        for _ in 0..64 {
            if word.load(Ordering::Acquire) != expected {
                return true;
            }
            std::hint::spin_loop();
        }
    }
    false
}

/// The system call itself, as glibc's `syscall` makes it: a result in -4095..=-1 is an
/// error, stored in `errno`, and -1 returned.
///
/// # Safety
/// The arguments must be what system call `n` expects.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
unsafe fn raw_syscall(
    n: libc::c_long,
    a1: libc::c_long,
    a2: libc::c_long,
    a3: libc::c_long,
    a4: libc::c_long,
    a5: libc::c_long,
    a6: libc::c_long,
) -> libc::c_long {
    let ret: libc::c_long;
    // SAFETY: the kernel's calling convention for this architecture; what the call does is
    // the caller's contract.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        std::arch::asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a1, in("rsi") a2, in("rdx") a3, in("r10") a4, in("r8") a5, in("r9") a6,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
        #[cfg(target_arch = "aarch64")]
        std::arch::asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a1 => ret,
            in("x1") a2, in("x2") a3, in("x3") a4, in("x4") a5, in("x5") a6,
            options(nostack),
        );
    }
    if (-4095..0).contains(&ret) {
        // SAFETY: glibc's thread-local errno.
        unsafe { *libc::__errno_location() = -ret as libc::c_int };
        -1
    } else {
        ret
    }
}
