//! The NVIDIA driver, asked directly: `libcuda.so.1` loaded at run time (as cudarc does),
//! `cuInit`, then the count, name, memory and compute capability of each device and the
//! driver's CUDA version. Works in any build, with or without the `cuda` feature, and
//! never panics: a machine without the driver gets a reason, not a crash.

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};

/// One CUDA device as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CudaDevice {
    /// Ordinal, as in `cuda:N`.
    pub index: usize,
    /// e.g. "NVIDIA H200".
    pub name: String,
    /// Total device memory in bytes.
    pub memory_bytes: u64,
    /// Compute capability, e.g. (9, 0).
    pub compute_capability: (i32, i32),
}

/// What the driver said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CudaDriver {
    /// The CUDA version the driver supports, e.g. "12.8".
    pub cuda_version: String,
    /// Its devices (possibly none).
    pub devices: Vec<CudaDevice>,
}

/// Why no CUDA device can be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CudaProbeError {
    /// `libcuda.so.1` could not be loaded: no NVIDIA driver on this machine.
    #[error(
        "no NVIDIA driver: libcuda.so.1 could not be loaded ({0}); install the NVIDIA driver (nothing else: no CUDA toolkit is needed)"
    )]
    NoDriver(String),
    /// The driver is there but `cuInit` failed (no device, a driver/kernel-module mismatch…).
    #[error("the NVIDIA driver did not start (cuInit returned {code}: {name}); check `nvidia-smi`")]
    InitFailed {
        /// The CUresult code.
        code: i32,
        /// Its name, when the driver gives one.
        name: String,
    },
    /// Not probed on this operating system.
    #[error("the NVIDIA driver is probed on Linux only")]
    Unsupported,
}

/// Loads the driver and lists its devices.
pub fn probe() -> Result<CudaDriver, CudaProbeError> {
    imp::probe()
}

#[cfg(unix)]
mod imp {
    use super::*;

    type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
    type CuIntOut = unsafe extern "C" fn(*mut c_int) -> c_int;
    type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
    type CuDeviceTotalMem = unsafe extern "C" fn(*mut usize, c_int) -> c_int;
    type CuDeviceGetAttribute = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int;
    type CuGetErrorName = unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int;

    const COMPUTE_CAPABILITY_MAJOR: c_int = 75;
    const COMPUTE_CAPABILITY_MINOR: c_int = 76;

    /// What `dlopen` / `dlsym` said (the loader's own sentence).
    #[derive(Debug)]
    struct DlError(String);

    impl std::fmt::Display for DlError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    /// A `dlopen` handle, closed on drop.
    struct Library(*mut c_void);

    impl Drop for Library {
        fn drop(&mut self) {
            // SAFETY: the handle came from a successful `dlopen` and is closed once.
            unsafe { libc::dlclose(self.0) };
        }
    }

    impl Library {
        fn open(name: &CStr) -> Result<Library, DlError> {
            // SAFETY: `name` is a NUL-terminated string; dlopen has no other precondition.
            let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            if handle.is_null() {
                return Err(DlError(last_error()));
            }
            Ok(Library(handle))
        }

        /// The address of `symbol`, as a function of type `F`.
        ///
        /// # Safety
        /// `F` must be the C signature of `symbol` in the CUDA driver API.
        unsafe fn get<F: Copy>(&self, symbol: &CStr) -> Result<F, DlError> {
            // SAFETY: the handle is open; `symbol` is NUL-terminated.
            let p = unsafe { libc::dlsym(self.0, symbol.as_ptr()) };
            if p.is_null() {
                return Err(DlError(format!("{} is missing", symbol.to_string_lossy())));
            }
            assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
            // SAFETY: `F` is a function pointer type of the symbol's signature (the caller's
            // promise) and has the size of a data pointer (checked above).
            Ok(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
        }
    }

    fn last_error() -> String {
        // SAFETY: dlerror returns NULL or a NUL-terminated string owned by libc.
        let e = unsafe { libc::dlerror() };
        if e.is_null() {
            "unknown error".into()
        } else {
            // SAFETY: non-null, NUL-terminated (see above); copied before the next dl call.
            unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
        }
    }

    /// The driver API's entry points used here; valid while the library they came from is
    /// open.
    struct Api {
        init: CuInit,
        version: CuIntOut,
        count: CuIntOut,
        get: CuDeviceGet,
        name: CuDeviceGetName,
        mem: CuDeviceTotalMem,
        attribute: CuDeviceGetAttribute,
        error_name: Option<CuGetErrorName>,
    }

    impl Api {
        /// Looks the entry points up in `lib`.
        fn load(lib: &Library) -> Result<Api, CudaProbeError> {
            let missing = |e: DlError| CudaProbeError::NoDriver(e.0);
            // SAFETY: in every `get` call the type alias is the driver API's C signature of
            // the symbol named (cuda.h, CUDA 12; `_v2` where cuda.h maps the plain name to it).
            unsafe {
                Ok(Api {
                    init: lib.get::<CuInit>(c"cuInit").map_err(missing)?,
                    version: lib
                        .get::<CuIntOut>(c"cuDriverGetVersion")
                        .map_err(missing)?,
                    count: lib.get::<CuIntOut>(c"cuDeviceGetCount").map_err(missing)?,
                    get: lib.get::<CuDeviceGet>(c"cuDeviceGet").map_err(missing)?,
                    name: lib
                        .get::<CuDeviceGetName>(c"cuDeviceGetName")
                        .map_err(missing)?,
                    mem: lib
                        .get::<CuDeviceTotalMem>(c"cuDeviceTotalMem_v2")
                        .map_err(missing)?,
                    attribute: lib
                        .get::<CuDeviceGetAttribute>(c"cuDeviceGetAttribute")
                        .map_err(missing)?,
                    error_name: lib.get::<CuGetErrorName>(c"cuGetErrorName").ok(),
                })
            }
        }

        /// The name of the driver's error `code` (e.g. CUDA_ERROR_NO_DEVICE), or "unknown".
        fn error_name(&self, code: c_int) -> String {
            let mut text: *const c_char = std::ptr::null();
            match self.error_name {
                // SAFETY: cuGetErrorName writes a pointer to a static NUL-terminated string.
                Some(f) if unsafe { f(code, &mut text) } == 0 && !text.is_null() => {
                    // SAFETY: non-null, static, NUL-terminated (see above).
                    unsafe { CStr::from_ptr(text) }
                        .to_string_lossy()
                        .into_owned()
                }
                _ => "unknown".into(),
            }
        }

        /// The driver's version as "major.minor".
        fn cuda_version(&self) -> String {
            let mut v: c_int = 0;
            // SAFETY: writes one int through a valid pointer.
            unsafe { (self.version)(&mut v) };
            format!("{}.{}", v / 1000, (v % 1000) / 10)
        }

        /// How many devices the driver sees (none when it cannot count them).
        fn device_count(&self) -> c_int {
            let mut n: c_int = 0;
            // SAFETY: writes one int through a valid pointer.
            if unsafe { (self.count)(&mut n) } != 0 {
                return 0;
            }
            n.max(0)
        }

        /// Device `index`: name, memory and compute capability; `None` when the driver
        /// cannot open it.
        fn device(&self, index: c_int) -> Option<CudaDevice> {
            let mut dev: c_int = 0;
            // SAFETY: writes one CUdevice (an int) through a valid pointer.
            if unsafe { (self.get)(&mut dev, index) } != 0 {
                return None;
            }
            let mut buf = [0 as c_char; 256];
            // SAFETY: the buffer holds 256 chars and the driver writes at most `len` of them,
            // NUL-terminated.
            let named = unsafe { (self.name)(buf.as_mut_ptr(), buf.len() as c_int, dev) } == 0;
            let name = if named {
                // SAFETY: NUL-terminated within the buffer (see above).
                unsafe { CStr::from_ptr(buf.as_ptr()) }
                    .to_string_lossy()
                    .into_owned()
            } else {
                "unnamed device".into()
            };
            let mut bytes: usize = 0;
            // SAFETY: writes one size_t through a valid pointer.
            unsafe { (self.mem)(&mut bytes, dev) };
            let (mut major, mut minor) = (0, 0);
            // SAFETY: each call writes one int through a valid pointer.
            unsafe {
                (self.attribute)(&mut major, COMPUTE_CAPABILITY_MAJOR, dev);
                (self.attribute)(&mut minor, COMPUTE_CAPABILITY_MINOR, dev);
            }
            Some(CudaDevice {
                index: index as usize,
                name,
                memory_bytes: bytes as u64,
                compute_capability: (major, minor),
            })
        }
    }

    pub(super) fn probe() -> Result<CudaDriver, CudaProbeError> {
        // The driver installs libcuda.so.1; libcuda.so only where a toolkit added the link.
        // The first failure is the one to report.
        let lib = match Library::open(c"libcuda.so.1") {
            Ok(lib) => lib,
            Err(first) => {
                Library::open(c"libcuda.so").map_err(|_| CudaProbeError::NoDriver(first.0))?
            }
        };
        let api = Api::load(&lib)?;
        // SAFETY: cuInit takes flags (0) and no pointers.
        let code = unsafe { (api.init)(0) };
        if code != 0 {
            let name = api.error_name(code);
            return Err(CudaProbeError::InitFailed { code, name });
        }
        Ok(CudaDriver {
            cuda_version: api.cuda_version(),
            devices: (0..api.device_count())
                .filter_map(|i| api.device(i))
                .collect(),
        })
    }
}

#[cfg(not(unix))]
mod imp {
    use super::*;

    pub(super) fn probe() -> Result<CudaDriver, CudaProbeError> {
        Err(CudaProbeError::Unsupported)
    }
}
