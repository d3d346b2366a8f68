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
    let e = "tpu".parse::<DeviceSpec>().unwrap_err();
    assert!(
        e.contains("unknown device `tpu`") && e.contains("wgpu"),
        "{e}"
    );
    let e = "cuda:x".parse::<DeviceSpec>().unwrap_err();
    assert!(e.contains("device index `x` in `cuda:x`"), "{e}");
    let e = "vulkan:integrated:-1".parse::<DeviceSpec>().unwrap_err();
    assert!(e.contains("device index `-1`"), "{e}");
    let e = "wgpu:gpu:1:2".parse::<DeviceSpec>().unwrap_err();
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
        e.contains("built without Vulkan") && e.contains("--features vulkan"),
        "{e}"
    );
}
