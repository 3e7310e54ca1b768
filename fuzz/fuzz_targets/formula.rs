//! `retrograd grad`: the formula parser, the evaluator and the derivatives.
//!
//! Input: the formula, optionally followed by a newline and the `--at` entries
//! (comma-separated, as on the command line).

#![no_main]

use libfuzzer_sys::fuzz_target;
use retrograd_cli::formula::{Formula, Op};
use retrograd_cli::grad::{self, Derivatives, GradArgs};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (source, at) = text.split_once('\n').unwrap_or((text, ""));

    // What the command does, both output formats.
    for json in [false, true] {
        let args = GradArgs {
            formula: source.to_string(),
            at: at.split(',').map(str::to_string).collect(),
            hessian: true,
            json,
        };
        let mut out = Vec::new();
        if grad::run(&args, &mut out).is_ok() && json {
            serde_json::from_slice::<serde_json::Value>(&out).expect("`--json` prints JSON");
        }
    }

    let Ok(formula) = Formula::parse(source) else {
        return;
    };
    // The parenthesised form parses back to the same program. Not checked: literals too
    // large for an f64 (they print as `inf`, which reads back as a variable), and forms
    // whose added parentheses go past the parser's nesting limit.
    let shown = formula.to_string();
    let finite = formula.ops().iter().all(|op| match op {
        Op::Constant(c) => c.is_finite(),
        _ => true,
    });
    match Formula::parse(&shown) {
        Ok(again) if finite => {
            assert_eq!(again.ops(), formula.ops(), "{source:?} prints as {shown:?}")
        }
        Ok(_) => {}
        Err(e) if e.message.contains("nested too deeply") => {}
        Err(e) => panic!("{source:?} prints as {shown:?}, which does not parse: {e}"),
    }

    let n = formula.variables().len();
    for value in [0.0, -1.5, 0.7, f64::NAN, f64::INFINITY] {
        let point = vec![value; n];
        let _: f64 = formula.eval(&point);
        let derivatives = Derivatives::compute(&formula, &point, true);
        let _ = derivatives.to_text();
        let json = derivatives.to_json();
        serde_json::from_str::<serde_json::Value>(&json).expect("valid JSON");
    }
});
