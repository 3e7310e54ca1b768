//! Forward-mode automatic differentiation with dual numbers.

/// A dual number: a value and `N` tangents (directional derivatives), propagated forward.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual<T = f64, const N: usize = 1> {
    /// The primal value.
    pub value: T,
    /// The tangents, one per direction.
    pub tangent: [T; N],
}
