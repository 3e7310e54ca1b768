//! Property tests ("fuzzing") of every reader of untrusted input in this crate: model files
//! and checkpoints (safetensors with JSON metadata), IDX files (raw and gzip) and CSV
//! tables (raw and gzip).
//!
//! Each case is either arbitrary bytes or a valid file damaged in a structure-aware way
//! (bytes flipped, cut, spliced from another file; header numbers set to huge, zero or
//! negative values; metadata JSON fields given huge numbers, wrong types or removed), then
//! read through the public API. Every case must:
//! - return (`Ok` or `Err`) without a panic or an abort,
//! - within [`TIME_LIMIT`],
//! - with at most 64 × the input size (the larger of compressed and decompressed) plus a
//!   constant bytes allocated at any moment (counted by this binary's global allocator),
//! - and, on `Err`, name the file.
//!
//! The number of cases of each property is `PROPTEST_CASES` (default: 1,000 to 3,000 per
//! property, seconds in all in release); a long run sets it high. Each property prints to
//! stderr how many cases it ran, how many files the reader accepted, and how long it took.
//! A failure prints the smallest failing input found.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use retrograd_nn::data::{
    read_csv, read_idx_images, read_idx_labels, read_idx_pair, DataSpec, Normalizer,
};
use retrograd_nn::io::{load_model_file, Checkpoint};
use retrograd_nn::train::{Classifier, ModelKind, Silent, TrainConfig, Trainer};
use serde_json::{json, Value};

// ---- Allocation accounting ----

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// No single allocation of this test binary may exceed this: a request above it fails
/// (and so aborts the binary) instead of exhausting the machine's memory.
const HARD_CAP: usize = 1 << 30;

/// Counts the bytes live on each thread, and the peak since [`peak_during`] reset it.
struct Counting;

fn account(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now)
            }
        });
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_CAP {
            return std::ptr::null_mut();
        }
        let p = System.alloc(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_CAP {
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        account(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_CAP {
            return std::ptr::null_mut();
        }
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the most bytes this thread had allocated at once
/// beyond what it held before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    (out, peak.max(0) as usize)
}

// ---- Running one case ----

/// A case that takes longer than this is a hang (real cases take milliseconds).
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// Allocation allowed beyond 64 × the input: the test's own bookkeeping, the network's
/// tensors' fixed costs, and for resumed checkpoints the bundled digits data set.
const SLACK: usize = 2 << 20;
const SLACK_WITH_DATA: usize = 16 << 20;

/// Runs `f` on a thread of its own, and fails if it panics, runs past [`TIME_LIMIT`] or
/// allocates more than `budget` bytes at once. Returns what `f` returned.
fn run_case<T: Send + 'static>(budget: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let result = peak_during(f);
        let _ = done.send(());
        result
    });
    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(TIME_LIMIT) {
        panic!("the case ran longer than {TIME_LIMIT:?}");
    }
    match worker.join() {
        Ok((out, peak)) => {
            assert!(
                peak <= budget,
                "the case allocated {peak} bytes at once; the bound is {budget}"
            );
            out
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The allocation bound for an input of `len` bytes (decompressed size included).
fn budget(len: usize, slack: usize) -> usize {
    64 * len + slack
}

/// The size of `bytes` after gzip decompression (the bytes themselves if not gzip).
fn unpacked_len(bytes: &[u8]) -> usize {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return bytes.len();
    }
    let mut out = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(bytes)
        .take(256 << 20)
        .read_to_end(&mut out);
    out.len().max(bytes.len())
}

/// Asserts that every error names one of `paths`; returns whether the first reader
/// accepted the file.
fn errors_name(results: &[Result<(), String>], paths: &[&Path]) -> Result<bool, TestCaseError> {
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        prop_assert!(
            paths.iter().any(|p| e.contains(&p.display().to_string())),
            "error does not name the file: {}",
            e
        );
    }
    Ok(results.first().is_some_and(Result::is_ok))
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrograd-fuzz-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `check` on `PROPTEST_CASES` (or `default_cases`) values of `strategy`, and prints
/// how many cases ran, how many of them the reader accepted (`check` returns whether it
/// did), and how long they took.
fn fuzz<S: Strategy>(
    name: &str,
    default_cases: u32,
    strategy: S,
    check: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let mut config = Config {
        max_shrink_iters: 4096,
        // The failing input is printed; a long run writes nothing into the tree.
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    let (cases, accepted) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let started = Instant::now();
    let result = TestRunner::new(config).run(&strategy, |value| {
        cases.fetch_add(1, Ordering::Relaxed);
        if check(value)? {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    // Past the harness's capture, so that long runs report their size.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz {name}: {} cases ({} accepted) in {:.1?}",
        cases.load(Ordering::Relaxed),
        accepted.load(Ordering::Relaxed),
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

// ---- Valid files to start from ----

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn normalizer(mean: Vec<f32>, std: Vec<f32>) -> Normalizer {
    Normalizer { mean, std }
}

/// Model files of a small MLP and a small CNN.
fn model_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = scratch("seeds");
        let mlp = TrainConfig {
            hidden: vec![3],
            ..TrainConfig::default()
        };
        let cnn = TrainConfig {
            hidden: vec![2, 2, 3],
            ..TrainConfig::for_model(ModelKind::Cnn)
        };
        let models = [
            Classifier::build(&mlp, &[4], 3, normalizer(vec![0.5; 4], vec![2.0; 4])),
            Classifier::build(&cnn, &[1, 4, 4], 2, normalizer(vec![0.1], vec![0.3])),
        ];
        models
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let path = dir.join(format!("model{i}.safetensors"));
                m.unwrap().save(&path).unwrap();
                std::fs::read(path).unwrap()
            })
            .collect()
    })
}

/// A checkpoint of one epoch of a small MLP on the bundled digits.
fn checkpoint_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let path = scratch("seeds").join("run.ckpt.safetensors");
        let config = TrainConfig {
            hidden: vec![2],
            epochs: 1,
            train_limit: Some(30),
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(config).unwrap();
        trainer.set_checkpoint(Some(path.clone()));
        trainer.run(&mut Silent).unwrap();
        vec![std::fs::read(path).unwrap()]
    })
}

fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend(d.to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(|i| (i * 37 % 256) as u8));
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

/// An IDX image file and its label file (three 4×4 images), uncompressed.
fn idx_seeds() -> [Vec<u8>; 2] {
    [idx_images(3, 4, 4), idx_labels(&[1, 0, 9])]
}

const CSV_SEED: &str = "x,y,label\n0.5,1,0\n2,3.5,1\n-1e3,0.25,2\n7,8,1\n";

// ---- Mutations ----

/// Numbers that break careless size arithmetic.
const EDGE_NUMBERS: &[u64] = &[
    0,
    1,
    2,
    255,
    256,
    65_535,
    65_536,
    (1 << 31) - 1,
    1 << 31,
    u32::MAX as u64,
    1 << 32,
    1_000_000_000_000,
    1 << 53,
    1 << 62,
    1 << 63,
    u64::MAX,
];

/// A change to a file's bytes.
#[derive(Clone, Debug)]
enum ByteEdit {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    /// Copies `len` bytes of another seed file (index, offset) to a position.
    Splice(usize, usize, usize, usize),
    /// Overwrites 4 bytes with an edge number, big-endian (IDX dimensions).
    U32Be(usize, u64),
    /// Overwrites 8 bytes with an edge number, little-endian (safetensors header length).
    U64Le(usize, u64),
    /// Replaces a field (text between commas and line ends) with other text (CSV).
    Field(usize, &'static str),
}

/// Field texts that break careless number handling.
const EDGE_FIELDS: &[&str] = &[
    "99999999999",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "-0",
    "1e39",
    "3.4e38",
    "1e-45",
    "nan",
    "inf",
    "0x10",
    "",
    " ",
    "1023",
    "1024",
    "65536",
    "label",
];

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    let edge = prop::sample::select(EDGE_NUMBERS);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, v)| ByteEdit::Set(a, v)),
        any::<usize>().prop_map(ByteEdit::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(a, b)| ByteEdit::Insert(a, b)),
        (any::<usize>(), 1..64usize).prop_map(|(a, n)| ByteEdit::Remove(a, n)),
        (any::<usize>(), any::<usize>(), any::<usize>(), 1..128usize)
            .prop_map(|(s, f, a, n)| ByteEdit::Splice(s, f, a, n)),
        (any::<usize>(), edge.clone()).prop_map(|(a, v)| ByteEdit::U32Be(a, v)),
        (any::<usize>(), edge).prop_map(|(a, v)| ByteEdit::U64Le(a, v)),
        (any::<usize>(), prop::sample::select(EDGE_FIELDS))
            .prop_map(|(a, t)| ByteEdit::Field(a, t)),
    ]
}

fn apply_bytes(mut bytes: Vec<u8>, edits: &[ByteEdit], others: &[Vec<u8>]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        let at = |a: usize| if len == 0 { 0 } else { a % len };
        match edit {
            ByteEdit::Set(a, v) if len > 0 => bytes[at(*a)] = *v,
            ByteEdit::Set(..) => {}
            ByteEdit::Truncate(a) => bytes.truncate(a % (len + 1)),
            ByteEdit::Insert(a, b) => {
                let i = a % (len + 1);
                bytes.splice(i..i, b.iter().copied());
            }
            ByteEdit::Remove(a, n) => {
                let i = at(*a);
                bytes.drain(i..(i + n).min(len));
            }
            ByteEdit::Splice(s, f, a, n) => {
                let other = &others[s % others.len()];
                if !other.is_empty() {
                    let from = f % other.len();
                    let piece = &other[from..(from + n).min(other.len())];
                    let i = a % (len + 1);
                    let end = (i + piece.len()).min(len);
                    bytes.splice(i..end, piece.iter().copied());
                }
            }
            ByteEdit::U32Be(a, v) if len >= 4 => {
                let i = a % (len - 3);
                bytes[i..i + 4].copy_from_slice(&(*v as u32).to_be_bytes());
            }
            ByteEdit::U64Le(a, v) if len >= 8 => {
                let i = a % (len - 7);
                bytes[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            ByteEdit::U32Be(..) | ByteEdit::U64Le(..) => {}
            ByteEdit::Field(a, text) => {
                let mut starts = vec![0];
                starts.extend(
                    (0..len)
                        .filter(|&i| bytes[i] == b',' || bytes[i] == b'\n')
                        .map(|i| i + 1),
                );
                let start = starts[a % starts.len()];
                let end = (start..len)
                    .find(|&i| bytes[i] == b',' || bytes[i] == b'\n')
                    .unwrap_or(len);
                bytes.splice(start..end, text.bytes());
            }
        }
    }
    bytes
}

/// A change to one node of a JSON document (metadata strings that hold JSON included).
#[derive(Clone, Debug)]
enum JsonEdit {
    Replace(Value),
    Remove,
    RenameKey(String),
    Repeat(usize),
}

fn json_value() -> impl Strategy<Value = Value> {
    let edge = prop::sample::select(EDGE_NUMBERS).prop_map(|n| json!(n));
    let text = prop::sample::select(
        &[
            "",
            "x",
            "-1",
            "1e999",
            "NaN",
            "F16",
            "F64",
            "I64",
            "U8",
            "BOOL",
            "cnn",
            "mlp",
            "sgd",
            "idx:/nonexistent",
            "csv:/nonexistent.csv",
            "18446744073709551616",
            "[1000000000000]",
            "{}",
        ][..],
    )
    .prop_map(|s| json!(s));
    prop_oneof![
        edge.clone(),
        edge.clone().prop_map(|n| json!([n])),
        edge.prop_map(|n| json!([n, n])),
        prop::sample::select(&[-1.0, -1e300, 1e300, 0.5, f64::MIN_POSITIVE, 1e-40][..])
            .prop_map(|x| json!(x)),
        Just(json!(-9_223_372_036_854_775_808i64)),
        text,
        Just(Value::Null),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        4 => json_value().prop_map(JsonEdit::Replace),
        1 => Just(JsonEdit::Remove),
        1 => prop::sample::select(&["x", "param/x", "optim/9.m", "1.weight", "format"][..])
            .prop_map(|k| JsonEdit::RenameKey(k.to_string())),
        1 => (2..64usize).prop_map(JsonEdit::Repeat),
    ]
}

/// Applies `edit` to the `target`-th node of `v` in pre-order; returns whether it did.
fn edit_json(v: &mut Value, target: &mut usize, edit: &JsonEdit) -> bool {
    if *target == 0 {
        match edit {
            JsonEdit::Replace(new) => *v = new.clone(),
            JsonEdit::Repeat(n) => *v = Value::Array(vec![v.clone(); *n]),
            JsonEdit::Remove | JsonEdit::RenameKey(_) => *v = Value::Null,
        }
        return true;
    }
    *target -= 1;
    match v {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if *target == 0 {
                    match edit {
                        JsonEdit::Remove => {
                            map.remove(&k);
                            return true;
                        }
                        JsonEdit::RenameKey(new) => {
                            let child = map.remove(&k).unwrap();
                            map.insert(new.clone(), child);
                            return true;
                        }
                        _ => {}
                    }
                }
                if edit_json(map.get_mut(&k).unwrap(), target, edit) {
                    return true;
                }
            }
        }
        Value::Array(items) => {
            for i in 0..items.len() {
                if *target == 0 && matches!(edit, JsonEdit::Remove) {
                    items.remove(i);
                    return true;
                }
                if edit_json(&mut items[i], target, edit) {
                    return true;
                }
            }
        }
        Value::String(s) => {
            // Metadata values are strings holding JSON (or numbers): edit inside them.
            if let Ok(mut inner) = serde_json::from_str::<Value>(s) {
                if edit_json(&mut inner, target, edit) {
                    *s = inner.to_string();
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

/// Splits a safetensors file into its JSON header and its data.
fn split_safetensors(bytes: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

fn join_safetensors(header: &Value, data: &[u8]) -> Vec<u8> {
    let mut text = header.to_string().into_bytes();
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(data);
    out
}

/// A damaged safetensors file: JSON edits of the header (and its metadata), then byte edits.
fn safetensors_case(seeds: &'static [Vec<u8>]) -> impl Strategy<Value = Vec<u8>> {
    let structured = (
        0..seeds.len(),
        // (edit inside the metadata?, which node, what edit)
        prop::collection::vec(
            (prop::bool::weighted(0.7), any::<usize>(), json_edit()),
            1..3,
        ),
        prop::option::weighted(0.2, byte_edit()),
    )
        .prop_map(move |(s, edits, byte)| {
            let (mut header, data) = split_safetensors(&seeds[s]);
            for (in_metadata, at, edit) in &edits {
                let node = match header.get_mut("__metadata__") {
                    Some(meta) if *in_metadata => meta,
                    _ => &mut header,
                };
                let mut count = 0;
                count_nodes(node, &mut count);
                let mut target = at % count;
                edit_json(node, &mut target, edit);
            }
            let bytes: Vec<ByteEdit> = byte.into_iter().collect();
            apply_bytes(join_safetensors(&header, &data), &bytes, seeds)
        });
    let damaged = (0..seeds.len(), prop::collection::vec(byte_edit(), 1..6))
        .prop_map(move |(s, edits)| apply_bytes(seeds[s].clone(), &edits, seeds));
    let random_header = prop::collection::vec(any::<u8>(), 0..256).prop_map(|b| {
        let mut out = (b.len() as u64).to_le_bytes().to_vec();
        out.extend(b);
        out
    });
    prop_oneof![
        6 => structured,
        3 => damaged,
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => random_header,
    ]
}

fn count_nodes(v: &Value, count: &mut usize) {
    *count += 1;
    match v {
        Value::Object(map) => map.values().for_each(|c| count_nodes(c, count)),
        Value::Array(items) => items.iter().for_each(|c| count_nodes(c, count)),
        Value::String(s) => {
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                count_nodes(&inner, count);
            }
        }
        _ => {}
    }
}

/// A damaged text or IDX file, edited before or after gzip compression.
fn data_case(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let seeds: &'static [Vec<u8>] = Box::leak(seeds.into_boxed_slice());
    let edited = (
        0..seeds.len(),
        prop::collection::vec(byte_edit(), 0..5),
        any::<bool>(),
        prop::collection::vec(byte_edit(), 0..2),
    )
        .prop_map(move |(s, inner, gz, outer)| {
            let bytes = apply_bytes(seeds[s].clone(), &inner, seeds);
            if gz {
                apply_bytes(gzip(&bytes), &outer, seeds)
            } else {
                bytes
            }
        });
    prop_oneof![
        8 => edited,
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(|b| gzip(&b)),
    ]
}

// ---- The properties ----

#[test]
fn model_files() {
    let dir = scratch("model");
    let path = dir.join("model.safetensors");
    fuzz(
        "model files",
        3000,
        safetensors_case(model_seeds()),
        |bytes| {
            std::fs::write(&path, &bytes).unwrap();
            let p = path.clone();
            let results = run_case(budget(bytes.len(), SLACK), move || {
                let mut results = vec![load_model_file(&p).map(|_| ()).map_err(|e| e.to_string())];
                match Classifier::load(&p) {
                    Ok(mut c) => {
                        // A loaded model must also run.
                        let shape = c.input_shape.clone();
                        let n: usize = shape.iter().product();
                        let probe = retrograd_nn::data::Dataset::new(
                            "probe",
                            vec![0.5; 2 * n],
                            vec![0, 0],
                            shape,
                            1,
                        )
                        .unwrap();
                        let classes = c.num_classes;
                        let predicted = c.predict(&probe).unwrap();
                        assert!(predicted.iter().all(|&k| k < classes), "{predicted:?}");
                    }
                    Err(e) => results.push(Err(e.to_string())),
                }
                results
            });
            errors_name(&results, &[&path])
        },
    );
}

#[test]
fn checkpoints() {
    let dir = scratch("checkpoint");
    let path = dir.join("run.ckpt.safetensors");
    fuzz(
        "checkpoints",
        1000,
        safetensors_case(checkpoint_seeds()),
        |bytes| {
            std::fs::write(&path, &bytes).unwrap();
            let p = path.clone();
            let results = run_case(budget(bytes.len(), SLACK_WITH_DATA), move || {
                let mut results = vec![Checkpoint::load(&p).map(|_| ()).map_err(|e| e.to_string())];
                if results[0].is_ok() {
                    results.push(
                        Trainer::resume(&p, None)
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                    );
                }
                results
            });
            // Resuming reads the data set the checkpoint names; its errors name that file.
            let resumed_data = results
                .get(1)
                .and_then(|r| r.as_ref().err())
                .is_some_and(|e| e.contains("nonexistent"));
            if resumed_data {
                return Ok(false);
            }
            errors_name(&results, &[&path])
        },
    );
}

#[test]
fn idx_files() {
    let dir = scratch("idx");
    let (images, labels) = (dir.join("images-idx3-ubyte"), dir.join("labels-idx1-ubyte"));
    let [valid_images, valid_labels] = idx_seeds();
    let seeds = vec![valid_images.clone(), valid_labels.clone()];
    fuzz(
        "idx files",
        2000,
        (data_case(seeds), any::<bool>()),
        |(bytes, as_images)| {
            // The damaged file is the image file or the label file of a pair.
            let (damaged, other, valid) = if as_images {
                (&images, &labels, &valid_labels)
            } else {
                (&labels, &images, &valid_images)
            };
            std::fs::write(damaged, &bytes).unwrap();
            std::fs::write(other, valid).unwrap();
            let len = unpacked_len(&bytes) + valid.len();
            let (i, l, d) = (images.clone(), labels.clone(), damaged.clone());
            let results = run_case(budget(len, SLACK), move || {
                let s = |r: Result<(), retrograd_nn::NnError>| r.map_err(|e| e.to_string());
                vec![
                    s(read_idx_images(&d).map(|_| ())),
                    s(read_idx_labels(&d).map(|_| ())),
                    s(read_idx_pair(&i, &l, 10).map(|_| ())),
                ]
            });
            errors_name(&results, &[damaged])
        },
    );
}

#[test]
fn csv_files() {
    let dir = scratch("csv");
    let path = dir.join("table.csv");
    let seeds = vec![CSV_SEED.as_bytes().to_vec()];
    let predictor = Classifier::build(
        &TrainConfig::default(),
        &[2],
        3,
        normalizer(vec![0.0], vec![1.0]),
    )
    .unwrap();
    let predictor = std::sync::Arc::new(predictor);
    fuzz("csv files", 3000, data_case(seeds), |bytes| {
        std::fs::write(&path, &bytes).unwrap();
        let (p, c) = (path.clone(), predictor.clone());
        let results = run_case(budget(unpacked_len(&bytes), SLACK), move || {
            let s = |r: Result<(), retrograd_nn::NnError>| r.map_err(|e| e.to_string());
            vec![
                s(read_csv(&p, None).map(|_| ())),
                s(read_csv(&p, Some(0)).map(|_| ())),
                s(c.read_csv_samples(&p).map(|_| ())),
                // reading, then the stratified split of `train`
                s(DataSpec::Csv(p.clone()).load().map(|_| ())),
            ]
        });
        errors_name(&results, &[&path])
    });
}

// ---- Regressions found by hand or by the properties above ----

/// A gzip file that expands far beyond what its IDX header announces is refused after the
/// announced size, not read whole.
#[test]
fn gzip_bomb_is_refused_without_inflating_it() {
    let dir = scratch("bomb");
    let path = dir.join("labels-idx1-ubyte.gz");
    let mut bomb = idx_labels(&[1, 2, 3]);
    bomb.resize(64 << 20, 0);
    std::fs::write(&path, gzip(&bomb)).unwrap();
    drop(bomb);
    let p = path.clone();
    let e = run_case(1 << 20, move || {
        read_idx_labels(&p).map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(e.contains(&path.display().to_string()), "{e}");
    // A header announcing 10^8 labels over 3 bytes: nothing is reserved for its claim.
    let mut liar = idx_labels(&[1, 2, 3]);
    liar[4..8].copy_from_slice(&100_000_000u32.to_be_bytes());
    std::fs::write(&path, gzip(&liar)).unwrap();
    let p = path.clone();
    let e = run_case(1 << 20, move || {
        read_idx_labels(&p).map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(e.contains("truncated"), "{e}");
}

/// The structure-aware mutator starts from files the readers accept.
#[test]
fn seeds_survive_the_mutators_round_trip() {
    let dir = scratch("round-trip");
    for (i, seed) in model_seeds().iter().enumerate() {
        let path = dir.join(format!("model{i}.safetensors"));
        let (header, data) = split_safetensors(seed);
        std::fs::write(&path, join_safetensors(&header, &data)).unwrap();
        Classifier::load(&path).unwrap();
    }
    let path = dir.join("run.ckpt.safetensors");
    let (header, data) = split_safetensors(&checkpoint_seeds()[0]);
    std::fs::write(&path, join_safetensors(&header, &data)).unwrap();
    Trainer::resume(&path, None).unwrap();
}

/// The properties' harness itself: it sees a panic and an allocation over budget.
#[test]
fn harness_detects_panics_and_allocations() {
    let caught = std::panic::catch_unwind(|| run_case::<()>(1 << 20, || panic!("boom")));
    assert!(caught.is_err());
    let big = || std::hint::black_box(vec![1u8; 4 << 20]).len();
    assert!(std::panic::catch_unwind(|| run_case(1 << 20, big)).is_err());
    let small = || std::hint::black_box(vec![1u8; 1 << 10]).len();
    assert_eq!(run_case(1 << 20, small), 1 << 10);
}
