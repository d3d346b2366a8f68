//! PyTorch interop: importing torchvision EfficientNet-B0 state dicts and BloodShot
//! Lightning checkpoints (through burn's own PyTorch and safetensors readers), and exporting
//! a run's weights as safetensors with torchvision's key names.

mod error;
pub mod export;
pub mod import;
pub mod keys;

pub use error::InteropError;
pub use export::{ExportSummary, write_safetensors};
pub use import::{
    ImportOptions, Imported, LoadedWeights, SourceKind, import_checkpoint, load_weights,
};
