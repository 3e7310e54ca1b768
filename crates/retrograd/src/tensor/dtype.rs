//! Element types: the [`DType`] tag carried by every tensor and the traits that map Rust
//! number types onto it.

use std::fmt;

/// The element type of a tensor.
///
/// `F32`, `F64`, `BF16` and `F16` are differentiable; `I64` holds indices and class labels
/// (targets of [`cross_entropy`](crate::tensor::Tensor::cross_entropy), results of
/// [`argmax`](crate::tensor::Tensor::argmax)) and carries no gradient.
///
/// The 16-bit floats are storage formats: the CPU kernels widen them to `f32`, compute in
/// `f32` (matrix products and convolutions accumulate exact products in `f32`) and round
/// the result to the 16-bit type (nearest, ties to even). `BF16` (bfloat16) has `f32`'s
/// range and 8 significant bits (unit roundoff 2⁻⁸); `F16` (IEEE half) has 11 significant
/// bits (unit roundoff 2⁻¹¹) but overflows to infinity beyond 65504. See
/// [`autocast`](fn@crate::tensor::autocast) for mixed-precision training.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// let t = Tensor::zeros([2, 3], DType::F32);
/// assert_eq!(t.dtype(), DType::F32);
/// assert_eq!(DType::F64.size_in_bytes(), 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// 64-bit signed integer (indices, labels).
    I64,
    /// bfloat16: 8 exponent bits (the range of `f32`), 8 significant bits.
    BF16,
    /// IEEE 754 half precision: 5 exponent bits (largest finite 65504), 11 significant bits.
    F16,
}

impl DType {
    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::BF16 | DType::F16 => 2,
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// Whether tensors of this type can carry gradients.
    pub fn is_float(self) -> bool {
        !matches!(self, DType::I64)
    }

    /// Whether this is a 16-bit float (`BF16` or `F16`), which kernels compute in `f32`.
    ///
    /// ```
    /// use retrograd::tensor::DType;
    /// assert!(DType::BF16.is_low_precision() && !DType::F32.is_low_precision());
    /// ```
    pub fn is_low_precision(self) -> bool {
        matches!(self, DType::BF16 | DType::F16)
    }

    /// The type of the result of a binary op on `self` and `other`: equal types stay; a
    /// 16-bit float with `f32` or `f64` gives the wider type, and `BF16` with `F16` gives
    /// `F32` (neither holds the other), as PyTorch promotes. `F32` with `F64` and an integer
    /// with a float give `None`: the ops refuse those pairs with
    /// [`TensorError::DTypeMismatch`](crate::tensor::TensorError) (an `f64` among `f32`
    /// tensors is usually a mistake, so it is not promoted silently).
    ///
    /// ```
    /// use retrograd::tensor::DType;
    /// assert_eq!(DType::BF16.promote(DType::F32), Some(DType::F32));
    /// assert_eq!(DType::BF16.promote(DType::F16), Some(DType::F32));
    /// assert_eq!(DType::F16.promote(DType::F64), Some(DType::F64));
    /// assert_eq!(DType::F32.promote(DType::F64), None);
    /// assert_eq!(DType::I64.promote(DType::F32), None);
    /// ```
    pub fn promote(self, other: DType) -> Option<DType> {
        match (self, other) {
            (a, b) if a == b => Some(a),
            (DType::BF16, DType::F16) | (DType::F16, DType::BF16) => Some(DType::F32),
            (DType::BF16 | DType::F16, d @ (DType::F32 | DType::F64))
            | (d @ (DType::F32 | DType::F64), DType::BF16 | DType::F16) => Some(d),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::BF16 => "bf16",
            DType::F16 => "f16",
        })
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
    impl Sealed for half::bf16 {}
    impl Sealed for half::f16 {}
}

/// A Rust number type that can be a tensor element: `f32`, `f64`, `i64`, or the 16-bit
/// floats [`half::bf16`] and [`half::f16`].
///
/// ```
/// use retrograd::tensor::{DType, Element};
/// assert_eq!(<f32 as Element>::DTYPE, DType::F32);
/// assert_eq!(<i64 as Element>::from_f64(3.7), 3);
/// ```
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + PartialOrd + PartialEq + fmt::Debug + Default + 'static
{
    /// The tag of this type.
    const DTYPE: DType;
    /// Converts to `f64` (exact for `f32`, rounded for large `i64`).
    fn to_f64(self) -> f64;
    /// Converts from `f64` (rounded for `f32`, truncated toward zero for `i64`).
    fn from_f64(v: f64) -> Self;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Element for i64 {
    const DTYPE: DType = DType::I64;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as i64
    }
}

impl Element for half::bf16 {
    const DTYPE: DType = DType::BF16;
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(v: f64) -> Self {
        half::bf16::from_f64(v)
    }
}

impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(v: f64) -> Self {
        half::f16::from_f64(v)
    }
}

/// A floating-point element (`f32` or `f64`): what the math kernels are generic over.
///
/// ```
/// use retrograd::tensor::FloatElement;
/// fn double<T: FloatElement>(x: T) -> T { x + x }
/// assert_eq!(double(1.5_f32), 3.0);
/// ```
pub trait FloatElement:
    Element
    + num_traits::Float
    + num_traits::FloatConst
    + std::ops::AddAssign
    + std::ops::MulAssign
    + std::ops::SubAssign
    + std::iter::Sum
{
    /// The error function.
    fn erf(self) -> Self;
}

impl FloatElement for f32 {
    fn erf(self) -> Self {
        libm::erff(self)
    }
}
impl FloatElement for f64 {
    fn erf(self) -> Self {
        libm::erf(self)
    }
}
