//! Progress on stderr: a redrawn line on a terminal, sparse plain lines when piped.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// A progress reporter for one phase at a time.
pub struct Progress {
    tty: bool,
    last_plain: Option<(String, Instant)>,
    started: Instant,
    drawn: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Detects whether stderr is a terminal.
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            last_plain: None,
            started: Instant::now(),
            drawn: false,
        }
    }

    /// Shows `label done/total`.
    pub fn update(&mut self, label: &str, done: usize, total: usize) {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if self.tty {
            let width = 30;
            let filled = pct * width / 100;
            let bar: String = "█".repeat(filled) + &"░".repeat(width - filled);
            eprint!("\r\x1b[2K{label} {bar} {done}/{total}");
            let _ = std::io::stderr().flush();
            self.drawn = true;
            if done >= total {
                self.finish();
            }
        } else {
            // Piped: a plain line at most every 5 s per phase, and one when it completes.
            let due = match &self.last_plain {
                Some((l, t)) if l == label => t.elapsed().as_secs() >= 5,
                _ => {
                    self.started = Instant::now();
                    true
                }
            };
            if due || done >= total {
                eprintln!(
                    "{label}: {done}/{total} ({pct} %, {:.1} s)",
                    self.started.elapsed().as_secs_f64()
                );
                self.last_plain = Some((label.to_string(), Instant::now()));
            }
        }
    }

    /// Prints a message line without breaking a drawn bar.
    pub fn line(&mut self, msg: &str) {
        self.finish();
        eprintln!("{msg}");
    }

    /// Ends a drawn bar.
    pub fn finish(&mut self) {
        if self.tty && self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }

    /// True when stderr is a terminal.
    pub fn is_tty(&self) -> bool {
        self.tty
    }
}
