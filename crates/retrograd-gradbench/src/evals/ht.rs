//! `ht` (not yet implemented).

use crate::protocol::Evaluated;

/// Evaluates a function of this module.
pub fn evaluate(_function: &str, _input: &str) -> Result<Evaluated, String> {
    Err("not implemented".into())
}
