//! The evals, one module each, and what they share: input parsing and timed runs.
//!
//! Every module exposes `evaluate(function, input, style)`: it parses the input, runs the
//! function as often as the input's `Runs` ask (recording and sweeping tapes inside the
//! timed region), and returns the serialized output with the timings. The [`Style`] says
//! whether the derivative is the tuned one or the eval's definition differentiated the
//! plain way.

use crate::json::{self, ToJson};
use crate::protocol::Evaluated;
use crate::runs::{repeat, Runs};
use serde::de::DeserializeOwned;

pub mod ba;
pub mod det;
pub mod gmm;
pub mod hello;
pub mod ht;
pub mod kmeans;
pub mod llsq;
pub mod lse;
pub mod lstm;
pub mod ode;
pub mod particle;
pub mod saddle;

/// How an eval's derivative is computed.
///
/// ```
/// use retrograd_gradbench::evals::Style;
/// assert_eq!("straightforward".parse::<Style>(), Ok(Style::Straightforward));
/// assert_eq!(Style::default(), Style::Tuned);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    /// The derivatives as tuned for this benchmark (docs/GRADBENCH.md says what each
    /// eval does): statement-level helpers, identities, work skipped where the data or
    /// the seed makes it zero.
    #[default]
    Tuned,
    /// The eval's definition, written once on a generic number type (or on tensors),
    /// differentiated the plain way: `retrograd::grad`, `jacobian`, `hvp`, or a `Tape`
    /// recorded and swept once; nothing rewritten, nothing skipped.
    Straightforward,
}

impl std::str::FromStr for Style {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tuned" => Ok(Style::Tuned),
            "straightforward" => Ok(Style::Straightforward),
            _ => Err(format!(
                "unknown style `{s}` (expected `tuned` or `straightforward`)"
            )),
        }
    }
}

/// An eval's entry point: `(function, input JSON, style) -> output and timings`.
pub type EvalFn = fn(&str, &str, Style) -> Result<Evaluated, String>;

/// The entry point of the module named `name`, if this tool implements it.
pub fn module(name: &str) -> Option<EvalFn> {
    Some(match name {
        "hello" => hello::evaluate,
        "lse" => lse::evaluate,
        "llsq" => llsq::evaluate,
        "ode" => ode::evaluate,
        "det" => det::evaluate,
        "gmm" => gmm::evaluate,
        "lstm" => lstm::evaluate,
        "ba" => ba::evaluate,
        "ht" => ht::evaluate,
        "kmeans" => kmeans::evaluate,
        "particle" => particle::evaluate,
        "saddle" => saddle::evaluate,
        _ => return None,
    })
}

/// Parses an input.
pub(crate) fn parse<T: DeserializeOwned>(input: &str) -> Result<T, String> {
    serde_json::from_str(input).map_err(|e| format!("bad input: {e}"))
}

/// Runs `f` as `runs` asks and serializes its last output.
pub(crate) fn timed<O: ToJson>(runs: Runs, f: impl FnMut() -> O) -> Result<Evaluated, String> {
    let (out, timings) = repeat(runs, f);
    Ok(Evaluated {
        output: json::to_vec(&out)?,
        timings,
    })
}

/// Runs `run` on `state` as `runs` asks (the state keeps its buffers from run to run), then
/// serializes the output with `output`, which reads it from the state.
pub(crate) fn timed_in_place<S>(
    runs: Runs,
    state: &mut S,
    mut run: impl FnMut(&mut S),
    output: impl FnOnce(&S) -> Result<Vec<u8>, String>,
) -> Result<Evaluated, String> {
    let ((), timings) = repeat(runs, || run(state));
    Ok(Evaluated {
        output: output(state)?,
        timings,
    })
}

/// The error for a function name a module does not have.
pub(crate) fn unknown(function: &str) -> Result<Evaluated, String> {
    Err(format!("unknown function `{function}`"))
}

/// Declares an eval input struct with the `Runs` fields (`min_runs`, `min_seconds`)
/// appended, and its `runs()` accessor.
macro_rules! input_with_runs {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, serde::Deserialize)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Evaluate at least this many times.
            #[serde(default = "crate::evals::one")]
            pub min_runs: u64,
            /// Evaluate until the runs add up to this many seconds.
            #[serde(default)]
            pub min_seconds: f64,
        }
        impl $name {
            /// The run limits of this input.
            pub fn runs(&self) -> crate::runs::Runs {
                crate::runs::Runs { min_runs: self.min_runs, min_seconds: self.min_seconds }
            }
        }
    };
}
pub(crate) use input_with_runs;

pub(crate) fn one() -> u64 {
    1
}

/// The largest element, compared by value, returned itself (as `std::max` does): on a
/// tape the maximum is the chosen variable, so its derivative flows to that element.
pub fn max_element<T: PartialOrd + Copy>(xs: &[T]) -> T {
    let mut best = xs[0];
    for &x in &xs[1..] {
        if x > best {
            best = x;
        }
    }
    best
}

#[cfg(test)]
pub(crate) mod testing {
    use retrograd::gradcheck::{close, finite_difference, Tolerance};

    /// Asserts that `ad` matches central finite differences of `f` at `x`.
    pub fn assert_matches_fd(f: impl Fn(&[f64]) -> f64, x: &[f64], ad: &[f64], tol: f64) {
        let fd = finite_difference(f, x);
        assert_eq!(fd.len(), ad.len());
        let t = Tolerance {
            absolute: tol,
            relative: tol,
        };
        for (i, (a, d)) in ad.iter().zip(&fd).enumerate() {
            assert!(close(*a, *d, t), "entry {i}: AD {a:e}, FD {d:e}");
        }
    }
}
