//! Device strings: every adapter a user can ask for, what they read back as, the forms older
//! runs stored, and the one-sentence refusals.

use bloodshot::device::{Adapter, DeviceSpec};

#[test]
fn device_strings_parse_and_print_back() {
    for (text, spec) in [
        ("cpu", DeviceSpec::Cpu),
        ("cuda:0", DeviceSpec::Cuda(0)),
        ("cuda:1", DeviceSpec::Cuda(1)),
        ("vulkan", DeviceSpec::Vulkan(Adapter::Best)),
        ("vulkan:0", DeviceSpec::Vulkan(Adapter::Discrete(0))),
        (
            "vulkan:integrated:1",
            DeviceSpec::Vulkan(Adapter::Integrated(1)),
        ),
        ("vulkan:virtual:0", DeviceSpec::Vulkan(Adapter::Virtual(0))),
        ("vulkan:cpu", DeviceSpec::Vulkan(Adapter::Cpu)),
        ("wgpu", DeviceSpec::Wgpu(Adapter::Best)),
        ("wgpu:2", DeviceSpec::Wgpu(Adapter::Discrete(2))),
        ("wgpu:cpu", DeviceSpec::Wgpu(Adapter::Cpu)),
    ] {
        assert_eq!(text.parse::<DeviceSpec>(), Ok(spec), "{text}");
        assert_eq!(spec.to_string(), text);
    }
    // Short, spelled-out and upper-case forms.
    assert_eq!("cuda".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
    assert_eq!(
        "Vulkan:Discrete:1".parse::<DeviceSpec>(),
        Ok(DeviceSpec::Vulkan(Adapter::Discrete(1)))
    );
    assert_eq!(
        "wgpu:integrated".parse::<DeviceSpec>(),
        Ok(DeviceSpec::Wgpu(Adapter::Integrated(0)))
    );
}

#[test]
fn bad_device_strings_say_what_is_wrong() {
    use bloodshot::device::DeviceParseError;
    let e = "tpu".parse::<DeviceSpec>().unwrap_err();
    assert_eq!(e, DeviceParseError::UnknownDevice("tpu".into()));
    let e = e.to_string();
    assert!(
        e.contains("unknown device `tpu`") && e.contains("wgpu"),
        "{e}"
    );
    let e = "cuda:x".parse::<DeviceSpec>().unwrap_err().to_string();
    assert!(e.contains("device index `x` in `cuda:x`"), "{e}");
    let e = "vulkan:integrated:-1".parse::<DeviceSpec>().unwrap_err();
    assert!(
        matches!(&e, DeviceParseError::BadIndex { index, .. } if index == "-1"),
        "{e:?}"
    );
    assert!(e.to_string().contains("device index `-1`"), "{e}");
    let e = "wgpu:gpu:1:2"
        .parse::<DeviceSpec>()
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown adapter in `wgpu:gpu:1:2`"), "{e}");
}

#[test]
fn stored_devices_read_in_old_and_new_forms() {
    let read = |json: &str| serde_json::from_str::<DeviceSpec>(json).unwrap();
    assert_eq!(read(r#""Cpu""#), DeviceSpec::Cpu);
    assert_eq!(read(r#"{"Cuda":1}"#), DeviceSpec::Cuda(1));
    assert_eq!(
        read(r#"{"Vulkan":0}"#),
        DeviceSpec::Vulkan(Adapter::Discrete(0))
    );
    assert_eq!(read(r#""wgpu:cpu""#), DeviceSpec::Wgpu(Adapter::Cpu));
    assert_eq!(
        serde_json::to_string(&DeviceSpec::Vulkan(Adapter::Best)).unwrap(),
        r#""vulkan""#
    );
}

#[cfg(not(feature = "vulkan"))]
#[test]
fn a_backend_that_is_not_compiled_in_is_one_sentence() {
    let e = bloodshot::device::open(DeviceSpec::Vulkan(Adapter::Best)).unwrap_err();
    assert!(
        matches!(&e, bloodshot::device::DeviceError::NotCompiled { spec, .. } if *spec == DeviceSpec::Vulkan(Adapter::Best)),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(
        e.starts_with("device `vulkan` asked for, but this binary was built without vulkan: rebuild with `cargo build --release --features vulkan`, or use `--device cpu` (compiled: cpu"),
        "{e}"
    );
}

use bloodshot::device::cuda_driver::CudaDevice;
use bloodshot::device::inventory::{AdapterEntry, Backend, CpuInfo, CudaEntry, Inventory};

/// An inventory as a machine with one lavapipe adapter, two CUDA devices and no Vulkan
/// build would report it.
fn machine() -> Inventory {
    let gpu = |index: usize| CudaDevice {
        index,
        name: "NVIDIA H200".into(),
        memory_bytes: 150_000_000_000,
        compute_capability: (9, 0),
    };
    Inventory {
        cpu: CpuInfo {
            threads: 2,
            simd: "avx2+fma".into(),
            simd_supported: vec!["portable".into(), "avx2+fma".into()],
        },
        wgpu: Backend::Available {
            devices: vec![AdapterEntry {
                device: "wgpu:cpu".into(),
                name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
                kind: "CPU".into(),
                driver: "llvmpipe Mesa 22.3.6".into(),
                api: "Vulkan".into(),
            }],
        },
        vulkan: Backend::NotCompiled {
            rebuild: "this binary was built without vulkan: rebuild with `cargo build --release --features vulkan`".into(),
        },
        cuda: Backend::Available {
            devices: CudaEntry {
                driver_cuda_version: "12.8".into(),
                devices: vec![gpu(0), gpu(1)],
            },
        },
    }
}

#[test]
fn the_inventory_lists_what_each_backend_found() {
    let inv = machine();
    assert_eq!(
        inv.usable(),
        vec![
            DeviceSpec::Cpu,
            DeviceSpec::Wgpu(Adapter::Best),
            DeviceSpec::Wgpu(Adapter::Cpu),
            DeviceSpec::Cuda(0),
            DeviceSpec::Cuda(1),
        ]
    );
    for ok in ["cpu", "wgpu", "wgpu:cpu", "cuda", "cuda:1"] {
        assert_eq!(inv.check(ok.parse().unwrap()), Ok(()), "{ok}");
    }
    assert_eq!(
        inv.check("cuda:2".parse().unwrap())
            .unwrap_err()
            .to_string(),
        "device `cuda:2` is not on this machine: cuda lists cuda:0, cuda:1 (`bloodshot devices` shows every device)"
    );
    assert_eq!(
        inv.check("wgpu:0".parse().unwrap())
            .unwrap_err()
            .to_string(),
        "device `wgpu:0` is not on this machine: wgpu lists wgpu, wgpu:cpu (`bloodshot devices` shows every device)"
    );
    assert_eq!(
        inv.check("vulkan".parse().unwrap())
            .unwrap_err()
            .to_string(),
        "device `vulkan` asked for, but this binary was built without vulkan: rebuild with `cargo build --release --features vulkan`"
    );
    let text = bloodshot::device::inventory::render(&inv);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "cpu      cpu · flex · 2 threads · SIMD kernels: avx2+fma (this CPU runs portable, avx2+fma)",
            "wgpu     wgpu:cpu · llvmpipe (LLVM 15.0.6, 256 bits) · CPU · Vulkan · driver llvmpipe Mesa 22.3.6",
            "vulkan   not compiled in: this binary was built without vulkan: rebuild with `cargo build --release --features vulkan`",
            "cuda     cuda:0 · NVIDIA H200 · 139.7 GiB · compute 9.0 · driver CUDA 12.8",
            "cuda     cuda:1 · NVIDIA H200 · 139.7 GiB · compute 9.0 · driver CUDA 12.8",
        ]
    );
}

#[test]
fn a_backend_without_a_driver_is_refused_with_its_reason() {
    let mut inv = machine();
    inv.cuda = Backend::Unavailable {
        reason: "no NVIDIA driver: libcuda.so.1 could not be loaded (libcuda.so.1: cannot open shared object file: No such file or directory); install the NVIDIA driver (nothing else: no CUDA toolkit is needed)".into(),
    };
    assert_eq!(inv.usable().len(), 3);
    let e = inv.check(DeviceSpec::Cuda(0)).unwrap_err();
    assert!(
        matches!(e, bloodshot::device::DeviceError::Unusable { .. }),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(
        e.starts_with(
            "device `cuda:0` cannot be used: no NVIDIA driver: libcuda.so.1 could not be loaded"
        ),
        "{e}"
    );
    let json = serde_json::to_value(&inv).unwrap();
    assert_eq!(json["cuda"]["status"], "unavailable");
    assert_eq!(json["wgpu"]["status"], "available");
    assert_eq!(json["wgpu"]["devices"][0]["device"], "wgpu:cpu");
    assert_eq!(json["vulkan"]["status"], "not-compiled");
}

mod common;
use common::bloodshot_in as bloodshot;

/// `bloodshot devices` on this machine: the CPU with the SIMD level the kernels use, one line
/// per backend, and the same as JSON.
#[test]
fn devices_lists_this_machine() {
    let home = tempfile::tempdir().unwrap();
    let o = bloodshot(home.path(), &["devices"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let level = bloodshot::simd::detected().name();
    assert!(
        text.starts_with("cpu      cpu · flex · ")
            && text.contains(&format!("SIMD kernels: {level}")),
        "{text}"
    );
    for backend in ["wgpu", "vulkan", "cuda"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{backend:<8} "))),
            "a line for {backend}: {text}"
        );
    }
    if !cfg!(feature = "cuda") {
        assert!(
            text.contains("cuda     not compiled in: this binary was built without cuda"),
            "{text}"
        );
    }
    let o = bloodshot(home.path(), &["devices", "--json"]);
    assert!(o.status.success());
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["cpu"]["simd"], level);
    assert_eq!(json["cpu"]["simd_supported"][0], "portable");
    if std::env::var_os("BLOODSHOT_REQUIRE_GPU").is_some() {
        assert_eq!(json["wgpu"]["status"], "available", "{json}");
    }
    assert!(
        !home.path().join("runs").exists(),
        "listing devices creates nothing"
    );
}

/// `sweep --devices` with a device this machine lacks: one sentence, no sweep folder.
#[test]
fn a_sweep_on_a_missing_device_creates_nothing() {
    let home = tempfile::tempdir().unwrap();
    let o = bloodshot(
        home.path(),
        &["sweep", "--devices", "cpu,wgpu:virtual:5", "--seeds", "0"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    assert!(
        err.contains("device `wgpu:virtual:5`") && !err.contains("panicked"),
        "{err}"
    );
    let runs = home.path().join("runs");
    let left: Vec<_> = std::fs::read_dir(&runs)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|n| n != "sweeps"),
        "no sweep was created: {left:?}"
    );
}
