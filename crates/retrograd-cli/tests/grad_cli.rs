//! Runs the built `retrograd` binary: `retrograd grad` output in text and JSON, checked
//! against closed forms, and every class of user error.

use std::process::Command;

/// Runs `retrograd ARGS`; returns (exit success, stdout, stderr).
fn retrograd(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_retrograd"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Runs a command that must succeed and returns its stdout.
fn stdout_of(args: &[&str]) -> String {
    let (ok, stdout, stderr) = retrograd(args);
    assert!(ok, "{args:?} failed: {stderr}");
    assert_eq!(stderr, "");
    stdout
}

/// Runs a command that must fail and returns its stderr.
fn error_of(args: &[&str]) -> String {
    let (ok, stdout, stderr) = retrograd(args);
    assert!(!ok, "{args:?} succeeded: {stdout}");
    assert_eq!(stdout, "", "{args:?}");
    stderr
}

const EXAMPLE: &str = "sin(x)*y^2 + atan2(y, x)";

/// f(x, y) = sin(x) y² + atan2(y, x) at (1, 2): value, gradient and Hessian in closed form.
fn example_closed_form() -> (f64, [f64; 2], [[f64; 2]; 2]) {
    let (s, c) = (1.0_f64.sin(), 1.0_f64.cos());
    // With r² = x² + y² = 5: ∂atan2/∂x = -y/r², ∂atan2/∂y = x/r²,
    // ∂²/∂x² = 2xy/r⁴, ∂²/∂x∂y = (y² - x²)/r⁴, ∂²/∂y² = -2xy/r⁴.
    let value = 4.0 * s + 2.0_f64.atan2(1.0);
    let gradient = [4.0 * c - 2.0 / 5.0, 4.0 * s + 1.0 / 5.0];
    let hessian = [
        [-4.0 * s + 4.0 / 25.0, 4.0 * c + 3.0 / 25.0],
        [4.0 * c + 3.0 / 25.0, 2.0 * s - 4.0 / 25.0],
    ];
    (value, gradient, hessian)
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-12 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} vs {expected}"
    );
}

/// The number after `label` and `=` on the line that starts with `label`.
fn labelled_number(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find(|line| line.split_whitespace().next() == Some(label))
        .unwrap_or_else(|| panic!("no line {label} in\n{text}"));
    let (_, number) = line.split_once('=').unwrap();
    number.trim().parse().unwrap()
}

#[test]
fn example_prints_value_and_gradient() {
    let out = stdout_of(&["grad", EXAMPLE, "--at", "x=1,y=2"]);
    let (value, gradient, _) = example_closed_form();
    assert_close(labelled_number(&out, "value"), value, "value");
    assert_close(labelled_number(&out, "d/dx"), gradient[0], "d/dx");
    assert_close(labelled_number(&out, "d/dy"), gradient[1], "d/dy");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(!out.contains("hessian"));
}

#[test]
fn example_hessian_is_a_labelled_matrix() {
    let out = stdout_of(&["grad", EXAMPLE, "--at", "x=1,y=2", "--hessian"]);
    let (_, _, hessian) = example_closed_form();
    let lines: Vec<&str> = out.lines().collect();
    let start = lines.iter().position(|l| *l == "hessian:").expect(&out);
    let header: Vec<&str> = lines[start + 1].split_whitespace().collect();
    assert_eq!(header, ["x", "y"]);
    for (i, name) in ["x", "y"].iter().enumerate() {
        let row: Vec<&str> = lines[start + 2 + i].split_whitespace().collect();
        assert_eq!(row[0], *name);
        for j in 0..2 {
            let entry: f64 = row[1 + j].parse().unwrap();
            assert_close(entry, hessian[i][j], &format!("H[{i}][{j}]"));
        }
    }
}

#[test]
fn example_as_json() {
    let out = stdout_of(&["grad", EXAMPLE, "--at", "x=1,y=2", "--hessian", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).expect(&out);
    let (value, gradient, hessian) = example_closed_form();
    assert_close(json["value"].as_f64().unwrap(), value, "value");
    assert_close(json["gradient"]["x"].as_f64().unwrap(), gradient[0], "x");
    assert_close(json["gradient"]["y"].as_f64().unwrap(), gradient[1], "y");
    assert_eq!(json["gradient"].as_object().unwrap().len(), 2);
    for i in 0..2 {
        for j in 0..2 {
            let entry = json["hessian"][i][j].as_f64().unwrap();
            assert_close(entry, hessian[i][j], &format!("H[{i}][{j}]"));
        }
    }
    assert_eq!(json.as_object().unwrap().len(), 3);
}

#[test]
fn json_without_hessian_has_no_hessian_key() {
    let out = stdout_of(&["grad", EXAMPLE, "--at", "x=1,y=2", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["gradient", "value"]);
}

#[test]
fn variables_come_in_order_of_first_appearance() {
    let out = stdout_of(&["grad", "y*x + zeta", "--at", "x=1,zeta=0,y=2", "--json"]);
    let y = out.find("\"y\"").unwrap();
    let x = out.find("\"x\"").unwrap();
    let zeta = out.find("\"zeta\"").unwrap();
    assert!(y < x && x < zeta, "{out}");

    let text = stdout_of(&["grad", "y*x", "--at", "x=1,y=2"]);
    let labels: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(labels, ["value", "d/dy", "d/dx"]);
}

#[test]
fn non_finite_numbers_are_json_strings() {
    let out = stdout_of(&["grad", "1/x", "--at", "x=0", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["value"], "inf");
    assert_eq!(json["gradient"]["x"], "-inf");
    let out = stdout_of(&["grad", "sqrt(x)", "--at", "x=-1", "--json", "--hessian"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["value"], "NaN");
    assert_eq!(json["gradient"]["x"], "NaN");
    assert_eq!(json["hessian"][0][0], "NaN");
    assert!(!out.contains("null"));
    let help = stdout_of(&["grad", "--help"]);
    assert!(help.contains("\"NaN\", \"inf\" and \"-inf\""), "{help}");
}

#[test]
fn argument_forms() {
    // A formula that starts with '-', --at repeated, spaces around '=', negative values.
    let out = stdout_of(&["grad", "-x^2 + y", "--at", "x = -3", "--at", "y=1e-3"]);
    assert_close(labelled_number(&out, "value"), -9.0 + 1e-3, "value");
    assert_close(labelled_number(&out, "d/dx"), 6.0, "d/dx");
    // A formula without variables needs no --at.
    let out = stdout_of(&["grad", "2*pi", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_close(
        json["value"].as_f64().unwrap(),
        2.0 * std::f64::consts::PI,
        "2 pi",
    );
    assert_eq!(json["gradient"], serde_json::json!({}));
}

#[test]
fn help_lists_the_grad_subcommand() {
    let out = stdout_of(&["--help"]);
    assert!(out.contains("grad"), "{out}");
}

#[test]
fn malformed_formula_shows_a_caret() {
    let err = error_of(&["grad", "sin(x*(y", "--at", "x=1,y=2"]);
    assert_eq!(
        err,
        "error: expected ')' at column 9\n  sin(x*(y\n          ^\n"
    );
    let err = error_of(&["grad", "x + * y", "--at", "x=1,y=2"]);
    assert!(err.ends_with("  x + * y\n      ^\n"), "{err}");
}

#[test]
fn each_error_names_its_culprit() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["grad", "x+y", "--at", "x=1,y=2,z=3"],
            "variable 'z' in --at does not appear in the formula (its variables: x, y)",
        ),
        (
            &["grad", "x+y", "--at", "x=1"],
            "no value for variable 'y' of the formula (add e.g. --at y=0)",
        ),
        (
            &["grad", "x+y+z"],
            "no value for variables 'x', 'y', 'z' of the formula (add e.g. --at x=0,y=0,z=0)",
        ),
        (
            &["grad", "x+y", "--at", "x=1,y=2,x=3"],
            "variable 'x' is given twice in --at",
        ),
        (
            &["grad", "x+y", "--at", "x=1,y=two"],
            "the value of 'y' is not a number: 'two'",
        ),
        (
            &["grad", "x", "--at", "x"],
            "expected NAME=VALUE in --at, got 'x'",
        ),
        (
            &["grad", "x", "--at", "=1"],
            "expected NAME=VALUE in --at, got '=1'",
        ),
        (
            &["grad", "x", "--at", "x=1,sin=2"],
            "'sin' is a function, not a variable, and cannot be set in --at",
        ),
        (
            &["grad", "x", "--at", "x=1,pi=3"],
            "'pi' is a constant, not a variable, and cannot be set in --at",
        ),
        (
            &["grad", "sin * x", "--at", "x=1"],
            "'sin' is a function, not a variable: call it with parentheses, e.g. sin(x)",
        ),
        (
            &["grad", "atan2(x)", "--at", "x=1"],
            "atan2 expects 2 arguments, got 1",
        ),
        (&["grad", "foo(x)", "--at", "x=1"], "unknown function 'foo'"),
    ];
    for (args, message) in cases {
        let err = error_of(args);
        assert!(
            err.starts_with(&format!("error: {message}")),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn usage_errors_exit_non_zero() {
    let (ok, _, err) = retrograd(&["grad"]);
    assert!(!ok);
    assert!(err.contains("FORMULA"), "{err}");
    let (ok, _, _) = retrograd(&["grad", "x", "--at", "x=1", "--no-such-flag"]);
    assert!(!ok);
    let (ok, _, _) = retrograd(&["no-such-command"]);
    assert!(!ok);
}

/// Names longer than a format width can pad (65,535) are printed and aligned, not a panic.
#[test]
fn very_long_variable_names_are_printed() {
    for length in [65_533, 70_000] {
        let name = "v".repeat(length);
        let formula = format!("2*{name}");
        let at = format!("{name}=1");
        let out = stdout_of(&["grad", &formula, "--at", &at, "--hessian"]);
        assert_eq!(labelled_number(&out, "value"), 2.0);
        assert_eq!(labelled_number(&out, &format!("d/d{name}")), 2.0);
        let value_line = out.lines().next().unwrap();
        assert_eq!(value_line.len(), "d/d".len() + length + " = 2".len());
        assert!(out.contains("hessian:"), "{}", &out[..100]);
        let json = stdout_of(&["grad", &formula, "--at", &at, "--json"]);
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["gradient"][&name], 2.0);
    }
}

/// Nesting far past the parser's limit is a reported error, not a stack overflow.
#[test]
fn deep_nesting_is_an_error() {
    let depth = 60_000; // one argument may hold 128 KiB
    let formula = format!("{}x{}", "(".repeat(depth), ")".repeat(depth));
    let err = error_of(&["grad", &formula, "--at", "x=1"]);
    assert!(
        err.starts_with("error: formula is nested too deeply (more than 200 levels)"),
        "{}",
        &err[..200]
    );
    let formula = format!("{}x", "-sin(".repeat(depth / 5));
    let err = error_of(&["grad", &formula, "--at", "x=1"]);
    assert!(err.starts_with("error: formula is nested too deeply"));
}

/// Arguments that are not UTF-8 are usage errors (status 2), not a panic.
#[cfg(unix)]
#[test]
fn arguments_that_are_not_utf8_are_usage_errors() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let bad = OsStr::from_bytes(b"x=\xff\xfe");
    for args in [
        vec![OsStr::new("grad"), OsStr::new("x"), OsStr::new("--at"), bad],
        vec![
            OsStr::new("grad"),
            bad,
            OsStr::new("--at"),
            OsStr::new("x=1"),
        ],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_retrograd"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("UTF-8"), "{args:?}: {stderr}");
    }
}
