//! Property-based fuzzing: no input, however malformed, makes the formula parser, the
//! evaluator, the `--at` reader or the differentiation panic, overflow the stack, or take
//! long.
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's default, 256, when unset); a long
//! run is e.g. `PROPTEST_CASES=20000 cargo test --release -p retrograd-cli --test fuzz`.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use retrograd_cli::formula::{functions, parser::MAX_NESTING, Formula};
use retrograd_cli::grad::{parse_point, Derivatives, GradArgs};

/// The most one case (parse, evaluate, differentiate, print) may take, in any build: the
/// work is linear in the input, and the inputs are at most a few hundred thousand
/// characters.
const CASE_TIME: Duration = Duration::from_secs(10);

/// Runs `case` and fails if it took longer than [`CASE_TIME`].
fn bounded<T>(what: &str, case: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = case();
    let took = started.elapsed();
    assert!(took < CASE_TIME, "{what} took {took:?}");
    result
}

/// Pieces of the grammar, to build token soups that get deep into the parser.
fn grammar_piece() -> impl Strategy<Value = String> {
    let mut pieces: Vec<String> = [
        "x", "y", "z", "pi", "e", "0", "1", "2", "-1", ".5", "1e-3", "1e400", "2.", "1e", "(", ")",
        ",", "+", "-", "*", "/", "^", " ", "powi", "_", "é", "#", ".", "\t",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    pieces.extend(
        functions::FUNCTIONS
            .iter()
            .map(|(name, _)| name.to_string()),
    );
    prop::sample::select(pieces)
}

/// Well-formed formulas over x and y, built from every operator and function.
fn well_formed() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_string()),
        Just("y".to_string()),
        Just("pi".to_string()),
        (-4.0..4.0_f64).prop_map(|v| format!("{v}")),
    ];
    leaf.prop_recursive(5, 40, 3, |inner| {
        let operator = prop::sample::select(vec!["+", "-", "*", "/", "^"]);
        let function = prop::sample::select(functions::FUNCTIONS.to_vec());
        prop_oneof![
            (inner.clone(), operator, inner.clone())
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (inner.clone(), -3..4_i32).prop_map(|(a, n)| format!("powi({a}, {n})")),
            (function, prop::collection::vec(inner, 3)).prop_map(|((name, f), args)| {
                format!("{name}({})", args[..f.arity()].join(", "))
            }),
        ]
    })
}

/// Parses `source`; if it parses, evaluates and differentiates it at a few points.
fn exercise(source: &str, with_hessian: bool) {
    let Ok(formula) = Formula::parse(source) else {
        return;
    };
    let _ = formula.to_string();
    let n = formula.variables().len();
    for value in [0.0, -1.5, 0.7, f64::NAN, f64::INFINITY] {
        let point = vec![value; n];
        let _: f64 = formula.eval(&point);
        let derivatives = Derivatives::compute(&formula, &point, with_hessian);
        let _ = derivatives.to_text();
        let json = derivatives.to_json();
        serde_json::from_str::<serde_json::Value>(&json).expect("valid JSON");
    }
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(source in any::<String>()) {
        exercise(&source, true);
    }

    #[test]
    fn printable_strings_never_panic(source in "[ -~]{0,40}") {
        exercise(&source, true);
    }

    #[test]
    fn token_soups_never_panic(pieces in prop::collection::vec(grammar_piece(), 0..40)) {
        exercise(&pieces.concat(), true);
        exercise(&pieces.join(" "), false);
    }

    #[test]
    fn well_formed_formulas_parse_and_evaluate(source in well_formed()) {
        prop_assert!(Formula::parse(&source).is_ok(), "{}", source);
        exercise(&source, true);
    }

    #[test]
    fn long_variable_names_never_panic(
        letter in prop::sample::select(vec!['x', 'α', '_', 'Z']),
        length in prop_oneof![0..100_usize, 65_530..65_540_usize, 0..200_000_usize],
    ) {
        let name: String = std::iter::once('v').chain(std::iter::repeat_n(letter, length)).collect();
        bounded("a long name", || {
            let formula = format!("sin({name}) * {name}^2 + atan2({name}, 1)");
            exercise(&formula, true);
            let args = GradArgs {
                formula,
                at: vec![format!("{name}=0.5")],
                hessian: true,
                json: false,
            };
            let mut out = Vec::new();
            retrograd_cli::grad::run(&args, &mut out).unwrap();
            prop_assert!(out.len() > 3 * name.len());
            Ok(())
        })?;
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow(
        depth in prop_oneof![0..(2 * MAX_NESTING), 0..100_000_usize],
        shape in 0..6_usize,
    ) {
        let (open, close) = [
            ("(", ")"),
            ("sin(", ")"),
            ("-(", ")"),
            ("x^(", ")"),
            ("atan2(x, ", ")"),
            ("-", ""),
        ][shape];
        let formula = format!("{}x{}", open.repeat(depth), close.repeat(depth));
        let parsed = bounded("deep nesting", || Formula::parse(&formula));
        // Each level is one or two nestings (a sign and a parenthesis, say).
        if depth > MAX_NESTING {
            let error = parsed.unwrap_err();
            prop_assert!(error.message.contains("nested too deeply"), "{}", error.message);
        } else if depth <= MAX_NESTING / 2 {
            prop_assert!(parsed.is_ok(), "{}", &formula[..formula.len().min(100)]);
        }
        exercise(&formula, false);
    }

    #[test]
    fn huge_number_literals_parse_to_a_number(
        digits in "[0-9]{1,3000}",
        fraction in "[0-9]{0,3000}",
        exponent in prop_oneof![any::<u64>().prop_map(|e| e.to_string()), "[0-9]{1,3000}"],
        sign in prop::sample::select(vec!["", "+", "-"]),
    ) {
        let literal = format!("{digits}.{fraction}e{sign}{exponent}");
        let formula = bounded("a huge literal", || Formula::parse(&format!("x * {literal}")));
        let formula = formula.unwrap();
        let value: f64 = formula.eval(&[1.0]);
        prop_assert!(value >= 0.0 && !value.is_nan(), "{} is {}", literal, value);
        exercise(&format!("{literal}^{literal} - {literal}"), true);
    }

    #[test]
    fn arbitrary_bytes_as_assignments_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        formula in prop::sample::select(vec!["x*y + e", "1", "αβ - x_1", "sin(x)"]),
    ) {
        let formula = Formula::parse(formula).unwrap();
        // As the command line hands --at over: text, split at commas.
        let text = String::from_utf8_lossy(&bytes);
        let entries: Vec<String> = text.split(',').map(str::to_string).collect();
        if let Ok(point) = bounded("--at", || parse_point(&formula, &entries)) {
            prop_assert_eq!(point.len(), formula.variables().len());
        }
        let one = vec![text.into_owned()];
        let _ = parse_point(&formula, &one);
    }

    #[test]
    fn arbitrary_assignments_never_panic(
        entries in prop::collection::vec("[a-z=, .0-9e+-]{0,12}", 0..6),
    ) {
        let formula = Formula::parse("x*y + e").unwrap();
        if let Ok(point) = parse_point(&formula, &entries) {
            prop_assert_eq!(point.len(), 2);
        }
    }
}

#[test]
fn deep_and_long_inputs_are_errors_or_values_not_crashes() {
    let nested =
        |open: &str, close: &str| format!("{}x{}", open.repeat(100_000), close.repeat(100_000));
    for source in [
        "(".repeat(100_000),
        "-".repeat(100_000) + "x",
        "x^".repeat(100_000) + "x",
        "sin(".repeat(100_000) + "x",
        nested("(", ")"),
        nested("sin(", ")"),
        nested("max(x, ", ")"),
        nested("x^(", ")"),
    ] {
        let error = bounded("deep nesting", || Formula::parse(&source)).unwrap_err();
        assert!(
            error.message.contains("nested too deeply"),
            "{}",
            error.message
        );
        exercise(&source, false);
    }
    let error = Formula::parse(&nested("(", ")")).unwrap_err();
    assert_eq!(error.column, MAX_NESTING + 1);
    let long = vec!["x"; 100_000].join("*");
    bounded("a long product", || exercise(&long, false));
}

/// Many distinct variables: parsing, reading their values and differentiating stay fast.
#[test]
fn many_variables_take_bounded_time() {
    let n = 100_000;
    let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    let source = names.join(" + ");
    let formula = bounded("parsing", || Formula::parse(&source)).unwrap();
    assert_eq!(formula.variables().len(), n);
    let entries: Vec<String> = names.iter().rev().map(|v| format!("{v}=1")).collect();
    let point = bounded("reading --at", || parse_point(&formula, &entries)).unwrap();
    let derivatives = bounded("the gradient", || {
        Derivatives::compute(&formula, &point, false)
    });
    assert_eq!(derivatives.value, n as f64);
    assert!(derivatives.gradient.iter().all(|&d| d == 1.0));
    bounded("printing", || derivatives.to_text());
}
