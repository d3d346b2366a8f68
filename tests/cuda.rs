//! The linked `cuda` binary on a machine without an NVIDIA driver (CI builds it with
//! `scripts/cuda-llvm.sh` and the `cuda-check` profile and names it in
//! `BLOODSHOT_CUDA_BIN`): `--device cuda` is one sentence saying what is missing — no
//! panic, nothing of Rust's debug output, no run or sweep folder — and `devices` says the
//! same. Without `BLOODSHOT_CUDA_BIN` the test says so and passes; on a machine where the
//! driver answers, it says so and passes (the GPU check covers that case).

use std::path::Path;
use std::process::{Command, Output};

fn binary() -> Option<String> {
    match std::env::var("BLOODSHOT_CUDA_BIN") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            eprintln!(
                "skipping: BLOODSHOT_CUDA_BIN is not set (.ci/run builds the cuda binary and sets it)"
            );
            None
        }
    }
}

fn run(bin: &str, home: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("BLOODSHOT_HOME", home)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run the cuda binary")
}

fn one_clean_sentence(err: &str) {
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    for leak in ["panicked", "unwrap", "RecvError", "backtrace", "Err("] {
        assert!(!err.contains(leak), "`{leak}` leaked: {err}");
    }
}

fn nothing_created(home: &Path) {
    let left: Vec<_> = std::fs::read_dir(home)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing is created: {left:?}");
}

#[test]
fn cuda_binary_without_a_driver_says_what_is_missing() {
    let Some(bin) = binary() else { return };
    if let Ok(d) = bloodshot::device::cuda_driver::probe() {
        eprintln!(
            "skipping: this machine has an NVIDIA driver (CUDA {}, {} devices)",
            d.cuda_version,
            d.devices.len()
        );
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    let o = run(&bin, h, &["devices"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let cuda = text
        .lines()
        .find(|l| l.starts_with("cuda "))
        .unwrap_or_else(|| panic!("a cuda line: {text}"));
    assert!(
        cuda.contains("compiled in, unusable: no NVIDIA driver: libcuda.so.1 could not be loaded"),
        "{cuda}"
    );

    for device in ["cuda", "cuda:1"] {
        let o = run(
            &bin,
            h,
            &[
                "train",
                "--device",
                device,
                "--epochs",
                "1",
                "--image-size",
                "32",
                "--limit-per-class",
                "2",
            ],
        );
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        one_clean_sentence(&err);
        let spec: bloodshot::device::DeviceSpec = device.parse().unwrap();
        assert!(
            err.contains(&format!("device `{spec}` cannot be used: no NVIDIA driver")),
            "{err}"
        );
        nothing_created(h);
    }

    let o = run(&bin, h, &["sweep", "--devices", "cuda:0", "--seeds", "0"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    one_clean_sentence(&err);
    assert!(err.contains("no NVIDIA driver"), "{err}");
    nothing_created(h);
}
