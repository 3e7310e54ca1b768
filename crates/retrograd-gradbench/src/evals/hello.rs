//! `hello`: `square(x) = x²` and its derivative `double(x) = 2x`, by reverse mode
//! (`retrograd::grad`, already the straightforward form: both styles run it).

use super::{timed, unknown, Style};
use crate::protocol::Evaluated;
use crate::runs::Runs;

/// Evaluates `square` or `double` at a plain number (no `Runs` fields: one run).
pub fn evaluate(function: &str, input: &str, _style: Style) -> Result<Evaluated, String> {
    let x: f64 = super::parse(input)?;
    match function {
        "square" => timed(Runs::default(), || x * x),
        "double" => timed(Runs::default(), || {
            retrograd::grad(|v| v[0] * v[0], &[x])[0]
        }),
        _ => unknown(function),
    }
}
