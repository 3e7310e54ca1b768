//! Model files and checkpoints: round trips, damaged files, and a fuzz test of the loader.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;
use retrograd_nn::io::{load_model_file, match_params, save_model_file, Checkpoint, NamedArray};
use retrograd_nn::optim::OptimState;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrograd-nn-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn params() -> Vec<NamedArray> {
    vec![
        NamedArray::new("0.bias", vec![3], vec![0.1, -0.2, 0.3]).unwrap(),
        NamedArray::new("0.weight", vec![3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap(),
    ]
}

/// A valid model file's bytes, written once through the public API.
fn model_bytes() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let path = tmp("reference.safetensors");
            let arch = (
                "architecture".to_string(),
                "{\"model\":\"mlp\"}".to_string(),
            );
            save_model_file(&path, &params(), &BTreeMap::from([arch])).unwrap();
            std::fs::read(path).unwrap()
        })
        .clone()
}

fn load_bytes(name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = tmp(name);
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, bytes).unwrap();
    load_model_file(&path)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn missing_file_is_named() {
    let e = load_model_file(tmp("nope.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nope.safetensors") && e.contains("No such file"),
        "{e}"
    );
}

#[test]
fn truncated_file_is_rejected_with_its_name() {
    let bytes = model_bytes();
    let e = load_bytes("cut.safetensors", &bytes[..bytes.len() - 5]).unwrap_err();
    assert!(
        e.starts_with(&tmp("cut.safetensors").display().to_string()),
        "{e}"
    );
    assert!(e.contains("not a valid safetensors file"), "{e}");
    let e = load_bytes("tiny.safetensors", &bytes[..4]).unwrap_err();
    assert!(e.contains("not a valid safetensors file"), "{e}");
}

#[test]
fn corrupted_header_is_rejected() {
    let mut bytes = model_bytes();
    bytes[9] = b'#'; // inside the JSON header
    let e = load_bytes("header.safetensors", &bytes).unwrap_err();
    assert!(e.contains("not a valid safetensors file"), "{e}");
    let mut bytes = model_bytes();
    bytes[0..8].copy_from_slice(&u64::MAX.to_le_bytes()); // absurd header length
    assert!(load_bytes("length.safetensors", &bytes).is_err());
}

#[test]
fn mismatched_model_is_rejected_by_name() {
    let want = vec![
        ("0.weight".to_string(), vec![3, 2]),
        ("0.bias".to_string(), vec![3]),
        ("1.weight".to_string(), vec![2, 3]),
    ];
    let e = match_params("m.safetensors", &want, params())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "m.safetensors: parameter `1.weight` (shape [2, 3]) is missing"
    );
    let e = match_params("m.safetensors", &want[..1], params())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`0.bias` in the file does not belong"), "{e}");
}

#[test]
fn checkpoint_round_trip_and_damage() {
    let ckpt = Checkpoint {
        params: params(),
        optimizer_name: "adam".into(),
        optimizer: OptimState {
            buffers: vec![
                ("0.m".into(), vec![0.5; 3]),
                ("0.v".into(), vec![0.25; 3]),
                ("1.m".into(), vec![1.5; 6]),
                ("1.v".into(), vec![2.5; 6]),
            ],
            steps: vec![7, 7],
        },
        epoch: 3,
        rng: [u64::MAX, 0, 12345, 1 << 40],
        metadata: BTreeMap::from([("history".into(), "[]".into())]),
    };
    let path = tmp("ckpt/ckpt.safetensors");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ckpt.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap(), ckpt);
    // no temporary file is left behind
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(e.contains("ckpt.safetensors"), "{e}");
    // a model file is not a checkpoint
    let model = tmp("model-not-ckpt.safetensors");
    std::fs::write(&model, model_bytes()).unwrap();
    let e = Checkpoint::load(&model).unwrap_err().to_string();
    assert!(e.contains("not a training checkpoint"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary bytes never make the loader panic.
    #[test]
    fn loader_survives_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = load_bytes("fuzz-random.safetensors", &bytes);
    }

    /// Flipping, cutting or extending a valid file never makes the loader panic, and a
    /// file it accepts has consistent arrays.
    #[test]
    fn loader_survives_damaged_files(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
        extra in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut bytes = model_bytes();
        for (at, value) in flips {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        bytes.extend(extra);
        let path = tmp("fuzz-damaged.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(file) = load_model_file(&path) {
            for p in file.params {
                prop_assert_eq!(p.shape.iter().product::<usize>(), p.data.len());
                prop_assert!(p.data.iter().all(|x| x.is_finite()));
            }
        }
        let _ = Checkpoint::load(&path);
    }
}

// ---- Metadata that disagrees with the arrays, or asks for absurd sizes ----

use retrograd_nn::data::Normalizer;
use retrograd_nn::train::{Classifier, ModelKind, Silent, TrainConfig, Trainer};

/// A small classifier's model file (inputs of shape [4], one hidden layer of 3, 3 classes).
fn small_model(name: &str) -> PathBuf {
    let config = TrainConfig {
        hidden: vec![3],
        ..TrainConfig::default()
    };
    let norm = Normalizer {
        mean: vec![0.0],
        std: vec![1.0],
    };
    let path = tmp(name);
    Classifier::build(&config, &[4], 3, norm)
        .unwrap()
        .save(&path)
        .unwrap();
    path
}

/// Rewrites one metadata entry of the model file at `path`, keeping its arrays.
fn set_metadata(path: &PathBuf, key: &str, value: &str) {
    let mut file = load_model_file(path).unwrap();
    file.metadata.insert(key.to_string(), value.to_string());
    save_model_file(path, &file.params, &file.metadata).unwrap();
}

/// Loads the classifier at `path` and returns its error, which must name the file.
fn load_error(path: &PathBuf) -> String {
    let e = match Classifier::load(path) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e.to_string(),
    };
    assert!(e.contains(&path.display().to_string()), "{e}");
    e
}

#[test]
fn model_file_asking_for_a_huge_hidden_layer_is_refused_before_building() {
    let path = small_model("huge-hidden.safetensors");
    let mut config: serde_json::Value =
        serde_json::from_str(&load_model_file(&path).unwrap().metadata["config"]).unwrap();
    config["hidden"] = serde_json::json!([1_000_000_000_000u64]);
    set_metadata(&path, "config", &config.to_string());
    let e = load_error(&path);
    assert!(e.contains("1.weight") && e.contains("1000000000000"), "{e}");
}

#[test]
fn model_file_asking_for_a_huge_class_count_is_refused_before_building() {
    let path = small_model("huge-classes.safetensors");
    set_metadata(&path, "num_classes", "10000000000000");
    let e = load_error(&path);
    assert!(
        e.contains("num_classes") && e.contains("10000000000000"),
        "{e}"
    );
}

#[test]
fn model_file_input_shape_whose_product_overflows_is_refused() {
    let path = small_model("wrapping-shape.safetensors");
    // 2^62 · 4 wraps to 0 in unchecked arithmetic
    set_metadata(&path, "input_shape", "[4611686018427387904, 4]");
    let e = load_error(&path);
    assert!(e.contains("input_shape"), "{e}");
    set_metadata(&path, "input_shape", "[0]");
    let e = load_error(&path);
    assert!(e.contains("input_shape"), "{e}");
}

#[test]
fn model_file_with_non_finite_normaliser_or_huge_epoch_is_refused() {
    let path = small_model("bad-normalizer.safetensors");
    set_metadata(&path, "normalizer", r#"{"mean":[1e300],"std":[1.0]}"#);
    let e = load_error(&path);
    assert!(e.contains("normalizer"), "{e}");
    let path = small_model("bad-epoch.safetensors");
    set_metadata(&path, "epoch", "18446744073709551615");
    let e = load_error(&path);
    assert!(e.contains("epoch"), "{e}");
}

/// A checkpoint of a short run on the bundled digits (Adam): an MLP with 4 hidden units,
/// or a CNN of 2 and 2 channels.
fn small_checkpoint(name: &str) -> PathBuf {
    small_checkpoint_of(name, ModelKind::Mlp)
}

fn small_checkpoint_of(name: &str, model: ModelKind) -> PathBuf {
    let path = tmp(name);
    let config = TrainConfig {
        hidden: if model == ModelKind::Mlp {
            vec![4]
        } else {
            vec![2, 2]
        },
        epochs: 1,
        train_limit: Some(40),
        ..TrainConfig::for_model(model)
    };
    let mut trainer = Trainer::new(config).unwrap();
    trainer.set_checkpoint(Some(path.clone()));
    trainer.run(&mut Silent).unwrap();
    path
}

fn resume_error(path: &PathBuf) -> String {
    let e = match Trainer::resume(path, None) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e.to_string(),
    };
    assert!(e.contains(&path.display().to_string()), "{e}");
    e
}

/// Widths the settings allow, but two conv blocks of 65,536 channels need a kernel of
/// 65,536² × 9 values (154 GB) that the checkpoint does not hold.
#[test]
fn checkpoint_asking_for_huge_conv_blocks_is_refused_before_building() {
    let path = small_checkpoint_of("huge-channels.ckpt.safetensors", ModelKind::Cnn);
    let mut file = load_model_file(&path).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&file.metadata["config"]).unwrap();
    config["hidden"] = serde_json::json!([65_536, 65_536]);
    file.metadata.insert("config".into(), config.to_string());
    save_model_file(&path, &file.params, &file.metadata).unwrap();
    let e = resume_error(&path);
    assert!(
        e.contains("0.weight") && e.contains("[65536, 1, 3, 3]"),
        "{e}"
    );
}

#[test]
fn checkpoint_counters_beyond_their_bounds_are_refused() {
    let path = small_checkpoint("counters.ckpt.safetensors");
    let original = load_model_file(&path).unwrap();
    for (key, value) in [
        ("epoch", "18446744073709551615"),
        ("optimizer_steps", "[18446744073709551615, 1, 1, 1]"),
    ] {
        let mut meta = original.metadata.clone();
        meta.insert(key.into(), value.into());
        save_model_file(&path, &original.params, &meta).unwrap();
        let e = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains(key),
            "{e}"
        );
    }
}

#[test]
fn checkpoint_optimizer_buffer_of_the_wrong_size_is_refused() {
    let path = small_checkpoint("short-buffer.ckpt.safetensors");
    let mut file = load_model_file(&path).unwrap();
    let buffer = file
        .params
        .iter_mut()
        .find(|a| a.name == "optim/0.m")
        .expect("adam state of the first parameter");
    *buffer = NamedArray::new("optim/0.m", vec![1], vec![0.0]).unwrap();
    save_model_file(&path, &file.params, &file.metadata).unwrap();
    let e = resume_error(&path);
    assert!(e.contains("0.m"), "{e}");
}

// ---- Temporary files of interrupted writes ----

/// The id of a process that has exited (and been reaped).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[cfg(target_os = "linux")]
#[test]
fn temporary_files_of_killed_writers_are_removed_by_the_next_write() {
    let dir = tmp("stale-temp");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    // A writer killed between creating its temporary file and renaming it.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("printf partial > .model.safetensors.tmp-$$-0; kill -9 $$")
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(!status.success());
    let dead = dead_pid();
    let live = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let names = [
        format!(".model.safetensors.tmp-{dead}-3"),
        format!(".model.safetensors.tmp-{}-0", live.id()), // a write in progress
        format!(".model.safetensors.tmp-{}-999999", std::process::id()), // ours
        format!(".other.safetensors.tmp-{dead}-0"),        // another file's
        ".model.safetensors.tmp-backup".to_string(),       // not our naming
        format!(".model.safetensors.tmp-{dead}-0x"),
    ];
    for n in &names {
        std::fs::write(dir.join(n), b"x").unwrap();
    }
    save_model_file(&path, &params(), &BTreeMap::new()).unwrap();
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut want: Vec<String> = names[1..].to_vec();
    want.push("model.safetensors".into());
    want.sort();
    let mut live = live;
    live.kill().unwrap();
    live.wait().unwrap();
    assert_eq!(left, want);
    assert_eq!(load_model_file(&path).unwrap().params, params());
}
