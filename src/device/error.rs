//! Why a device cannot be used: one typed error whose message is the one sentence users see.
//! Callers decide on its variant (the console offers the CPU for any of them), never on its
//! text.

use super::DeviceSpec;

/// A device that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    /// Its backend is not compiled into this binary; `how` says how to rebuild.
    #[error("device `{spec}` asked for, but {how}")]
    NotCompiled {
        /// The device asked for.
        spec: DeviceSpec,
        /// "this binary was built without …: rebuild with …".
        how: String,
    },
    /// Its backend is compiled in, but has no driver or no such device here.
    #[error("device `{spec}` cannot be used: {why}")]
    Unusable {
        /// The device asked for.
        spec: DeviceSpec,
        /// What is missing (the driver's own answer where there is one).
        why: String,
    },
    /// Its backend works, but does not list this device.
    #[error(
        "device `{spec}` is not on this machine: {backend} lists {listed} (`bloodshot devices` shows every device)"
    )]
    NotListed {
        /// The device asked for.
        spec: DeviceSpec,
        /// `cuda`, `wgpu` or `vulkan`.
        backend: &'static str,
        /// The devices of that backend that are listed, comma-separated.
        listed: String,
    },
    /// It answered the first test sum (1 + 2 + 3) with another value.
    #[error("device `{spec}` answered a test sum with {value} instead of 6: refusing to use it")]
    WrongAnswer {
        /// The device asked for.
        spec: DeviceSpec,
        /// What it answered.
        value: f32,
    },
    /// It did not answer the first test sum (its runtime panicked).
    #[error(
        "device `{spec}` did not answer a first operation ({why}); check the driver (`nvidia-smi`, `vulkaninfo --summary`), or use `--device cpu`"
    )]
    NoAnswer {
        /// The device asked for.
        spec: DeviceSpec,
        /// The first line of the runtime's message.
        why: String,
    },
}

impl DeviceError {
    /// The device that was refused.
    pub fn spec(&self) -> DeviceSpec {
        match self {
            Self::NotCompiled { spec, .. }
            | Self::Unusable { spec, .. }
            | Self::NotListed { spec, .. }
            | Self::WrongAnswer { spec, .. }
            | Self::NoAnswer { spec, .. } => *spec,
        }
    }
}

/// The engine's modules that still report errors as one sentence take a device error as that
/// sentence.
impl From<DeviceError> for String {
    fn from(e: DeviceError) -> String {
        e.to_string()
    }
}
