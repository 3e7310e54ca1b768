//! Elementwise CPU kernels: one closure per [`UnaryOp`]/[`BinaryOp`], monomorphised so the
//! inner loops vectorise.

use super::math::FastMath;
use super::strided::{map, zip, zip3};
use crate::tensor::backend::{BinaryOp, UnaryOp};
use crate::tensor::error::{Result, TensorError};
use crate::tensor::shape::Layout;
use crate::tensor::{DType, FloatElement};

pub(crate) fn unary<T: FastMath>(op: UnaryOp, x: &[T], l: &Layout) -> Vec<T> {
    let c = |v: f64| T::from_f64(v);
    let zero = T::zero();
    let one = T::one();
    match op {
        UnaryOp::Neg => map(x, l, |v| -v),
        UnaryOp::Exp => map(x, l, |v| v.exp_v()),
        UnaryOp::Log => map(x, l, |v| v.ln_v()),
        UnaryOp::Sqrt => map(x, l, |v| v.sqrt()),
        UnaryOp::Abs => map(x, l, |v| v.abs()),
        // keeps 0 as 0 and NaN as NaN
        UnaryOp::Sign => map(x, l, move |v| {
            select(v > zero, one, select(v < zero, -one, v))
        }),
        UnaryOp::Sin => map(x, l, |v| v.sin()),
        UnaryOp::Cos => map(x, l, |v| v.cos()),
        UnaryOp::Tanh => map(x, l, |v| v.tanh_v()),
        UnaryOp::Sigmoid => map(x, l, move |v| sigmoid(v)),
        UnaryOp::Relu => map(x, l, move |v| select(v > zero, v, zero)),
        UnaryOp::Step => map(x, l, move |v| bool_to(v > zero)),
        UnaryOp::LeakyRelu(s) => {
            let s = c(s);
            map(x, l, move |v| select(v > zero, v, s * v))
        }
        UnaryOp::Gelu => {
            let r = c(std::f64::consts::FRAC_1_SQRT_2);
            let h = c(0.5);
            map(x, l, move |v| h * v * (one + (v * r).erf()))
        }
        UnaryOp::Silu => map(x, l, move |v| v * sigmoid(v)),
        UnaryOp::Softplus => map(x, l, move |v| {
            // log(1 + e^v) = max(v, 0) + log(1 + e^-|v|): no overflow for large |v|.
            v.max(zero) + (-v.abs()).exp().ln_1p()
        }),
        UnaryOp::Erf => map(x, l, |v| v.erf()),
        UnaryOp::Powf(p) => {
            if p == 2.0 {
                map(x, l, |v| v * v)
            } else if p == 1.0 {
                map(x, l, |v| v)
            } else {
                let p = c(p);
                map(x, l, move |v| v.powf(p))
            }
        }
        UnaryOp::Affine(a, b) => {
            let (a, b) = (c(a), c(b));
            if b == zero {
                map(x, l, move |v| v * a)
            } else {
                map(x, l, move |v| v * a + b)
            }
        }
        UnaryOp::Clamp(lo, hi) => {
            let (lo, hi) = (c(lo), c(hi));
            map(x, l, move |v| select(v < lo, lo, select(v > hi, hi, v)))
        }
        UnaryOp::InRange(lo, hi) => {
            let (lo, hi) = (c(lo), c(hi));
            map(x, l, move |v| bool_to((v >= lo) & (v <= hi)))
        }
        UnaryOp::Recip => map(x, l, move |v| one / v),
    }
}

#[inline(always)]
fn sigmoid<T: FastMath>(v: T) -> T {
    // Stable on both tails: with e = e^-|v|, never more than 1, σ(v) is 1/(1+e) for v ≥ 0
    // and e/(1+e) below.
    let e = (-v.abs()).exp_v();
    let r = T::one() / (T::one() + e);
    if v >= T::zero() {
        r
    } else {
        e * r
    }
}

/// `a` where `c` holds, else `b`. Both operands are evaluated first: a captured value read
/// in only one branch of an `if` is loaded per element, and such loops were vectorised
/// with masked gathers of the one address instead of a broadcast.
#[inline(always)]
fn select<T>(c: bool, a: T, b: T) -> T {
    if c {
        a
    } else {
        b
    }
}

#[inline(always)]
fn bool_to<T: num_traits::One + num_traits::Zero>(b: bool) -> T {
    if b {
        T::one()
    } else {
        T::zero()
    }
}

pub(crate) fn binary_float<T: FloatElement>(
    op: BinaryOp,
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
) -> Vec<T> {
    match op {
        BinaryOp::Add => zip(a, la, b, lb, |x, y| x + y),
        BinaryOp::Sub => zip(a, la, b, lb, |x, y| x - y),
        BinaryOp::Mul => zip(a, la, b, lb, |x, y| x * y),
        BinaryOp::Div => zip(a, la, b, lb, |x, y| x / y),
        BinaryOp::Pow => zip(a, la, b, lb, |x, y| x.powf(y)),
        BinaryOp::Maximum => zip(a, la, b, lb, |x, y| if y > x { y } else { x }),
        BinaryOp::Minimum => zip(a, la, b, lb, |x, y| if y < x { y } else { x }),
        BinaryOp::Eq => zip(a, la, b, lb, |x, y| bool_to(x == y)),
        BinaryOp::Ne => zip(a, la, b, lb, |x, y| bool_to(x != y)),
        BinaryOp::Lt => zip(a, la, b, lb, |x, y| bool_to(x < y)),
        BinaryOp::Le => zip(a, la, b, lb, |x, y| bool_to(x <= y)),
        BinaryOp::Gt => zip(a, la, b, lb, |x, y| bool_to(x > y)),
        BinaryOp::Ge => zip(a, la, b, lb, |x, y| bool_to(x >= y)),
        BinaryOp::MulStep => {
            let zero = T::zero();
            zip(a, la, b, lb, move |x, y| x * bool_to::<T>(y > zero))
        }
        BinaryOp::TanhBackward => {
            let one = T::one();
            zip(a, la, b, lb, move |g, y| g * (one - y * y))
        }
    }
}

pub(crate) fn binary_int(
    op: BinaryOp,
    a: &[i64],
    la: &Layout,
    b: &[i64],
    lb: &Layout,
) -> Result<Vec<i64>> {
    Ok(match op {
        BinaryOp::Add => zip(a, la, b, lb, |x, y| x.wrapping_add(y)),
        BinaryOp::Sub => zip(a, la, b, lb, |x, y| x.wrapping_sub(y)),
        BinaryOp::Mul => zip(a, la, b, lb, |x, y| x.wrapping_mul(y)),
        BinaryOp::Maximum => zip(a, la, b, lb, |x, y| x.max(y)),
        BinaryOp::Minimum => zip(a, la, b, lb, |x, y| x.min(y)),
        BinaryOp::Eq => zip(a, la, b, lb, |x, y| bool_to(x == y)),
        BinaryOp::Ne => zip(a, la, b, lb, |x, y| bool_to(x != y)),
        BinaryOp::Lt => zip(a, la, b, lb, |x, y| bool_to(x < y)),
        BinaryOp::Le => zip(a, la, b, lb, |x, y| bool_to(x <= y)),
        BinaryOp::Gt => zip(a, la, b, lb, |x, y| bool_to(x > y)),
        BinaryOp::Ge => zip(a, la, b, lb, |x, y| bool_to(x >= y)),
        BinaryOp::MulStep => zip(a, la, b, lb, |x, y| if y > 0 { x } else { 0 }),
        BinaryOp::Div | BinaryOp::Pow | BinaryOp::TanhBackward => {
            return Err(TensorError::UnsupportedDType {
                op: match op {
                    BinaryOp::Div => "div",
                    BinaryOp::Pow => "pow",
                    _ => "tanh_backward",
                },
                dtype: DType::I64,
            })
        }
    })
}

/// `scale · a · b · c` over three views with equal dims (strides may be 0).
pub(crate) fn mul3<T: FloatElement>(
    scale: f64,
    (a, la): (&[T], &Layout),
    (b, lb): (&[T], &Layout),
    (c, lc): (&[T], &Layout),
) -> Vec<T> {
    let k = T::from_f64(scale);
    zip3(a, la, b, lb, c, lc, move |x, y, z| k * x * y * z)
}
