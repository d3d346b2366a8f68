//! The allocator policy (src/memory.rs): freed memory stays in the process while a hold
//! lives, and goes back to the system when the last one ends. One test in its own process,
//! so that no other test's allocations move the resident size.

use bloodshot::memory::{Hold, holds, init};

/// Resident bytes of this process (`/proc/self/statm`, second field, in pages).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_hold_keeps_freed_memory_until_the_last_one_ends() {
    init();
    // A thread started after `init`, as the console's workers are: it shares the one arena.
    std::thread::spawn(|| {
        const MB: usize = 1 << 20;
        let touch_and_free = || {
            let v = vec![1u8; 256 * MB];
            std::hint::black_box(&v);
        };
        // Without a hold, a 256 MB block is mapped for itself and unmapped when freed.
        let base = resident();
        touch_and_free();
        assert!(
            resident() < base + 64 * MB,
            "freed without a hold: back to the system"
        );

        let first = Hold::new();
        let second = Hold::new();
        assert_eq!(holds(), 2);
        touch_and_free();
        let held = resident();
        assert!(held > base + 200 * MB, "freed under a hold: kept");
        touch_and_free();
        assert!(
            resident() < held + 16 * MB,
            "the same memory serves the next block"
        );
        drop(first);
        assert_eq!(holds(), 1);
        assert!(resident() > base + 200 * MB, "one hold left: still kept");
        drop(second);
        assert_eq!(holds(), 0);
        assert!(
            resident() < base + 64 * MB,
            "the last hold ended: given back"
        );
    })
    .join()
    .unwrap();
    assert!(Hold::for_device(&burn::prelude::Device::flex().autodiff()).is_some());
    assert!(holds() == 0);
}
