//! Option sensitivities ("Greeks") by automatic differentiation: pricing code written once
//! against [`Real`](crate::Real), differentiated by the tape.
//!
//! - [`black_scholes`]: the Black–Scholes formula for European calls and puts; first-order
//!   Greeks from one reverse sweep, second-order ones (gamma, vanna, volga) by
//!   forward-over-reverse, and the closed forms to check them against.
//! - [`basket`]: a Monte Carlo arithmetic basket call on correlated assets; every delta and
//!   vega by pathwise adjoints, one short tape per path (memory flat in the number of
//!   paths), paths spread over the threads of the current `rayon` pool.
//!
//! ```
//! use retrograd::finance::black_scholes::{BlackScholes, OptionKind};
//! let option = BlackScholes::new(OptionKind::Call, 100.0, 100.0, 0.05, 0.2, 1.0).unwrap();
//! let greeks = option.greeks();
//! assert!((greeks.delta - option.closed_form().delta).abs() < 1e-12);
//! ```

pub mod basket;
pub mod black_scholes;

use crate::Error;

/// Checks that `value` is finite and, when `positive`, strictly positive.
fn check_input(name: &str, value: f64, positive: bool) -> Result<(), Error> {
    if !value.is_finite() || (positive && value <= 0.0) {
        let wanted = if positive {
            "a finite positive number"
        } else {
            "a finite number"
        };
        return Err(Error::InvalidInput(format!(
            "{name} is {value}; expected {wanted}"
        )));
    }
    Ok(())
}
