//! The CPU step's workers (src/model/cpu/workers.rs): a step runs on the pool's workers,
//! their yields and futex waits stay on their cores, and steps finish or pass their panic
//! on. Several of these watch sub-millisecond timing, so they have their own process (other
//! tests' work on this machine's cores would starve the threads they time) and run one at a
//! time: each holds [`one_at_a_time`] for its length.

use burn::prelude::*;
use std::sync::{Mutex, MutexGuard};

fn dev() -> Device {
    Device::flex()
}

/// The lock every test here holds, so that no two run at once (a failed test's poisoned lock
/// is taken all the same: the others still run and report for themselves).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A CPU training step runs on one of rayon's workers (so each operation's parallel loop
/// starts there instead of being handed over from outside the pool), gives back what the
/// work returned, and from a worker stays on that worker.
#[test]
fn cpu_work_runs_on_the_pool_workers() {
    use bloodshot::model::cpu::on_workers;
    let _one = one_at_a_time();
    assert_eq!(
        rayon::current_thread_index(),
        None,
        "the test thread is outside the pool"
    );
    let (index, value) = on_workers(&dev(), || (rayon::current_thread_index(), 6 * 7));
    assert!(index.is_some(), "ran outside the pool");
    assert_eq!(value, 42);
    let nested = on_workers(&dev(), || {
        let outer = rayon::current_thread_index();
        (outer, on_workers(&dev(), rayon::current_thread_index))
    });
    assert_eq!(nested.0, nested.1);
    // Training on the CPU takes the same path (autodiff device).
    let ad = dev().autodiff();
    assert!(on_workers(&ad, rayon::current_thread_index).is_some());
}

/// For the length of `on_workers`, the pool's workers yield by spinning: a job that only
/// another worker can run (the owner waits for it without running pool work) runs there,
/// and that worker's yield spins instead of entering the kernel. Outside a pool worker,
/// yields are the kernel's.
#[cfg(target_os = "linux")]
#[test]
fn a_steps_workers_yields_spin() {
    use bloodshot::model::cpu::on_workers;
    use bloodshot::model::cpu::workers::{as_step_worker, yields_spun};
    use std::sync::atomic::{AtomicBool, Ordering};
    let _one = one_at_a_time();

    let before = yields_spun();
    std::thread::yield_now();
    assert_eq!(yields_spun(), before, "a yield outside the pool spun");
    let inside = as_step_worker(|| {
        std::thread::yield_now();
        std::thread::yield_now();
        yields_spun()
    });
    assert_eq!(inside, before + 2, "a step worker's yields did not spin");
    std::thread::yield_now();
    assert_eq!(
        yields_spun(),
        before + 2,
        "yields still spin after the step"
    );

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("a thread pool");
    for _ in 0..20 {
        let (owner, (_, (other, spun))) = pool.install(|| {
            on_workers(&dev(), || {
                let owner = rayon::current_thread_index();
                let ran = AtomicBool::new(false);
                let halves = rayon::join(
                    || {
                        // Busy-waits without running pool work: only another worker can
                        // run the second half.
                        while !ran.load(Ordering::Acquire) {
                            std::hint::spin_loop();
                        }
                    },
                    || {
                        let spun = yields_spun();
                        std::thread::yield_now();
                        ran.store(true, Ordering::Release);
                        (rayon::current_thread_index(), yields_spun() - spun)
                    },
                );
                (owner, halves)
            })
        });
        assert!(owner.is_some() && other.is_some() && other != owner);
        assert_eq!(spun, 1, "the other worker's yield entered the kernel");
    }
}

/// `futex(FUTEX_WAIT_PRIVATE)` on `word` while it holds `expected`, without a time limit
/// (`timeout` None) or with one: the result and `errno`, through the program's `syscall`.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn futex_wait(
    word: &std::sync::atomic::AtomicU32,
    expected: u32,
    timeout: Option<std::time::Duration>,
) -> (i64, i32) {
    let limit = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    // SAFETY: a futex wait on a live, aligned 32-bit word, with a live timespec or none.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const std::sync::atomic::AtomicU32,
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            limit
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec),
        )
    };
    (
        r,
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

/// One futex wait on a word that another thread sets to 1 about 0.2 ms after the wait
/// begins *without waking anyone*; the other thread wakes the word only after 300 ms (so a
/// wait that went to the kernel ends). Whether the wait ended on its core ([`waits_spun`]
/// counted it), or `None` (retry) when the word changed before the wait began or more than
/// 1 ms after (the other thread was not running: tests share the machine's cores).
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn wait_for_silent_change() -> Option<bool> {
    use bloodshot::model::cpu::workers::waits_spun;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    let word = AtomicU32::new(0);
    let ready = AtomicBool::new(false);
    let go = AtomicBool::new(false);
    let back = AtomicBool::new(false);
    let changed_at = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        s.spawn(|| {
            ready.store(true, Ordering::Release);
            while !go.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(200) {
                std::hint::spin_loop();
            }
            word.store(1, Ordering::Release);
            *changed_at.lock().unwrap() = Some(Instant::now());
            let t = Instant::now();
            while !back.load(Ordering::Acquire) && t.elapsed() < Duration::from_millis(300) {
                std::thread::sleep(Duration::from_millis(1));
            }
            // SAFETY: a futex wake-up on a live, aligned 32-bit word.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    &word as *const AtomicU32,
                    libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                    i32::MAX,
                )
            };
        });
        while !ready.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let before = waits_spun();
        let began = Instant::now();
        go.store(true, Ordering::Release);
        let (r, errno) = futex_wait(&word, 0, None);
        back.store(true, Ordering::Release);
        if r == -1 && errno == libc::EAGAIN {
            return None;
        }
        assert_eq!(r, 0, "the wait failed: errno {errno}");
        let spun = waits_spun() > before;
        // The other thread notes the time right after its change.
        let late = loop {
            if let Some(at) = *changed_at.lock().unwrap() {
                break at.duration_since(began) > Duration::from_millis(1);
            }
            std::hint::spin_loop();
        };
        (!late).then_some(spun)
    })
}

/// A futex wait without a time limit on a step's worker watches its word on its core: a word
/// another thread changes without a wake-up ends the wait there. Anywhere else it is the
/// kernel's wait (ended here by the late wake-up), and every other call, a wait with a time
/// limit or on a word that already differs among them, is the kernel's answer with its
/// `errno`.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[test]
fn a_steps_workers_futex_waits_watch_their_word() {
    use bloodshot::model::cpu::workers::{as_step_worker, waits_spun};
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;
    let _one = one_at_a_time();

    let spun = as_step_worker(|| (0..50).find_map(|_| wait_for_silent_change()));
    assert_eq!(
        spun,
        Some(true),
        "a step worker's wait went to the kernel (None: the other thread was late each time)"
    );
    let spun = (0..50).find_map(|_| wait_for_silent_change());
    assert_eq!(
        spun,
        Some(false),
        "a wait outside a step did not go to the kernel (None: the other thread was late each time)"
    );

    let before = waits_spun();
    as_step_worker(|| {
        let word = AtomicU32::new(7);
        assert_eq!(futex_wait(&word, 6, None), (-1, libc::EAGAIN));
        let limit = Some(Duration::from_millis(1));
        assert_eq!(futex_wait(&word, 7, limit), (-1, libc::ETIMEDOUT));
        // SAFETY: getpid takes no argument and cannot fail.
        let through_syscall = unsafe { libc::syscall(libc::SYS_getpid) };
        // SAFETY: as above.
        let pid = unsafe { libc::getpid() };
        assert_eq!(through_syscall, i64::from(pid));
        // SAFETY: closing descriptor -1 touches nothing; it fails with EBADF.
        let closed = unsafe { libc::syscall(libc::SYS_close, -1) };
        assert_eq!(closed, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EBADF)
        );
    });
    assert_eq!(waits_spun(), before);
}

/// A worker that rayon has put to sleep during a step (its partner busy for 1 ms, far past
/// the third of a millisecond of yields) is woken by new work on its core: its wait ended by
/// watching the word, not in the kernel.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[test]
fn a_sleeping_step_worker_wakes_on_its_core() {
    use bloodshot::model::cpu::on_workers;
    use bloodshot::model::cpu::workers::waits_spun;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let _one = one_at_a_time();

    /// Runs a half that only the other worker can take: its thread and its count of waits
    /// ended on the core.
    fn on_the_other() -> (Option<usize>, u64) {
        let ran = AtomicBool::new(false);
        rayon::join(
            || {
                while !ran.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            },
            || {
                let r = (rayon::current_thread_index(), waits_spun());
                ran.store(true, Ordering::Release);
                r
            },
        )
        .1
    }

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    // An attempt whose owner was kept off its core (its 1 ms of spinning took more than
    // 1.5 ms) proves nothing: the other worker may have watched its word for the whole 2 ms
    // before the new work came. Such attempts are not counted.
    let mut on_time = 0;
    let woken_on_core = (0..50).any(|_| {
        let (owner, (first, before), gap, (second, after)) = pool.install(|| {
            on_workers(&dev(), || {
                let owner = rayon::current_thread_index();
                let first = on_the_other();
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(1) {
                    std::hint::spin_loop();
                }
                let gap = t.elapsed();
                (owner, first, gap, on_the_other())
            })
        });
        assert!(first.is_some() && first != owner && second == first);
        if gap > Duration::from_micros(1500) {
            return false;
        }
        on_time += 1;
        after > before
    });
    assert!(
        woken_on_core,
        "the sleeping worker was woken in the kernel in each of {on_time} attempts on time"
    );
}

/// Many short steps, one after another, on a pool of three workers (more than this machine's
/// cores), as validation runs one `on_workers` per batch: every one finishes. (With helper
/// jobs that polled until their step ended, a worker that took part of a step's work before
/// its helper job started the helper inside that work's wait and never came back to it: the
/// step hung, first seen in `embedding_by_sub_batches_keeps_every_row`.)
#[test]
fn many_short_steps_all_finish() {
    use bloodshot::model::cpu::on_workers;
    use rayon::prelude::*;
    use std::time::Duration;
    let _one = one_at_a_time();

    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a thread pool");
        let mut total = 0u64;
        for step in 0..3000u64 {
            total += pool.install(|| {
                on_workers(&dev(), || {
                    (0..8u64)
                        .into_par_iter()
                        .map(|i| {
                            (0..64u64)
                                .into_par_iter()
                                .map(|v| v * i + step)
                                .sum::<u64>()
                        })
                        .sum::<u64>()
                })
            });
        }
        let _ = send.send(total);
    });
    let total = receive
        .recv_timeout(Duration::from_secs(120))
        .expect("3000 short steps did not finish within two minutes: the pool is stuck");
    // Per step: Σ_i Σ_v (v·i + step) = 2016·28 + 512·step; over 3000 steps.
    assert_eq!(total, 2016 * 28 * 3000 + 512 * (2999 * 3000 / 2));
}

/// A step that panics passes the panic on; the pool still works.
#[test]
fn a_panicking_step_passes_its_panic_on() {
    use bloodshot::model::cpu::on_workers;
    let _one = one_at_a_time();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let caught = pool.install(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            on_workers(&dev(), || -> u32 { panic!("a step failed") })
        }))
    });
    assert!(caught.is_err(), "the panic was lost");
    assert_eq!(pool.install(|| on_workers(&dev(), || 6 * 7)), 42);
}
