//! Element types: the [`DType`] tag carried by every tensor and the traits that map Rust
//! number types onto it.

use std::fmt;

/// The element type of a tensor.
///
/// `F32` and `F64` are differentiable; `I64` holds indices and class labels (targets of
/// [`cross_entropy`](crate::tensor::Tensor::cross_entropy), results of
/// [`argmax`](crate::tensor::Tensor::argmax)) and carries no gradient.
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
}

impl DType {
    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// Whether tensors of this type can carry gradients.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
        })
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
}

/// A Rust number type that can be a tensor element: `f32`, `f64` or `i64`.
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
