//! The GradBench protocol: one JSON message per line on stdin, one response per line on
//! stdout, flushed after each.
//!
//! - `start`: answered with the tool's name.
//! - `define`: `success` says whether the module is implemented.
//! - `evaluate`: runs the function (repeated as its input's `min_runs`/`min_seconds`
//!   ask), answers with the output and one `evaluate` timing per run, or with
//!   `success: false` and an error.
//! - anything else (`analysis`, ...): answered with the id alone.

use crate::evals::{self, Style};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::io::{self, BufRead, Write};

/// The fields of a message this tool reads; the input stays unparsed until its module
/// reads it.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    kind: String,
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    function: Option<String>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
}

/// The result of a successful evaluation: the output as JSON text and the nanoseconds
/// of each timed run.
pub struct Evaluated {
    /// The output, already serialized.
    pub output: Vec<u8>,
    /// One entry per run of the function.
    pub timings: Vec<u64>,
}

/// Serves messages from `input` until it ends, writing responses to `output`, with the
/// tuned derivatives ([`serve_with`] chooses).
///
/// A line that is not a valid message is an error (the session cannot go on without
/// its id), returned as `InvalidData`.
///
/// ```
/// let mut out = Vec::new();
/// retrograd_gradbench::protocol::serve(&b"{\"id\":0,\"kind\":\"start\"}\n"[..], &mut out).unwrap();
/// assert_eq!(out, b"{\"id\":0,\"tool\":\"retrograd\"}\n");
/// ```
pub fn serve<R: BufRead, W: Write>(input: R, output: W) -> io::Result<()> {
    serve_with(input, output, Style::Tuned)
}

/// [`serve`] with the derivatives computed in the given [`Style`].
///
/// ```
/// use retrograd_gradbench::{evals::Style, protocol::serve_with};
/// let msg = r#"{"id":1,"kind":"evaluate","module":"hello","function":"double","input":2.0}"#;
/// let mut out = Vec::new();
/// serve_with(format!("{msg}\n").as_bytes(), &mut out, Style::Straightforward).unwrap();
/// assert!(String::from_utf8(out).unwrap().contains(r#""output":4.0"#));
/// ```
pub fn serve_with<R: BufRead, W: Write>(
    mut input: R,
    mut output: W,
    style: Style,
) -> io::Result<()> {
    let mut line = String::new();
    let mut response = Vec::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line.trim().is_empty() {
            continue;
        }
        let message: Message = serde_json::from_str(&line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad message: {e}")))?;
        response.clear();
        respond(&message, style, &mut response);
        output.write_all(&response)?;
        output.flush()?;
    }
}

/// Writes the response line (with its newline) to a message.
fn respond(message: &Message, style: Style, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(message.id.get().as_bytes());
    match message.kind.as_str() {
        "start" => out.extend_from_slice(b",\"tool\":\"retrograd\""),
        "define" => {
            let module = message.module.as_deref().unwrap_or("");
            if evals::module(module).is_some() {
                out.extend_from_slice(b",\"success\":true");
            } else {
                out.extend_from_slice(b",\"success\":false,\"error\":");
                write_string(out, &format!("module `{module}` is not implemented"));
            }
        }
        "evaluate" => match evaluate(message, style) {
            Ok(done) => {
                out.extend_from_slice(b",\"success\":true,\"output\":");
                out.extend_from_slice(&done.output);
                out.extend_from_slice(b",\"timings\":[");
                for (i, ns) in done.timings.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"name\":\"evaluate\",\"nanoseconds\":");
                    out.extend_from_slice(ns.to_string().as_bytes());
                    out.push(b'}');
                }
                out.push(b']');
            }
            Err(error) => {
                out.extend_from_slice(b",\"success\":false,\"error\":");
                write_string(out, &error);
            }
        },
        _ => {}
    }
    out.extend_from_slice(b"}\n");
}

fn evaluate(message: &Message, style: Style) -> Result<Evaluated, String> {
    let module = message.module.as_deref().unwrap_or("");
    let function = message.function.as_deref().unwrap_or("");
    let input = message.input.map(RawValue::get).unwrap_or("null");
    let eval = evals::module(module).ok_or_else(|| format!("unknown module `{module}`"))?;
    eval(function, input, style).map_err(|e| format!("{module}::{function}: {e}"))
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    // Serializing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn session(lines: &[Value]) -> Vec<Value> {
        let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut out = Vec::new();
        serve(input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn scripted_session() {
        let r = session(&[
            json!({"id": 0, "kind": "start", "eval": "hello"}),
            json!({"id": 1, "kind": "define", "module": "hello"}),
            json!({"id": 2, "kind": "evaluate", "module": "hello", "function": "square", "input": 3.0}),
            json!({"id": 3, "kind": "analysis", "of": 2, "valid": true}),
            json!({"id": 4, "kind": "evaluate", "module": "hello", "function": "double", "input": 9.0}),
            json!({"id": 5, "kind": "evaluate", "module": "lse", "function": "gradient",
                   "input": {"x": [0.0, 0.0], "min_runs": 3, "min_seconds": 0}}),
            json!({"id": 6, "kind": "define", "module": "nonesuch"}),
            json!({"id": 7, "kind": "evaluate", "module": "hello", "function": "cube", "input": 1.0}),
            json!({"id": 8, "kind": "evaluate", "module": "lse", "function": "primal", "input": {"x": "oops"}}),
        ]);
        assert_eq!(r.len(), 9);
        for (i, resp) in r.iter().enumerate() {
            assert_eq!(resp["id"], i as u64);
        }
        assert_eq!(r[0]["tool"], "retrograd");
        assert_eq!(r[1]["success"], true);
        assert_eq!(r[2]["output"], 9.0);
        assert_eq!(r[2]["timings"][0]["name"], "evaluate");
        assert!(r[2]["timings"][0]["nanoseconds"].is_u64());
        assert_eq!(r[3], json!({"id": 3}));
        assert_eq!(r[4]["output"], 18.0);
        assert_eq!(r[5]["output"], json!([0.5, 0.5]));
        assert_eq!(r[5]["timings"].as_array().unwrap().len(), 3);
        assert_eq!(r[6]["success"], false);
        assert!(r[6]["error"].as_str().unwrap().contains("nonesuch"));
        assert_eq!(r[7]["success"], false);
        assert!(r[7]["error"].as_str().unwrap().contains("cube"));
        assert_eq!(r[8]["success"], false);
    }

    #[test]
    fn both_styles_answer_alike() {
        let messages = [
            json!({"id": 0, "kind": "evaluate", "module": "lse", "function": "gradient",
                   "input": {"x": [0.5, -1.0, 2.0, 1.5]}}),
            json!({"id": 1, "kind": "evaluate", "module": "llsq", "function": "gradient",
                   "input": {"x": [0.2, -0.4, 0.1], "n": 9}}),
            json!({"id": 2, "kind": "evaluate", "module": "ode", "function": "gradient",
                   "input": {"x": [0.9, 1.1, 0.8, 1.2], "s": 3}}),
            json!({"id": 3, "kind": "evaluate", "module": "det", "function": "gradient",
                   "input": {"A": [2.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.4, 0.1, 1.0], "ell": 3}}),
            json!({"id": 4, "kind": "evaluate", "module": "kmeans", "function": "dir",
                   "input": {"points": [[0.0, 0.1], [0.9, 1.0], [0.2, 0.0], [1.0, 0.8]],
                             "centroids": [[0.1, 0.1], [0.9, 0.9]]}}),
        ];
        let input: String = messages.iter().map(|l| format!("{l}\n")).collect();
        let answers = |style| {
            let mut out = Vec::new();
            serve_with(input.as_bytes(), &mut out, style).unwrap();
            String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()["output"].clone())
                .collect::<Vec<_>>()
        };
        let flat = |v: &Value| -> Vec<f64> {
            match v {
                Value::Array(a) => a
                    .iter()
                    .flat_map(|x| x.as_array().cloned().unwrap_or(vec![x.clone()]))
                    .map(|x| x.as_f64().unwrap())
                    .collect(),
                _ => panic!("not an array: {v}"),
            }
        };
        let (tuned, plain) = (answers(Style::Tuned), answers(Style::Straightforward));
        assert_eq!(tuned.len(), messages.len());
        for (t, p) in tuned.iter().zip(&plain) {
            let (t, p) = (flat(t), flat(p));
            assert!(!t.is_empty() && t.len() == p.len());
            for (a, b) in t.iter().zip(&p) {
                assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn non_finite_output_is_an_error() {
        let r = session(&[json!({"id": 0, "kind": "evaluate", "module": "hello",
                                 "function": "square", "input": 1e200})]);
        assert_eq!(r[0]["success"], false);
        assert!(r[0]["error"].as_str().unwrap().contains("non-finite"));
    }

    #[test]
    fn flushes_after_every_response() {
        struct Counting(Vec<u8>, usize);
        impl Write for Counting {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.1 += 1;
                Ok(())
            }
        }
        let mut w = Counting(Vec::new(), 0);
        serve(
            &b"{\"id\":0,\"kind\":\"start\"}\n{\"id\":1,\"kind\":\"define\",\"module\":\"ode\"}\n"
                [..],
            &mut w,
        )
        .unwrap();
        assert_eq!(w.1, 2);
    }
}
