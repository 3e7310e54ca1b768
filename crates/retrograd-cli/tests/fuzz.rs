//! Property-based fuzzing: no input, however malformed, makes the formula parser, the
//! evaluator, the `--at` reader or the differentiation panic.

use proptest::prelude::*;
use retrograd_cli::formula::{functions, Formula};
use retrograd_cli::grad::{parse_point, Derivatives};

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
    for source in [
        "(".repeat(100_000),
        "-".repeat(100_000) + "x",
        "x^".repeat(100_000) + "x",
        "sin(".repeat(100_000) + "x",
        vec!["x"; 100_000].join("*"),
    ] {
        exercise(&source, false);
    }
}
