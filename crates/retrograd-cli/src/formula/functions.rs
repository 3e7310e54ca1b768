//! The functions a formula may call: one table row per name, with its arity and its
//! meaning as a [`Real`] method, so the same code runs on `f64`, `Var` and `Var<Dual>`.
//!
//! `powi(x, n)` and the one-argument `log(x)` are resolved by the parser: `powi` needs an
//! integer literal and becomes a [`super::Op::PowI`]; `log(x)` becomes [`Function::Ln`].

use retrograd::Real;

/// A callable function with a fixed number of arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `powf(x, y)` and `pow(x, y)`: `x` to the real power `y`.
    Powf,
    /// `sqrt(x)`
    Sqrt,
    /// `cbrt(x)`
    Cbrt,
    /// `exp(x)`
    Exp,
    /// `exp2(x)`: `2^x`.
    Exp2,
    /// `exp_m1(x)`: `e^x - 1`, accurate near 0.
    ExpM1,
    /// `ln(x)` and `log(x)`: the natural logarithm.
    Ln,
    /// `log(x, base)`
    Log,
    /// `ln_1p(x)`: `ln(1 + x)`, accurate near 0.
    Ln1p,
    /// `log2(x)`
    Log2,
    /// `log10(x)`
    Log10,
    /// `sin(x)`
    Sin,
    /// `cos(x)`
    Cos,
    /// `tan(x)`
    Tan,
    /// `asin(x)`
    Asin,
    /// `acos(x)`
    Acos,
    /// `atan(x)`
    Atan,
    /// `atan2(y, x)`: the angle of the point `(x, y)`.
    Atan2,
    /// `sinh(x)`
    Sinh,
    /// `cosh(x)`
    Cosh,
    /// `tanh(x)`
    Tanh,
    /// `asinh(x)`
    Asinh,
    /// `acosh(x)`
    Acosh,
    /// `atanh(x)`
    Atanh,
    /// `abs(x)`
    Abs,
    /// `signum(x)`
    Signum,
    /// `min(x, y)`
    Min,
    /// `max(x, y)`
    Max,
    /// `hypot(x, y)`: `sqrt(x^2 + y^2)` without overflow.
    Hypot,
    /// `mul_add(a, b, c)`: `a*b + c`.
    MulAdd,
    /// `erf(x)`
    Erf,
    /// `erfc(x)`: `1 - erf(x)`.
    Erfc,
    /// `floor(x)`
    Floor,
    /// `ceil(x)`
    Ceil,
    /// `round(x)`: to the nearest integer, halves away from zero.
    Round,
    /// `trunc(x)`: towards zero.
    Trunc,
}

/// Every function name a formula may call, with the function it denotes (`log` is listed
/// as [`Function::Log`]; the parser maps its one-argument form to [`Function::Ln`]).
/// `powi` is not here: it is parsed specially, see the module documentation.
pub const FUNCTIONS: &[(&str, Function)] = &[
    ("powf", Function::Powf),
    ("pow", Function::Powf),
    ("sqrt", Function::Sqrt),
    ("cbrt", Function::Cbrt),
    ("exp", Function::Exp),
    ("exp2", Function::Exp2),
    ("exp_m1", Function::ExpM1),
    ("ln", Function::Ln),
    ("log", Function::Log),
    ("ln_1p", Function::Ln1p),
    ("log2", Function::Log2),
    ("log10", Function::Log10),
    ("sin", Function::Sin),
    ("cos", Function::Cos),
    ("tan", Function::Tan),
    ("asin", Function::Asin),
    ("acos", Function::Acos),
    ("atan", Function::Atan),
    ("atan2", Function::Atan2),
    ("sinh", Function::Sinh),
    ("cosh", Function::Cosh),
    ("tanh", Function::Tanh),
    ("asinh", Function::Asinh),
    ("acosh", Function::Acosh),
    ("atanh", Function::Atanh),
    ("abs", Function::Abs),
    ("signum", Function::Signum),
    ("min", Function::Min),
    ("max", Function::Max),
    ("hypot", Function::Hypot),
    ("mul_add", Function::MulAdd),
    ("erf", Function::Erf),
    ("erfc", Function::Erfc),
    ("floor", Function::Floor),
    ("ceil", Function::Ceil),
    ("round", Function::Round),
    ("trunc", Function::Trunc),
];

/// The named constants a formula may use, with their values.
pub const CONSTANTS: &[(&str, f64)] = &[("pi", std::f64::consts::PI), ("e", std::f64::consts::E)];

/// Looks up a function by name; `powi` is handled by the parser and is not found here.
///
/// ```
/// use retrograd_cli::formula::functions::{lookup, Function};
/// assert_eq!(lookup("pow"), Some(Function::Powf));
/// assert_eq!(lookup("sine"), None);
/// ```
pub fn lookup(name: &str) -> Option<Function> {
    FUNCTIONS.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
}

/// Whether `name` is a function name (including `powi`), so it cannot name a variable.
///
/// ```
/// assert!(retrograd_cli::formula::functions::is_function_name("powi"));
/// assert!(!retrograd_cli::formula::functions::is_function_name("x"));
/// ```
pub fn is_function_name(name: &str) -> bool {
    name == "powi" || lookup(name).is_some()
}

/// The value of a named constant (`pi`, `e`), if `name` is one.
///
/// ```
/// assert_eq!(retrograd_cli::formula::functions::constant("pi"), Some(std::f64::consts::PI));
/// ```
pub fn constant(name: &str) -> Option<f64> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

impl Function {
    /// The function's name as written in formulas (the first one, for aliases).
    ///
    /// ```
    /// use retrograd_cli::formula::functions::Function;
    /// assert_eq!(Function::ExpM1.name(), "exp_m1");
    /// ```
    pub fn name(self) -> &'static str {
        FUNCTIONS
            .iter()
            .find(|&&(_, f)| f == self)
            .map(|&(name, _)| name)
            .expect("every function has a row in FUNCTIONS")
    }

    /// How many arguments the function takes.
    ///
    /// ```
    /// use retrograd_cli::formula::functions::Function;
    /// assert_eq!(Function::MulAdd.arity(), 3);
    /// ```
    pub fn arity(self) -> usize {
        use Function::*;
        match self {
            Powf | Log | Atan2 | Min | Max | Hypot => 2,
            MulAdd => 3,
            _ => 1,
        }
    }

    /// Applies the function to `args` (exactly [`Function::arity`] of them).
    ///
    /// ```
    /// use retrograd_cli::formula::functions::Function;
    /// assert_eq!(Function::Hypot.apply(&[3.0_f64, 4.0]), 5.0);
    /// ```
    pub fn apply<T: Real>(self, args: &[T]) -> T {
        use Function::*;
        let x = args[0];
        match self {
            Powf => x.powf(args[1]),
            Sqrt => x.sqrt(),
            Cbrt => x.cbrt(),
            Exp => x.exp(),
            Exp2 => x.exp2(),
            ExpM1 => x.exp_m1(),
            Ln => x.ln(),
            Log => x.log(args[1]),
            Ln1p => x.ln_1p(),
            Log2 => x.log2(),
            Log10 => x.log10(),
            Sin => x.sin(),
            Cos => x.cos(),
            Tan => x.tan(),
            Asin => x.asin(),
            Acos => x.acos(),
            Atan => x.atan(),
            Atan2 => x.atan2(args[1]),
            Sinh => x.sinh(),
            Cosh => x.cosh(),
            Tanh => x.tanh(),
            Asinh => x.asinh(),
            Acosh => x.acosh(),
            Atanh => x.atanh(),
            Abs => x.abs(),
            Signum => x.signum(),
            Min => x.min(args[1]),
            Max => x.max(args[1]),
            Hypot => x.hypot(args[1]),
            MulAdd => x.mul_add(args[1], args[2]),
            Erf => Real::erf(x),
            Erfc => Real::erfc(x),
            Floor => x.floor(),
            Ceil => x.ceil(),
            Round => x.round(),
            Trunc => x.trunc(),
        }
    }
}
