//! PyTorch interop against torchvision, from the fixtures in
//! `../shared/fixtures/torch-interop` (made by its `make_fixtures.py` from real images):
//! embeddings and every stage of EfficientNet-B0, the BloodShot Lightning checkpoint's AAM
//! cosines, our decode + resize against PIL's, the export round trip, and bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bloodshot::interop::{ImportOptions, SourceKind, import_checkpoint, load_weights};
use bloodshot::model::{Classifier, Head, Objective};
use bloodshot::runs::RunDir;
use burn::module::Module;
use burn::prelude::*;
use burn::store::{ModuleStore, SafetensorsStore, bridge};

/// Tensors by name: (shape, values).
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/torch-interop");
    if dir.join("parity.safetensors").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} is absent (the PyTorch interop fixtures live outside the repository)",
            dir.display()
        );
        None
    }
}

/// Every tensor of a safetensors file: name → (shape, values).
fn read_safetensors(path: &Path) -> Tensors {
    let mut store = SafetensorsStore::from_file(path);
    store
        .get_all_tensors()
        .expect("readable safetensors")
        .iter()
        .map(|(name, t)| {
            let data = bridge::to_data(t).expect("tensor data").convert::<f32>();
            (
                name.clone(),
                (
                    data.shape().to_vec(),
                    data.try_to_vec::<f32>().expect("f32 values"),
                ),
            )
        })
        .collect()
}

fn dev() -> Device {
    Device::flex()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// max |got − expected| / max |expected|.
fn relative_error(got: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(got.len(), expected.len(), "lengths differ");
    let scale = expected.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
    let diff = got
        .iter()
        .zip(expected)
        .fold(0f64, |m, (a, b)| m.max(f64::from((a - b).abs())));
    diff / scale.max(f64::MIN_POSITIVE)
}

const TOLERANCE: f64 = 1e-4;

fn input(parity: &Tensors, name: &str) -> Tensor<4> {
    let (shape, v) = &parity[name];
    Tensor::<4>::from_data(
        TensorData::new(v.clone(), [shape[0], shape[1], shape[2], shape[3]]),
        &dev(),
    )
}

fn check_embeddings(model: &Classifier, parity: &Tensors, what: &str) {
    let net = model.clone().valid();
    for size in [64, 224] {
        let got = values(
            net.embedder
                .forward(input(parity, &format!("input_{size}"))),
        );
        let err = relative_error(&got, &parity[&format!("embedding_{size}")].1);
        eprintln!("{what}: embeddings at {size} px, max |Δ| / max |expected| = {err:.2e}");
        assert!(
            err <= TOLERANCE,
            "{what}: embeddings at {size} px differ from torchvision by {err:.2e} (max |Δ| / max |expected|)"
        );
    }
}

#[test]
fn torchvision_state_dict_matches_torchvision_stage_by_stage() {
    let Some(dir) = fixtures() else { return };
    let parity = read_safetensors(&dir.join("parity.safetensors"));
    let loaded = load_weights(
        &dir.join("efficientnet_b0_torchvision.pth"),
        &ImportOptions::default(),
        &dev(),
    )
    .expect("the torchvision state dict loads");
    assert_eq!(loaded.kind, SourceKind::TorchvisionStateDict);
    assert_eq!(loaded.objective, Objective::Softmax);
    assert_eq!(loaded.classes.len(), 1000);
    // 309 embedder weights + the classifier's weight and bias.
    assert_eq!(loaded.applied, 311);
    assert!(
        loaded
            .ignored
            .iter()
            .all(|k| k.ends_with("num_batches_tracked")),
        "{:?}",
        loaded.ignored
    );

    // Stage by stage at 64 px, so that a divergence names its stage.
    let net = loaded.model.clone().valid();
    let image0 = input(&parity, "input_64").narrow(0, 0, 1);
    let stages = net.embedder.stage_outputs(image0);
    assert_eq!(stages.len(), 9);
    for (i, stage) in stages.into_iter().enumerate() {
        let (shape, expected) = &parity[&format!("stage{i}_64")];
        assert_eq!(&stage.dims().to_vec(), shape, "stage {i} shape");
        let err = relative_error(&values(stage), expected);
        eprintln!("stage {i}: max |Δ| / max |expected| = {err:.2e}");
        assert!(
            err <= TOLERANCE,
            "stage {i} (features[{i}]) differs from torchvision by {err:.2e}"
        );
    }
    check_embeddings(&loaded.model, &parity, "torchvision .pth");

    // The 1000-way classifier too (dropout is the identity in evaluation).
    let emb = net.embedder.forward(input(&parity, "input_224"));
    let logits = values(net.scores(emb));
    let err = relative_error(&logits, &parity["logits_224"].1);
    eprintln!("torchvision logits at 224 px: {err:.2e}");
    assert!(err <= TOLERANCE, "classifier logits differ by {err:.2e}");
}

#[test]
fn bloodshot_lightning_checkpoint_matches_embeddings_and_aam_cosines() {
    let Some(dir) = fixtures() else { return };
    let parity = read_safetensors(&dir.join("parity.safetensors"));
    let loaded = load_weights(
        &dir.join("bloodshot_lightning.ckpt"),
        &ImportOptions::default(),
        &dev(),
    )
    .expect("the Lightning checkpoint loads");
    assert_eq!(loaded.kind, SourceKind::LightningCheckpoint);
    assert_eq!(loaded.objective, Objective::Aam);
    assert_eq!(
        loaded.classes,
        [
            "BAS", "EBO", "EOS", "LYT", "MON", "MYB", "MYO", "NGB", "NGS", "PMB", "PMO"
        ]
    );
    assert!(matches!(loaded.model.head, Head::Aam(_)));
    check_embeddings(&loaded.model, &parity, "Lightning .ckpt");
    let net = loaded.model.clone().valid();
    let cos = values(net.scores(net.embedder.forward(input(&parity, "input_224"))));
    let err = relative_error(&cos, &parity["cosine_224"].1);
    eprintln!("AAM cosines at 224 px: {err:.2e}");
    assert!(err <= TOLERANCE, "AAM cosines differ by {err:.2e}");
}

#[test]
fn decode_and_resize_match_pil_bicubic() {
    let Some(dir) = fixtures() else { return };
    let parity = read_safetensors(&dir.join("parity.safetensors"));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("parity.json")).unwrap()).unwrap();
    let sample = dir.join("../../real-sample");
    let mut ours = Vec::new();
    for rel in meta["images"].as_array().unwrap() {
        let rgb = bloodshot::data::decode::load_rgb(&sample.join(rel.as_str().unwrap()), 224)
            .expect("decodes");
        bloodshot::data::decode::push_chw(&rgb, 224, &mut ours);
    }
    let expected = &parity["input_224"].1;
    let diffs: Vec<f64> = ours
        .iter()
        .zip(expected)
        .map(|(a, b)| f64::from((a - b).abs()))
        .collect();
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    let max = diffs.iter().cloned().fold(0f64, f64::max);
    eprintln!(
        "decode + resize to 224 px against PIL: mean |Δ| {mean:.5}, max |Δ| {max:.5} (in [0, 1] units)"
    );
    // Measured: mean 0.00023, max 0.0118 (3 levels of 1/255) with our Catmull-Rom bicubic;
    // a bilinear (triangle) resize gives mean 0.00083, max 0.047, and fails here.
    assert!(
        mean < 0.0005 && max < 0.02,
        "our decode + resize differs from PIL's: mean |Δ| {mean:.5}, max |Δ| {max:.5}"
    );
}

#[test]
fn import_export_import_gives_the_same_embeddings_bit_for_bit() {
    let Some(dir) = fixtures() else { return };
    let parity = read_safetensors(&dir.join("parity.safetensors"));
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let imported = import_checkpoint(
        &dir.join("bloodshot_lightning.ckpt"),
        &runs,
        &ImportOptions {
            name: Some("original".into()),
            objective: Some(Objective::AamConsistency),
            ..Default::default()
        },
        &dev(),
    )
    .expect("import");
    assert_eq!(imported.run.id(), "original");
    let info = imported.run.info().unwrap();
    assert_eq!(info.config.objective, Objective::AamConsistency);
    assert!(
        info.source
            .as_deref()
            .unwrap()
            .contains("BloodShot Lightning checkpoint")
    );
    assert_eq!(imported.run.checkpoints(), vec![1]);

    let out = tmp.path().join("weights.safetensors");
    let summary =
        bloodshot::interop::export::export_run(&imported.run, None, &out, &dev()).expect("export");
    // 309 embedder weights + metric_loss.W.
    assert_eq!(summary.tensors, 310);
    let exported = read_safetensors(&out);
    assert_eq!(exported["metric_loss.W"].0, vec![1280, 11]);
    assert_eq!(exported["features.0.1.weight"].0, vec![32]);
    // What `load_state_dict(strict=False)` needs: every exported weight is a key of
    // torchvision's own state dict, with the same shape (torch is not installed here, so
    // the original .pth stands in for `efficientnet_b0().state_dict()`).
    let mut torchvision =
        burn::store::PytorchStore::from_file(dir.join("efficientnet_b0_torchvision.pth"))
            .map_indices_contiguous(false);
    let reference = torchvision.get_all_tensors().unwrap();
    for (name, (shape, _)) in exported.iter().filter(|(n, _)| *n != "metric_loss.W") {
        let t = reference
            .get(name)
            .unwrap_or_else(|| panic!("`{name}` is not a torchvision key"));
        assert_eq!(t.shape.as_slice(), shape.as_slice(), "{name}");
    }
    let weights = reference
        .keys()
        .filter(|k| k.starts_with("features.") && !k.ends_with("num_batches_tracked"))
        .count();
    assert_eq!(weights, 309, "every torchvision feature weight is exported");

    let again = import_checkpoint(
        &out,
        &runs,
        &ImportOptions {
            name: Some("round-trip".into()),
            ..Default::default()
        },
        &dev(),
    )
    .expect("re-import of the export");
    assert_eq!(again.kind, SourceKind::Safetensors);
    assert_eq!(
        again.objective,
        Objective::AamConsistency,
        "objective from the metadata"
    );
    assert_eq!(again.classes, imported.classes, "classes from the metadata");

    let embed = |run: &RunDir| {
        let (_, model) = bloodshot::runs::load_model(run, 1, &dev()).unwrap();
        let net = model.valid();
        values(net.embedder.forward(input(&parity, "input_64")))
    };
    let a = embed(&imported.run);
    let b = embed(&again.run);
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "embeddings changed in the round trip"
    );
}

/// Writes a safetensors file holding `tensors` (name → (shape, values)).
fn write(path: &Path, tensors: &Tensors) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, (s, v))| {
            (
                n.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

#[test]
fn bad_checkpoints_get_one_sentence_and_leave_no_run() {
    let Some(dir) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let base = tmp.path().join("base.safetensors");
    bloodshot::interop::export::export_run(
        &import_checkpoint(
            &dir.join("efficientnet_b0_torchvision.pth"),
            &tmp.path().join("scratch"),
            &ImportOptions::default(),
            &dev(),
        )
        .unwrap()
        .run,
        None,
        &base,
        &dev(),
    )
    .unwrap();
    let good = read_safetensors(&base);
    let import = |name: &str, tensors: Option<Tensors>, opts: ImportOptions| {
        let path = tmp.path().join(name);
        if let Some(t) = tensors {
            write(&path, &t);
        }
        let e = import_checkpoint(&path, &runs, &opts, &dev())
            .expect_err(name)
            .to_string();
        assert!(!e.contains('\n'), "one sentence: {e}");
        e
    };

    std::fs::write(tmp.path().join("notes.pth"), "not a checkpoint at all").unwrap();
    let e = import("notes.pth", None, ImportOptions::default());
    assert!(
        e.contains("notes.pth") && e.contains("neither a PyTorch checkpoint"),
        "{e}"
    );

    // Starts like a zip archive, is not one.
    std::fs::write(tmp.path().join("fake.pth"), b"PK\x03\x04 not really a zip").unwrap();
    let e = import("fake.pth", None, ImportOptions::default());
    assert!(
        e.contains("fake.pth: not a readable PyTorch checkpoint"),
        "{e}"
    );

    let mut missing = good.clone();
    missing.remove("features.3.1.block.1.0.weight");
    let e = import(
        "missing.safetensors",
        Some(missing),
        ImportOptions::default(),
    );
    assert!(e.contains("has no `features.3.1.block.1.0.weight`"), "{e}");

    let mut wrong = good.clone();
    wrong.insert(
        "features.0.0.weight".into(),
        (vec![32, 3, 5, 5], vec![0.0; 32 * 3 * 25]),
    );
    let e = import(
        "wrong-shape.safetensors",
        Some(wrong),
        ImportOptions::default(),
    );
    assert!(
        e.contains("`features.0.0.weight` has shape [32, 3, 5, 5]") && e.contains("[32, 3, 3, 3]"),
        "{e}"
    );

    // EfficientNet-B1 repeats stage 1 twice: features.1.1.* does not exist in B0.
    let mut b1 = good.clone();
    b1.insert(
        "features.1.1.block.0.0.weight".into(),
        (vec![16, 1, 3, 3], vec![0.0; 144]),
    );
    let e = import("b1.safetensors", Some(b1), ImportOptions::default());
    assert!(
        e.contains("`features.1.1.block.0.0.weight` is not a weight of EfficientNet-B0"),
        "{e}"
    );

    let e = import(
        "classes.safetensors",
        Some(good.clone()),
        ImportOptions {
            classes: Some(vec!["all".into(), "hem".into()]),
            ..Default::default()
        },
    );
    assert!(
        e.contains("--classes names 2 classes but `classifier.1.weight` holds 1000"),
        "{e}"
    );

    let e = import(
        "objective.safetensors",
        Some(good.clone()),
        ImportOptions {
            objective: Some(Objective::Aam),
            ..Default::default()
        },
    );
    assert!(
        e.contains("needs AAMSoftmax class centres `metric_loss.W`"),
        "{e}"
    );

    assert!(
        !runs.exists() || std::fs::read_dir(&runs).unwrap().next().is_none(),
        "a failed import left a run folder behind"
    );
}

/// `train --init FILE|RUN`: a new run's embedder starts as the file's (or the run's last
/// checkpoint's) — the fixture's embeddings before any training — with a fresh head for the
/// new run's base classes.
#[test]
fn init_from_weights_reproduces_their_embeddings_with_a_fresh_head() {
    use bloodshot::train::init::initial_model;
    let Some(dir) = fixtures() else { return };
    let parity = read_safetensors(&dir.join("parity.safetensors"));
    let pth = dir.join("efficientnet_b0_torchvision.pth");
    let model = initial_model(Objective::AamConsistency, 3, Some(&pth), &dev()).expect("init");
    check_embeddings(&model, &parity, "--init torchvision .pth");
    match &model.head {
        Head::Aam(h) => assert_eq!(
            h.weight.val().dims(),
            [3, 1280],
            "a head for the base classes"
        ),
        other => panic!("an AAM head, got {other:?}"),
    }

    // From a run: the imported Lightning checkpoint's embedder, bit for bit.
    let tmp = tempfile::tempdir().unwrap();
    let imported = import_checkpoint(
        &dir.join("bloodshot_lightning.ckpt"),
        &tmp.path().join("runs"),
        &ImportOptions::default(),
        &dev(),
    )
    .expect("import");
    let from_run =
        initial_model(Objective::Softmax, 2, Some(&imported.run.path), &dev()).expect("from run");
    let (_, original) = bloodshot::runs::load_model(&imported.run, 1, &dev()).unwrap();
    let image = input(&parity, "input_64");
    assert_eq!(
        values(from_run.valid().embedder.forward(image.clone())),
        values(original.valid().embedder.forward(image)),
    );
    check_embeddings(&from_run, &parity, "--init run");

    // A file that holds no weights: one sentence naming it.
    let junk = tmp.path().join("notes.pth");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let e = initial_model(Objective::Softmax, 2, Some(&junk), &dev())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("cannot start from --init: ") && e.contains("notes.pth") && !e.contains('\n'),
        "{e}"
    );
}

/// While an import writes its run, the run (once `RunDir::open` accepts it) never reads as
/// interrupted: a console would otherwise offer to resume a run that is being written. A
/// second thread watches the runs folder without pausing for the whole import.
#[test]
fn an_import_being_written_never_reads_as_interrupted() {
    let Some(dir) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let done = std::sync::atomic::AtomicBool::new(false);
    let (looks, seen) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut looks = 0usize;
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                for entry in std::fs::read_dir(&runs).into_iter().flatten().flatten() {
                    if let Ok(run) = RunDir::open(&entry.path()) {
                        looks += 1;
                        if run.interrupted() {
                            seen.push(format!("{:?}", run.status()));
                        }
                    }
                }
            }
            (looks, seen)
        });
        import_checkpoint(
            &dir.join("bloodshot_lightning.ckpt"),
            &runs,
            &ImportOptions::default(),
            &dev(),
        )
        .expect("import");
        done.store(true, std::sync::atomic::Ordering::Release);
        watcher.join().unwrap()
    });
    assert!(
        seen.is_empty(),
        "read as interrupted {} times while written, first as {}",
        seen.len(),
        seen[0]
    );
    assert!(looks > 0, "the run folder was never seen while written");
}
