//! Which vector instructions the CPU kernels use: detected once, lowered on request.
//!
//! The crate is built for baseline x86-64 (SSE2), so the wider kernels — depthwise
//! convolution (`model::cpu::depthwise`), SiLU and sigmoid (`model::fast`) and the k-shot
//! dot products (`fewshot::score::kernel`) — are chosen at run time from [`level`]. It is the
//! best level the CPU has, unless `BLOODSHOT_SIMD=portable|avx2|avx512` (read once) or
//! [`force`] asks for a lower one, so that every path can be run and compared on one machine
//! (`tests/simd.rs`). A level the CPU lacks is never used: asking for it is an error.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

/// A set of vector instructions a kernel may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Plain Rust loops (whatever the compiler vectorises for baseline x86-64 or the target).
    Portable,
    /// AVX2 with fused multiply-add (256-bit lanes).
    Avx2Fma,
    /// AVX-512 Foundation (512-bit lanes), on top of AVX2 + FMA.
    Avx512,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 3] = [Level::Portable, Level::Avx2Fma, Level::Avx512];

    /// Name as in `BLOODSHOT_SIMD` and `bloodshot devices`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2Fma => "avx2+fma",
            Level::Avx512 => "avx512",
        }
    }

    /// Parses `portable`, `avx2` / `avx2+fma`, `avx512`.
    pub fn parse(text: &str) -> Result<Level, crate::choice::UnknownChoice> {
        match text.trim().to_ascii_lowercase().as_str() {
            "portable" | "none" | "scalar" => Ok(Level::Portable),
            "avx2" | "avx2+fma" | "avx2fma" => Ok(Level::Avx2Fma),
            "avx512" | "avx-512" | "avx512f" => Ok(Level::Avx512),
            other => Err(crate::choice::UnknownChoice::new(
                "SIMD level",
                other,
                "portable, avx2 or avx512",
            )),
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(code: u8) -> Option<Level> {
        Level::ALL.get((code as usize).checked_sub(1)?).copied()
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The best level this CPU supports.
pub fn detected() -> Level {
    static DETECTED: OnceLock<Level> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if avx2 {
                return Level::Avx2Fma;
            }
        }
        Level::Portable
    })
}

/// Every level this CPU supports, lowest first.
pub fn supported() -> Vec<Level> {
    Level::ALL
        .into_iter()
        .filter(|l| *l <= detected())
        .collect()
}

/// 0: not forced; otherwise `Level::code`.
static FORCED: AtomicU8 = AtomicU8::new(0);

/// The level `BLOODSHOT_SIMD` asks for (read once), if set and valid; a value naming a level
/// the CPU lacks, or no level, is reported once on stderr and ignored.
fn from_env() -> Option<Level> {
    static ENV: OnceLock<Option<Level>> = OnceLock::new();
    *ENV.get_or_init(|| {
        let text = std::env::var("BLOODSHOT_SIMD").ok()?;
        match Level::parse(&text) {
            Ok(l) if l <= detected() => Some(l),
            Ok(l) => {
                eprintln!(
                    "BLOODSHOT_SIMD={text}: this CPU has no {l} (best: {}); using {}",
                    detected(),
                    detected()
                );
                None
            }
            Err(e) => {
                eprintln!("BLOODSHOT_SIMD: {e}; using {}", detected());
                None
            }
        }
    })
}

/// The level the kernels use now: [`force`]d, else `BLOODSHOT_SIMD`, else [`detected`].
#[inline]
pub fn level() -> Level {
    match Level::from_code(FORCED.load(Ordering::Relaxed)) {
        Some(l) => l,
        None => from_env().unwrap_or_else(detected),
    }
}

/// A SIMD level this CPU cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this CPU has no {level} (best: {best}); levels it can run: {runnable}")]
pub struct MissingLevel {
    /// The level asked for.
    pub level: Level,
    /// The best level the CPU has.
    pub best: Level,
    /// The levels it can run, in words.
    pub runnable: String,
}

/// Makes every kernel of this process use `level` (`None`: back to the default), for tests
/// and benchmarks. Errors, changing nothing, when the CPU lacks that level.
pub fn force(level: Option<Level>) -> Result<(), MissingLevel> {
    match level {
        Some(l) if l > detected() => Err(MissingLevel {
            level: l,
            best: detected(),
            runnable: supported()
                .iter()
                .map(|l| l.name())
                .collect::<Vec<_>>()
                .join(", "),
        }),
        Some(l) => {
            FORCED.store(l.code(), Ordering::Relaxed);
            Ok(())
        }
        None => {
            FORCED.store(0, Ordering::Relaxed);
            Ok(())
        }
    }
}
