//! The `retrograd` binary end to end: train (also as the default command), eval, predict.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_retrograd"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrograd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command that must fail as a reported error: exit status 1 (not a panic, not a
/// signal), within `limit`; returns its stdout and stderr.
fn fails_within(cmd: &mut Command, limit: Duration) -> (String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{cmd:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{cmd:?} should fail with status 1:\n{stdout}\n{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{cmd:?}: {stderr}");
    (stdout, stderr)
}

/// [`fails_within`] a minute; returns stderr.
fn fails(cmd: &mut Command) -> String {
    fails_within(cmd, Duration::from_secs(60)).1
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn train_json_then_eval_reproduces_accuracy_then_predict() {
    let model = tmp("m.safetensors");
    let plot = tmp("m.png");
    let out = run(bin()
        .args(["train", "--epochs", "5", "--json", "--seed", "3"])
        .arg("--out")
        .arg(&model)
        .arg("--plot")
        .arg(&plot));
    let t = json(&out);
    assert_eq!(t["epochs"], 5);
    let acc = t["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "{t}");
    assert_eq!(&std::fs::read(&plot).unwrap()[1..4], b"PNG");
    assert!(tmp("m.ckpt.safetensors").exists());

    let e = json(&run(bin().args(["eval", "--json", "--model"]).arg(&model)));
    assert_eq!(e["accuracy"].as_f64().unwrap(), acc);
    assert_eq!(e["samples"], 359);
    assert_eq!(e["confusion_matrix"].as_array().unwrap().len(), 10);

    let text = run(bin().args(["eval", "--model"]).arg(&model));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("confusion matrix") && text.contains("accuracy"),
        "{text}"
    );

    let p = run(bin()
        .args(["predict", "--data", "digits", "--model"])
        .arg(&model));
    let labels: Vec<usize> = String::from_utf8(p.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(labels.len(), 359);
    assert!(labels.iter().all(|&l| l < 10));
}

#[test]
fn no_subcommand_trains_with_train_options() {
    let model = tmp("default.safetensors");
    let out = run(bin()
        .args(["--epochs", "2", "--json", "--plot", "none", "--out"])
        .arg(&model));
    let t = json(&out);
    assert_eq!(t["epochs"], 2);
    assert_eq!(t["config"]["model"], "mlp");
    assert_eq!(t["config"]["data"], "digits");
    assert!(model.exists());
}

#[test]
fn text_output_has_epochs_and_summary() {
    let model = tmp("text.safetensors");
    let out = run(bin()
        .args(["train", "--epochs", "2", "--plot", "none", "--out"])
        .arg(&model));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("epoch   1/2") && text.contains("epoch   2/2"),
        "{text}"
    );
    assert!(
        text.contains("test accuracy") && text.contains("model written to"),
        "{text}"
    );
    // not a terminal: no progress bar on stderr
    assert!(!String::from_utf8(out.stderr).unwrap().contains("loss"));
}

#[test]
fn interrupted_run_resumes_to_the_same_model() {
    let full = tmp("full.safetensors");
    run(bin()
        .args([
            "train", "--epochs", "4", "--json", "--plot", "none", "--out",
        ])
        .arg(&full));
    let part = tmp("part.safetensors");
    let ckpt = tmp("part.ckpt.safetensors");
    run(bin()
        .args([
            "train",
            "--epochs",
            "4",
            "--stop-after",
            "2",
            "--json",
            "--plot",
            "none",
            "--out",
        ])
        .arg(&part));
    let r = json(&run(bin()
        .args(["train", "--json", "--plot", "none", "--resume"])
        .arg(&ckpt)
        .arg("--out")
        .arg(&part)));
    assert_eq!(r["epochs"], 4);
    let a = retrograd_nn::io::load_model_file(&full).unwrap();
    let b = retrograd_nn::io::load_model_file(&part).unwrap();
    assert_eq!(a.params, b.params);
}

#[test]
fn errors_name_the_file_and_exit_nonzero() {
    let bad = tmp("bad.safetensors");
    std::fs::write(&bad, b"garbage").unwrap();
    let err = fails(bin().args(["eval", "--model"]).arg(&bad));
    assert!(err.contains("bad.safetensors"), "{err}");

    let err = fails(bin().args(["train", "--data", "csv:/nonexistent/table.csv"]));
    assert!(err.contains("/nonexistent/table.csv"), "{err}");

    let err = fails(bin().args(["train", "--data", "idx:/nonexistent-dir"]));
    assert!(
        err.contains("/nonexistent-dir/train-images-idx3-ubyte"),
        "{err}"
    );

    // A value clap rejects: its usage error, status 2.
    let out = bin().args(["train", "--model", "rnn"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rnn"));
}

/// Command-line arguments from strings and paths.
fn os(args: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_owned()).collect()
}

/// A file standing for a model trained earlier; refused runs must leave it as it is.
fn existing_model(name: &str) -> PathBuf {
    let path = tmp(name);
    std::fs::write(&path, b"a model trained earlier").unwrap();
    path
}

fn assert_untouched(model: &Path) {
    assert_eq!(
        std::fs::read(model).unwrap(),
        b"a model trained earlier",
        "{} was overwritten",
        model.display()
    );
}

/// Every setting out of range stops the run before any training: status 1, a message that
/// names the setting and its range, nothing printed or written, the old model kept.
#[test]
fn settings_out_of_range_are_refused_before_training() {
    let cases: &[(&[&str], &str)] = &[
        (&["--lr=-1"], "--lr must be a finite number above 0, got -1"),
        (
            &["--lr", "0"],
            "--lr must be a finite number above 0, got 0",
        ),
        (
            &["--lr", "nan"],
            "--lr must be a finite number above 0, got NaN",
        ),
        (
            &["--lr", "inf"],
            "--lr must be a finite number above 0, got inf",
        ),
        (
            &["--weight-decay=-5"],
            "--weight-decay must be a finite number of at least 0, got -5",
        ),
        (
            &["--weight-decay", "nan"],
            "--weight-decay must be a finite number of at least 0, got NaN",
        ),
        (
            &["--weight-decay", "inf"],
            "--weight-decay must be a finite number of at least 0, got inf",
        ),
        (
            &["--clip-norm=-1"],
            "--clip-norm must be a finite number above 0, got -1",
        ),
        (
            &["--clip-norm", "0"],
            "--clip-norm must be a finite number above 0, got 0",
        ),
        (
            &["--clip-norm", "NaN"],
            "--clip-norm must be a finite number above 0, got NaN",
        ),
        (
            &["--clip-norm", "inf"],
            "--clip-norm must be a finite number above 0, got inf",
        ),
        (
            &["--epochs", "0"],
            "--epochs must be between 1 and 1000000, got 0",
        ),
        (
            &["--epochs", "18446744073709551615"],
            "--epochs must be between 1 and 1000000",
        ),
        (
            &["--hidden", "0"],
            "every --hidden width must be between 1 and 65536, got 0",
        ),
        (
            &["--hidden", "64,0"],
            "every --hidden width must be between 1 and 65536, got 0",
        ),
        (
            &["--hidden", "65537"],
            "every --hidden width must be between 1 and 65536, got 65537",
        ),
        (
            &["--model", "cnn", "--hidden", "16"],
            "--hidden for the cnn must be C1,C2[,DENSE...]",
        ),
        (
            &["--batch-size", "0"],
            "--batch-size must be at least 1, got 0",
        ),
        (&["--limit", "0"], "--limit must be at least 1, got 0"),
        (
            &["--schedule", "step:0:0.5"],
            "--schedule step:SIZE:GAMMA: SIZE must be at least 1",
        ),
        (
            &["--schedule", "step:10:nan"],
            "--schedule step:SIZE:GAMMA: GAMMA must be above 0 and at most 1",
        ),
        (
            &["--schedule", "cosine:inf"],
            "--schedule cosine:MIN: MIN must be between 0 and 1, got inf",
        ),
        (
            &["--schedule", "warmup:0,cosine"],
            "--schedule warmup:STEPS: STEPS must be at least 1",
        ),
        (
            &["--threads", "0"],
            "--threads must be between 1 and 1024, got 0",
        ),
        (
            &["--threads", "100000"],
            "--threads must be between 1 and 1024, got 100000",
        ),
    ];
    let model = existing_model("kept.safetensors");
    let plot = tmp("kept.png");
    let checkpoint = tmp("kept.ckpt.safetensors");
    for (args, message) in cases {
        let (stdout, stderr) = fails_within(
            bin()
                .arg("train")
                .args(*args)
                .arg("--out")
                .arg(&model)
                .arg("--plot")
                .arg(&plot),
            Duration::from_secs(30),
        );
        assert!(
            stderr.starts_with(&format!("error: {message}")),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("learning rate"), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?} started training");
        assert_untouched(&model);
        assert!(!plot.exists() && !checkpoint.exists(), "{args:?}");
    }
    // Also with no subcommand, and with --resume (whose checkpoint is never read).
    let err = fails(
        bin()
            .args(["--epochs", "0", "--plot", "none", "--out"])
            .arg(&model),
    );
    assert!(err.starts_with("error: --epochs must be"), "{err}");
    let err = fails(
        bin()
            .args([
                "train",
                "--lr=-1",
                "--resume",
                "absent.ckpt.safetensors",
                "--out",
            ])
            .arg(&model),
    );
    assert!(err.starts_with("error: --lr must be"), "{err}");
    assert_untouched(&model);
}

/// `--epochs` on `--resume` may extend the run, not cut it below what is done.
#[test]
fn resume_refuses_fewer_epochs_than_done() {
    let model = tmp("short.safetensors");
    run(bin()
        .args([
            "train", "--epochs", "3", "--json", "--plot", "none", "--out",
        ])
        .arg(&model));
    let kept = existing_model("short-resumed.safetensors");
    let err = fails(
        bin()
            .args(["train", "--epochs", "2", "--plot", "none", "--resume"])
            .arg(tmp("short.ckpt.safetensors"))
            .arg("--out")
            .arg(&kept),
    );
    assert!(
        err.starts_with("error: --epochs must be at least the 3 epochs that ")
            && err.contains("short.ckpt.safetensors has done, got 2"),
        "{err}"
    );
    assert_untouched(&kept);
}

/// Output paths are checked before training: a directory, a missing or unwritable
/// directory, an image format the plot cannot have, two outputs in one file.
#[test]
fn unusable_output_paths_are_refused_before_training() {
    let dir = tmp("outputs");
    std::fs::create_dir_all(&dir).unwrap();
    let model = existing_model("outputs-kept.safetensors");
    let file = existing_model("not-a-directory");
    let missing = dir.join("missing").join("m.safetensors");
    let gif = dir.join("plot.gif");
    let under_file = file.join("c.safetensors");
    let png_in_missing = missing.with_extension("png");
    let cases: Vec<(Vec<OsString>, String)> = vec![
        (
            os(&[&"--out", &dir]),
            format!("--out {}: is a directory", dir.display()),
        ),
        (
            os(&[&"--out", &missing]),
            format!(
                "--out {}: the directory {} does not exist",
                missing.display(),
                dir.join("missing").display()
            ),
        ),
        (
            os(&[&"--out", &model, &"--checkpoint", &under_file]),
            format!(
                "--checkpoint {}: {} is not a directory",
                under_file.display(),
                file.display()
            ),
        ),
        (
            os(&[&"--out", &model, &"--checkpoint", &dir]),
            format!("--checkpoint {}: is a directory", dir.display()),
        ),
        (
            os(&[&"--out", &model, &"--checkpoint", &model]),
            format!("--out and --checkpoint name the same file, {}", model.display()),
        ),
        (
            os(&[&"--out", &model, &"--plot", &dir]),
            format!("--plot {}: is a directory", dir.display()),
        ),
        (
            os(&[&"--out", &model, &"--plot", &gif]),
            format!(
                "--plot {}: the image format follows the extension, which must be .png, .jpg, .jpeg, .bmp",
                gif.display()
            ),
        ),
        (
            os(&[&"--out", &model, &"--plot", &png_in_missing]),
            format!("--plot {}: the directory", png_in_missing.display()),
        ),
    ];
    for (args, message) in &cases {
        let (stdout, stderr) = fails_within(
            bin().arg("train").args(args).current_dir(&dir),
            Duration::from_secs(30),
        );
        assert!(
            stderr.starts_with(&format!("error: {message}")),
            "{args:?}: {stderr}"
        );
        assert_eq!(stdout, "", "{args:?} started training");
        assert_untouched(&model);
    }
    // Nothing was left in the directories that were checked.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    assert!(!tmp("outputs-kept.ckpt.safetensors").exists());
}

/// Nobody, not even root, creates files in /proc: the plot is refused before the model
/// is written.
#[cfg(target_os = "linux")]
#[test]
fn unwritable_plot_directory_is_refused_before_the_model_is_written() {
    let model = existing_model("proc-kept.safetensors");
    let (stdout, stderr) = fails_within(
        bin()
            .args(["train", "--plot", "/proc/training.png", "--out"])
            .arg(&model),
        Duration::from_secs(30),
    );
    assert!(
        stderr.starts_with(
            "error: --plot /proc/training.png: cannot create files in the directory /proc"
        ),
        "{stderr}"
    );
    assert_eq!(stdout, "");
    assert_untouched(&model);
}

#[test]
fn csv_training_and_prediction_without_labels() {
    // two separable blobs in 3 features
    let table = tmp("blobs.csv");
    let mut text = String::from("a,b,c,label\n");
    for i in 0..100 {
        let (c, off) = (i % 2, if i % 2 == 0 { -2.0 } else { 2.0 });
        let j = i as f32 * 0.01;
        text.push_str(&format!("{},{},{},{c}\n", off + j, off - j, j));
    }
    std::fs::write(&table, &text).unwrap();
    let model = tmp("blobs.safetensors");
    let data = format!("csv:{}", table.display());
    let t = json(&run(bin()
        .args([
            "train", "--epochs", "10", "--json", "--plot", "none", "--data", &data, "--out",
        ])
        .arg(&model)));
    assert_eq!(t["test_accuracy"].as_f64().unwrap(), 1.0, "{t}");
    let rows = tmp("rows.csv");
    std::fs::write(&rows, "-2.0,-2.0,0.5\n2.0,2.0,0.5\n").unwrap();
    let p = run(bin()
        .args(["predict", "--data"])
        .arg(format!("csv:{}", rows.display()))
        .arg("--model")
        .arg(&model));
    assert_eq!(String::from_utf8(p.stdout).unwrap(), "0\n1\n");
}

#[test]
fn precision_flag_trains_in_bf16_and_f16_and_resume_keeps_it() {
    for p in ["bf16", "f16"] {
        let model = tmp(&format!("{p}.safetensors"));
        let ckpt = tmp(&format!("{p}.ckpt.safetensors"));
        let out = run(bin()
            .args([
                "train", "--epochs", "1", "--limit", "300", "--json", "--plot", "none",
            ])
            .args(["--precision", p, "--out"])
            .arg(&model)
            .arg("--checkpoint")
            .arg(&ckpt));
        let t = json(&out);
        assert_eq!(t["precision"], p);
        assert_eq!(t["config"]["precision"], p);
        let out = run(bin()
            .args([
                "train", "--epochs", "2", "--json", "--plot", "none", "--resume",
            ])
            .arg(&ckpt)
            .arg("--out")
            .arg(&model));
        let t = json(&out);
        assert_eq!(
            (t["precision"].as_str(), t["epochs"].as_u64()),
            (Some(p), Some(2))
        );
    }
    // A usage error (clap's status 2), naming the choices.
    let out = bin().args(["train", "--precision", "f8"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("f32, bf16 or f16"), "{err}");
}

/// Without the `mpi` feature `--distributed` says how to get a build that has it; a bad
/// `--timeout` is refused either way.
#[test]
fn distributed_without_mpi_says_how_to_build_it() {
    let out = tmp("distributed.safetensors");
    let out = out.to_str().unwrap();
    let err = fails(bin().args(["train", "--timeout", "0", "--out", out, "--plot", "none"]));
    assert!(
        err.contains("--timeout must be finite and above 0"),
        "{err}"
    );
    if cfg!(feature = "mpi") {
        return;
    }
    let err = fails(bin().args(["train", "--distributed", "--out", out, "--plot", "none"]));
    assert!(err.contains("--features mpi"), "{err}");
    assert!(!std::path::Path::new(out).exists());
}
