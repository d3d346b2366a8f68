//! BloodShot engine: datasets, EfficientNet-B0 embedder, training objectives, k-shot
//! evaluation and markdown reports. No terminal code lives here; the console and the
//! headless CLI are thin front ends over these calls.

pub mod bench;
pub mod choice;
pub mod data;
pub mod device;
pub mod fewshot;
pub mod files;
pub mod interop;
pub mod memory;
pub mod model;
pub mod paths;
pub mod report;
pub mod runs;
pub mod simd;
pub mod sweep;
pub mod train;
