//! Helpers shared by the tests: the real binary in tmux or as a child process, and
//! deterministic test values.

#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// A detached tmux session running one command; killed on drop.
pub struct Tmux {
    /// Session name.
    pub session: String,
}

impl Tmux {
    /// The visible screen as text.
    pub fn capture(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Sends keys one by one.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["send-keys", "-t", &self.session, k])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Waits until the screen contains `needle`; panics with the screen after `secs`.
    /// Waits until `needle` is on screen; panics with the screen after `secs`.
    pub fn wait_for(&self, needle: &str, secs: u64) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if screen.contains(needle) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                panic!("`{needle}` did not appear within {secs} s; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

/// Whether tmux is installed (the tests skip with a message where it is not).
pub fn tmux_available() -> bool {
    Command::new("tmux").arg("-V").output().is_ok()
}

/// Starts `command` in a new detached 120×40 session named after `tag` and the process.
pub fn start(tag: &str, command: &str) -> Tmux {
    let session = format!("bloodshot-{tag}-{}", std::process::id());
    let ok = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "40",
            command,
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "tmux new-session failed");
    Tmux { session }
}

/// Runs the `bloodshot` binary with `BLOODSHOT_HOME=home`, in the repository root. Mesa's
/// Vulkan drivers complain on stderr when no login session set XDG_RUNTIME_DIR: one is made.
pub fn bloodshot_in(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    let runtime = home.join("xdg-runtime");
    let _ = std::fs::create_dir_all(&runtime);
    Command::new(env!("CARGO_BIN_EXE_bloodshot"))
        .args(args)
        .env("BLOODSHOT_HOME", home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run bloodshot")
}

/// Deterministic pseudo-random values in [-1, 1).
pub fn wiggly(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let h = (i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503))
                .wrapping_mul(2_246_822_519);
            (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}
