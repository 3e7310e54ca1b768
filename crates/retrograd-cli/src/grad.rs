//! `retrograd grad FORMULA --at x=1,y=2 [--hessian] [--json]`: the value, gradient and
//! optionally Hessian of a formula at a point, by reverse mode (forward-over-reverse for
//! the Hessian) through the generic evaluator [`Formula::eval`].

use crate::error::CliError;
use crate::formula::{functions, Formula};
use std::collections::HashMap;
use std::io::Write;

/// The arguments of `retrograd grad`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = GRAD_EXAMPLES)]
pub struct GradArgs {
    /// The formula, e.g. "sin(x)*y^2 + atan2(y, x)". Operators + - * / ^ (right-associative,
    /// -x^2 = -(x^2)), constants pi and e, and the functions powi(x, n), powf, pow, sqrt,
    /// cbrt, exp, exp2, exp_m1, ln, log(x) = ln(x), log(x, base), ln_1p, log2, log10, sin,
    /// cos, tan, asin, acos, atan, atan2(y, x), sinh, cosh, tanh, asinh, acosh, atanh, abs,
    /// signum, min, max, hypot, mul_add(a, b, c), erf, erfc, floor, ceil, round, trunc.
    #[arg(allow_hyphen_values = true)]
    pub formula: String,

    /// The point: a value for every variable of the formula, as NAME=VALUE pairs separated
    /// by commas (the option may also be repeated).
    #[arg(
        long,
        value_name = "NAME=VALUE,...",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub at: Vec<String>,

    /// Also print the Hessian (the matrix of second derivatives).
    #[arg(long)]
    pub hessian: bool,

    /// Print JSON: {"value": v, "gradient": {"x": .., "y": ..}, "hessian": [[..], [..]]},
    /// variables in order of first appearance, "hessian" only with --hessian. Non-finite
    /// numbers are written as the strings "NaN", "inf" and "-inf".
    #[arg(long)]
    pub json: bool,
}

const GRAD_EXAMPLES: &str = "Examples:
  retrograd grad \"sin(x)*y^2 + atan2(y, x)\" --at x=1,y=2
  retrograd grad \"hypot(x, y)\" --at x=3,y=4 --hessian --json";

/// Runs `retrograd grad`: parses the formula and the point, differentiates, and writes the
/// result to `out` as text or JSON.
///
/// ```
/// use retrograd_cli::grad::{run, GradArgs};
/// let args = GradArgs {
///     formula: "x*y".into(),
///     at: vec!["x=2".into(), "y=3".into()],
///     hessian: false,
///     json: true,
/// };
/// let mut out = Vec::new();
/// run(&args, &mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(),
///            "{\"value\": 6.0, \"gradient\": {\"x\": 3.0, \"y\": 2.0}}\n");
/// ```
pub fn run(args: &GradArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let formula = Formula::parse(&args.formula)?;
    let point = parse_point(&formula, &args.at)?;
    let derivatives = Derivatives::compute(&formula, &point, args.hessian);
    let text = if args.json {
        derivatives.to_json()
    } else {
        derivatives.to_text()
    };
    out.write_all(text.as_bytes()).map_err(CliError::Output)
}

/// Reads `NAME=VALUE` entries into the formula's variable order, checking that every
/// variable gets exactly one value and that every name is a variable of the formula.
///
/// Values are anything Rust parses as `f64` (`1`, `-2.5`, `1e-3`, `inf`, `NaN`); empty
/// entries are skipped.
///
/// ```
/// use retrograd_cli::{formula::Formula, grad::parse_point, CliError};
/// let f = Formula::parse("x + y").unwrap();
/// let point = parse_point(&f, &["y=2".into(), "x = -1".into()]).unwrap();
/// assert_eq!(point, [-1.0, 2.0]);
/// assert!(matches!(parse_point(&f, &["x=1".into()]), Err(CliError::MissingVariables(_))));
/// ```
pub fn parse_point(formula: &Formula, assignments: &[String]) -> Result<Vec<f64>, CliError> {
    let variables = formula.variables();
    // A formula may have very many variables: find each name without a search.
    let indices: HashMap<&str, usize> = variables
        .iter()
        .enumerate()
        .map(|(index, name)| (name.as_str(), index))
        .collect();
    let mut values: Vec<Option<f64>> = vec![None; variables.len()];
    for entry in assignments
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
    {
        let Some((name, value)) = entry.split_once('=') else {
            return Err(CliError::MalformedAssignment(entry.to_string()));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(CliError::MalformedAssignment(entry.to_string()));
        }
        if functions::is_function_name(name) {
            let name = name.to_string();
            return Err(CliError::ReservedName {
                name,
                kind: "function",
            });
        }
        if functions::constant(name).is_some() {
            let name = name.to_string();
            return Err(CliError::ReservedName {
                name,
                kind: "constant",
            });
        }
        let Some(&index) = indices.get(name) else {
            return Err(CliError::UnknownVariable {
                name: name.to_string(),
                known: variables.to_vec(),
            });
        };
        if values[index].is_some() {
            return Err(CliError::DuplicateVariable(name.to_string()));
        }
        let number = value.parse::<f64>().map_err(|_| CliError::NotANumber {
            name: name.to_string(),
            value: value.to_string(),
        })?;
        values[index] = Some(number);
    }
    let missing: Vec<String> = variables
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(CliError::MissingVariables(missing));
    }
    Ok(values.into_iter().flatten().collect())
}

/// A formula's value and derivatives at a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Derivatives {
    /// The variable names, in order of first appearance in the formula.
    pub variables: Vec<String>,
    /// The formula's value.
    pub value: f64,
    /// `gradient[i]` is the derivative with respect to `variables[i]`.
    pub gradient: Vec<f64>,
    /// `hessian[i][j]` is the second derivative with respect to `variables[i]` and
    /// `variables[j]`, if it was asked for.
    pub hessian: Option<Vec<Vec<f64>>>,
}

impl Derivatives {
    /// Differentiates `formula` at `point` (one value per variable, in order): the
    /// gradient by one reverse sweep, the Hessian by forward-over-reverse, one sweep per
    /// variable.
    ///
    /// ```
    /// use retrograd_cli::{formula::Formula, grad::Derivatives};
    /// let f = Formula::parse("x^2 * y").unwrap();
    /// let d = Derivatives::compute(&f, &[3.0, 2.0], true);
    /// assert_eq!(d.value, 18.0);
    /// assert_eq!(d.gradient, [12.0, 9.0]);
    /// assert_eq!(d.hessian.unwrap(), [[4.0, 6.0], [6.0, 0.0]]);
    /// ```
    pub fn compute(formula: &Formula, point: &[f64], with_hessian: bool) -> Derivatives {
        let (value, gradient) = retrograd::value_and_grad(|x| formula.eval(x), point);
        let hessian = with_hessian.then(|| retrograd::hessian(|x| formula.eval(x), point));
        Derivatives {
            variables: formula.variables().to_vec(),
            value,
            gradient,
            hessian,
        }
    }

    /// The human-readable report: `value = ...`, one `d/dx = ...` line per variable, then
    /// the Hessian as a matrix with the variables as row and column labels.
    ///
    /// ```
    /// use retrograd_cli::grad::Derivatives;
    /// let d = Derivatives {
    ///     variables: vec!["x".into(), "y".into()],
    ///     value: 6.0,
    ///     gradient: vec![3.0, 2.0],
    ///     hessian: Some(vec![vec![0.0, 1.0], vec![1.0, 0.0]]),
    /// };
    /// assert_eq!(d.to_text(), "\
    /// value = 6
    /// d/dx  = 3
    /// d/dy  = 2
    /// hessian:
    ///      x  y
    ///   x  0  1
    ///   y  1  0
    /// ");
    /// ```
    pub fn to_text(&self) -> String {
        let mut labels = vec!["value".to_string()];
        labels.extend(self.variables.iter().map(|name| format!("d/d{name}")));
        let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let values = std::iter::once(self.value).chain(self.gradient.iter().copied());
        let mut text = String::new();
        for (label, value) in labels.iter().zip(values) {
            text += &format!("{} = {value}\n", pad(label, label_width, Align::Left));
        }
        if let Some(hessian) = &self.hessian {
            text += "hessian:\n";
            text += &matrix_text(&self.variables, hessian);
        }
        text
    }

    /// The JSON report, one line: `{"value": v, "gradient": {"x": ..}, "hessian": [[..]]}`
    /// with `"hessian"` only if it was computed. Non-finite numbers are written as the
    /// strings `"NaN"`, `"inf"` and `"-inf"`, since JSON has no number for them.
    ///
    /// ```
    /// use retrograd_cli::grad::Derivatives;
    /// let d = Derivatives {
    ///     variables: vec!["x".into()],
    ///     value: f64::INFINITY,
    ///     gradient: vec![f64::NAN],
    ///     hessian: None,
    /// };
    /// assert_eq!(d.to_json(), "{\"value\": \"inf\", \"gradient\": {\"x\": \"NaN\"}}\n");
    /// ```
    pub fn to_json(&self) -> String {
        let gradient: Vec<String> = self
            .variables
            .iter()
            .zip(&self.gradient)
            .map(|(name, &d)| {
                format!(
                    "{}: {}",
                    serde_json::Value::from(name.as_str()),
                    json_number(d)
                )
            })
            .collect();
        let mut json = format!(
            "{{\"value\": {}, \"gradient\": {{{}}}",
            json_number(self.value),
            gradient.join(", ")
        );
        if let Some(hessian) = &self.hessian {
            let rows: Vec<String> = hessian
                .iter()
                .map(|row| {
                    let entries: Vec<String> = row.iter().map(|&h| json_number(h)).collect();
                    format!("[{}]", entries.join(", "))
                })
                .collect();
            json += &format!(", \"hessian\": [{}]", rows.join(", "));
        }
        json + "}\n"
    }
}

/// A JSON number, or for the values JSON cannot represent the strings `"NaN"`, `"inf"`,
/// `"-inf"`.
fn json_number(x: f64) -> String {
    if x.is_nan() {
        "\"NaN\"".into()
    } else if x == f64::INFINITY {
        "\"inf\"".into()
    } else if x == f64::NEG_INFINITY {
        "\"-inf\"".into()
    } else {
        serde_json::Value::from(x).to_string()
    }
}

/// Which side of a padded cell the text sits on.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// `text` padded with spaces to `width` characters. Written out rather than left to a
/// format width (`{:<w$}`), which is limited to 65,535 and panics beyond: a variable name
/// can be longer.
fn pad(text: &str, width: usize, align: Align) -> String {
    let fill = " ".repeat(width.saturating_sub(text.chars().count()));
    match align {
        Align::Left => format!("{text}{fill}"),
        Align::Right => format!("{fill}{text}"),
    }
}

/// A square matrix with `names` as column headers and row labels, right-aligned columns.
fn matrix_text(names: &[String], matrix: &[Vec<f64>]) -> String {
    let cells: Vec<Vec<String>> = matrix
        .iter()
        .map(|row| row.iter().map(|x| x.to_string()).collect())
        .collect();
    let width = |s: &String| s.chars().count();
    let label_width = names.iter().map(width).max().unwrap_or(0);
    let column_widths: Vec<usize> = (0..names.len())
        .map(|j| {
            cells
                .iter()
                .map(|row| width(&row[j]))
                .chain([width(&names[j])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |label: &str, entries: &[String]| {
        let mut line = format!("  {}", pad(label, label_width, Align::Left));
        for (entry, &w) in entries.iter().zip(&column_widths) {
            line += &format!("  {}", pad(entry, w, Align::Right));
        }
        line + "\n"
    };
    let mut text = line("", names);
    for (name, row) in names.iter().zip(&cells) {
        text += &line(name, row);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(formula: &str, entries: &[&str]) -> Result<Vec<f64>, CliError> {
        let formula = Formula::parse(formula).unwrap();
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        parse_point(&formula, &entries)
    }

    #[test]
    fn point_follows_the_formula_order() {
        assert_eq!(point("b*a", &["a=1", "b=2"]).unwrap(), [2.0, 1.0]);
        assert_eq!(point("x", &["", " x = .5 ", ""]).unwrap(), [0.5]);
        assert_eq!(point("x", &["x=-1e-3"]).unwrap(), [-1e-3]);
        assert!(point("x", &["x=inf"]).unwrap()[0].is_infinite());
        assert_eq!(point("2*pi", &[]).unwrap(), Vec::<f64>::new());
    }

    #[test]
    fn point_errors_name_the_culprit() {
        let error = |formula, entries| point(formula, entries).unwrap_err().to_string();
        assert_eq!(
            error("x", &["x=1", "y=2"]),
            "variable 'y' in --at does not appear in the formula (its variables: x)"
        );
        assert_eq!(
            error("1", &["y=2"]),
            "variable 'y' in --at does not appear in the formula (it has no variables)"
        );
        assert_eq!(
            error("x", &["x=1", "x=1"]),
            "variable 'x' is given twice in --at"
        );
        assert_eq!(
            error("x", &["x=1x"]),
            "the value of 'x' is not a number: '1x'"
        );
        assert_eq!(error("x", &["x="]), "the value of 'x' is not a number: ''");
        assert_eq!(
            error("x", &["x:1"]),
            "expected NAME=VALUE in --at, got 'x:1'"
        );
        assert_eq!(
            error("x", &["e=1"]),
            "'e' is a constant, not a variable, and cannot be set in --at"
        );
        assert_eq!(
            error("x", &["powi=1"]),
            "'powi' is a function, not a variable, and cannot be set in --at"
        );
        assert_eq!(
            error("x*y", &[]),
            "no value for variables 'x', 'y' of the formula (add e.g. --at x=0,y=0)"
        );
    }

    #[test]
    fn text_aligns_labels_and_columns() {
        let derivatives = Derivatives {
            variables: vec!["x".into(), "αβγδ".into()],
            value: -0.5,
            gradient: vec![1.25, f64::NAN],
            hessian: Some(vec![vec![1.0, -2.0], vec![-2.0, 100.0]]),
        };
        assert_eq!(
            derivatives.to_text(),
            "value   = -0.5\n\
             d/dx    = 1.25\n\
             d/dαβγδ = NaN\n\
             hessian:\n\
             \x20        x  αβγδ\n\
             \x20 x      1    -2\n\
             \x20 αβγδ  -2   100\n"
        );
    }

    #[test]
    fn names_longer_than_a_format_width_are_aligned() {
        let long = "v".repeat(70_000);
        let derivatives = Derivatives {
            variables: vec!["x".into(), long.clone()],
            value: 1.0,
            gradient: vec![2.0, 3.0],
            hessian: Some(vec![vec![0.0, 1.0], vec![1.0, 0.0]]),
        };
        let text = derivatives.to_text();
        let lines: Vec<&str> = text.lines().collect();
        let label_width = "d/d".len() + long.len();
        assert_eq!(
            lines[0],
            format!("value{} = 1", " ".repeat(label_width - 5))
        );
        assert_eq!(lines[1], format!("d/dx{} = 2", " ".repeat(label_width - 4)));
        assert_eq!(lines[2], format!("d/d{long} = 3"));
        assert_eq!(lines[3], "hessian:");
        let pad = " ".repeat(long.len() - 1);
        assert_eq!(lines[4], format!("  {pad}   x  {long}"));
        assert_eq!(lines[5], format!("  x{pad}  0  {pad}1"));
        assert_eq!(lines[6], format!("  {long}  1  {pad}0"));
    }

    #[test]
    fn json_keeps_variable_order_and_spells_out_non_finite() {
        let derivatives = Derivatives {
            variables: vec!["z".into(), "a".into()],
            value: 1.0,
            gradient: vec![f64::NEG_INFINITY, 0.5],
            hessian: Some(vec![vec![0.0, 1.0], vec![1.0, f64::NAN]]),
        };
        assert_eq!(
            derivatives.to_json(),
            "{\"value\": 1.0, \"gradient\": {\"z\": \"-inf\", \"a\": 0.5}, \
             \"hessian\": [[0.0, 1.0], [1.0, \"NaN\"]]}\n"
        );
    }
}
