//! The CPU backend: host vectors, kernels vectorised by the compiler, threads (rayon) above
//! a size threshold, matrix products through `gemm`.

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod bf16_avx512;
#[cfg(target_arch = "x86_64")]
mod bf16_tiles;
mod conv;
mod elementwise;
mod gemm_lowp;
mod index;
mod lowp;
mod math;
mod matmul;
pub mod matmul_lowp;
mod nn;
pub(crate) mod pool;
mod reduce;
pub(crate) mod strided;
mod team;
mod window2x2;

use super::{Backend, BatchNormGrads, BinaryOp, Conv2dGeometry, ReduceOp, UnaryOp};
use crate::tensor::error::{Result, TensorError};
use crate::tensor::shape::Layout;
use crate::tensor::{DType, Element, FloatElement};
use half::{bf16, f16};
use strided::{contiguous, map};

/// Elements on the host, one vector per element type.
#[derive(Clone, Debug, PartialEq)]
pub enum CpuStorage {
    /// f32 elements
    F32(Vec<f32>),
    /// f64 elements
    F64(Vec<f64>),
    /// i64 elements
    I64(Vec<i64>),
    /// bf16 elements
    BF16(Vec<bf16>),
    /// f16 elements
    F16(Vec<f16>),
}

impl CpuStorage {
    pub(crate) fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
            CpuStorage::I64(_) => DType::I64,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::F16(_) => DType::F16,
        }
    }
    pub(crate) fn len(&self) -> usize {
        match self {
            CpuStorage::F32(v) => v.len(),
            CpuStorage::F64(v) => v.len(),
            CpuStorage::I64(v) => v.len(),
            CpuStorage::BF16(v) => v.len(),
            CpuStorage::F16(v) => v.len(),
        }
    }
    /// The elements as `T` if the types match.
    pub(crate) fn as_slice<T: Element>(&self) -> Option<&[T]> {
        let any: &dyn std::any::Any = match self {
            CpuStorage::F32(v) => v,
            CpuStorage::F64(v) => v,
            CpuStorage::I64(v) => v,
            CpuStorage::BF16(v) => v,
            CpuStorage::F16(v) => v,
        };
        any.downcast_ref::<Vec<T>>().map(|v| v.as_slice())
    }
    pub(crate) fn as_mut_slice<T: Element>(&mut self) -> Option<&mut [T]> {
        let any: &mut dyn std::any::Any = match self {
            CpuStorage::F32(v) => v,
            CpuStorage::F64(v) => v,
            CpuStorage::I64(v) => v,
            CpuStorage::BF16(v) => v,
            CpuStorage::F16(v) => v,
        };
        any.downcast_mut::<Vec<T>>().map(|v| v.as_mut_slice())
    }
    /// Hands the buffer to the cache of freed buffers (leaving this storage empty).
    pub(crate) fn recycle(&mut self) {
        match self {
            CpuStorage::F32(v) => pool::give(std::mem::take(v)),
            CpuStorage::F64(v) => pool::give(std::mem::take(v)),
            CpuStorage::I64(v) => pool::give(std::mem::take(v)),
            CpuStorage::BF16(v) => pool::give(std::mem::take(v)),
            CpuStorage::F16(v) => pool::give(std::mem::take(v)),
        }
    }
    /// Wraps a vector of any element type.
    pub(crate) fn from_vec<T: Element>(v: Vec<T>) -> Self {
        let mut slot = Some(v);
        let any: &mut dyn std::any::Any = &mut slot;
        if let Some(v) = any.downcast_mut::<Option<Vec<f32>>>() {
            return CpuStorage::F32(v.take().unwrap());
        }
        if let Some(v) = any.downcast_mut::<Option<Vec<f64>>>() {
            return CpuStorage::F64(v.take().unwrap());
        }
        if let Some(v) = any.downcast_mut::<Option<Vec<i64>>>() {
            return CpuStorage::I64(v.take().unwrap());
        }
        if let Some(v) = any.downcast_mut::<Option<Vec<bf16>>>() {
            return CpuStorage::BF16(v.take().unwrap());
        }
        if let Some(v) = any.downcast_mut::<Option<Vec<f16>>>() {
            return CpuStorage::F16(v.take().unwrap());
        }
        unreachable!("Element is sealed to f32, f64, i64, bf16 and f16")
    }
}

/// The CPU implementation of [`Backend`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

/// Runs `$body` with `$v` bound to the f32 or f64 vector of `$x`; other types are an error
/// naming `$op` (16-bit floats are widened to f32 before, see [`lowp`]).
macro_rules! float_only {
    ($op:expr, $x:expr, |$v:ident| $body:expr) => {
        match $x {
            CpuStorage::F32($v) => CpuStorage::F32($body),
            CpuStorage::F64($v) => CpuStorage::F64($body),
            x => {
                return Err(TensorError::UnsupportedDType {
                    op: $op,
                    dtype: x.dtype(),
                })
            }
        }
    };
}

/// Runs `$method` on the operands `$x` widened to f32 if one of them is a 16-bit float,
/// and returns its result rounded back to that type (see [`lowp`]); other operands pass
/// through as they are (indices, and the layouts given with `$x`).
macro_rules! via_f32 {
    ($self:ident . $method:ident ( $($arg:tt)* ) ; $($x:ident : $l:ident),+ ) => {
        if let Some(d) = lowp::any_half(&[$($x),+]) {
            $(let w = lowp::widen($x, $l);
              let ($x, $l) = match &w { Some((s, l, _)) => (s, l), None => ($x, $l) };)+
            return Ok(lowp::round_to($self.$method($($arg)*)?, d));
        }
    };
}

/// Runs `$body` with `$a`, `$b` bound to the vectors of two float operands of one type,
/// wrapping the result in that type's variant; differing types, or I64, are errors naming
/// `$op`.
macro_rules! float_pair {
    ($op:expr, $x:expr, $y:expr, |$a:ident, $b:ident| $body:expr) => {
        match same_type($op, $x, $y)? {
            (CpuStorage::F32($a), CpuStorage::F32($b)) => CpuStorage::F32($body),
            (CpuStorage::F64($a), CpuStorage::F64($b)) => CpuStorage::F64($body),
            (x, _) => {
                return Err(TensorError::UnsupportedDType {
                    op: $op,
                    dtype: x.dtype(),
                })
            }
        }
    };
}

/// Runs `$body` for every element type, wrapping the result in the same variant.
macro_rules! any_type {
    ($x:expr, |$v:ident| $body:expr) => {
        match $x {
            CpuStorage::F32($v) => CpuStorage::F32($body),
            CpuStorage::F64($v) => CpuStorage::F64($body),
            CpuStorage::I64($v) => CpuStorage::I64($body),
            CpuStorage::BF16($v) => CpuStorage::BF16($body),
            CpuStorage::F16($v) => CpuStorage::F16($body),
        }
    };
}

/// Runs `$body` for f32, f64 and i64, wrapping the result in the same variant; 16-bit
/// floats are an error naming `$op` (they are widened to f32 before, see [`lowp`]).
macro_rules! wide_type {
    ($op:expr, $x:expr, |$v:ident| $body:expr) => {
        match $x {
            CpuStorage::F32($v) => CpuStorage::F32($body),
            CpuStorage::F64($v) => CpuStorage::F64($body),
            CpuStorage::I64($v) => CpuStorage::I64($body),
            x => {
                return Err(TensorError::UnsupportedDType {
                    op: $op,
                    dtype: x.dtype(),
                })
            }
        }
    };
}

fn same_type<'a>(
    op: &'static str,
    a: &'a CpuStorage,
    b: &'a CpuStorage,
) -> Result<(&'a CpuStorage, &'a CpuStorage)> {
    if a.dtype() != b.dtype() {
        return Err(TensorError::DTypeMismatch {
            op,
            lhs: a.dtype(),
            rhs: b.dtype(),
        });
    }
    Ok((a, b))
}

/// The elements of a float view of type `T` as a contiguous slice (copied only if needed).
fn float_slice<'a, T: Element>(
    op: &'static str,
    x: &'a CpuStorage,
    l: &Layout,
) -> Result<std::borrow::Cow<'a, [T]>> {
    match x.as_slice::<T>() {
        Some(v) => Ok(contiguous(v, l)),
        None => Err(TensorError::DTypeMismatch {
            op,
            lhs: T::DTYPE,
            rhs: x.dtype(),
        }),
    }
}

fn indices<'a>(
    op: &'static str,
    idx: &'a CpuStorage,
    l: &Layout,
) -> Result<std::borrow::Cow<'a, [i64]>> {
    match idx {
        CpuStorage::I64(v) => Ok(contiguous(v, l)),
        other => Err(TensorError::UnsupportedDType {
            op,
            dtype: other.dtype(),
        }),
    }
}

impl Backend for CpuBackend {
    type Storage = CpuStorage;

    fn full(&self, dtype: DType, n: usize, value: f64) -> CpuStorage {
        match dtype {
            DType::F32 => CpuStorage::F32(pool::filled(n, value as f32)),
            DType::F64 => CpuStorage::F64(pool::filled(n, value)),
            DType::I64 => CpuStorage::I64(pool::filled(n, value as i64)),
            DType::BF16 => CpuStorage::BF16(pool::filled(n, bf16::from_f64(value))),
            DType::F16 => CpuStorage::F16(pool::filled(n, f16::from_f64(value))),
        }
    }

    fn copy(&self, x: &CpuStorage, l: &Layout) -> CpuStorage {
        any_type!(x, |v| map(v, l, |e| e))
    }

    fn cast(&self, x: &CpuStorage, l: &Layout, dtype: DType) -> CpuStorage {
        if x.dtype() == dtype {
            return self.copy(x, l);
        }
        lowp::cast(x, l, dtype)
    }

    fn assign(&self, buf: &mut CpuStorage, dst: &Layout, src: &CpuStorage, l: &Layout) {
        // Callers convert `src` to `buf`'s dtype first.
        match (buf, src) {
            (CpuStorage::F32(b), CpuStorage::F32(s)) => strided::assign(b, dst, s, l),
            (CpuStorage::F64(b), CpuStorage::F64(s)) => strided::assign(b, dst, s, l),
            (CpuStorage::I64(b), CpuStorage::I64(s)) => strided::assign(b, dst, s, l),
            (CpuStorage::BF16(b), CpuStorage::BF16(s)) => strided::assign(b, dst, s, l),
            (CpuStorage::F16(b), CpuStorage::F16(s)) => strided::assign(b, dst, s, l),
            _ => unreachable!("assign: dtypes are unified by the caller"),
        }
    }

    fn all_finite(&self, x: &CpuStorage, l: &Layout) -> bool {
        match x {
            CpuStorage::F32(v) => contiguous(v, l).iter().all(|e| e.is_finite()),
            CpuStorage::F64(v) => contiguous(v, l).iter().all(|e| e.is_finite()),
            CpuStorage::BF16(v) => contiguous(v, l).iter().all(|e| e.is_finite()),
            CpuStorage::F16(v) => contiguous(v, l).iter().all(|e| e.is_finite()),
            CpuStorage::I64(_) => true,
        }
    }

    fn unary(&self, op: UnaryOp, x: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        if let (UnaryOp::Neg, CpuStorage::I64(v)) = (op, x) {
            return Ok(CpuStorage::I64(map(v, l, |e: i64| e.wrapping_neg())));
        }
        via_f32!(self.unary(op, x, l); x: l);
        Ok(float_only!("unary op", x, |v| elementwise::unary(op, v, l)))
    }

    fn binary(
        &self,
        op: BinaryOp,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> Result<CpuStorage> {
        same_type("binary op", a, b)?;
        via_f32!(self.binary(op, a, la, b, lb); a: la, b: lb);
        Ok(match same_type("binary op", a, b)? {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                CpuStorage::F32(elementwise::binary_float(op, a, la, b, lb))
            }
            (CpuStorage::F64(a), CpuStorage::F64(b)) => {
                CpuStorage::F64(elementwise::binary_float(op, a, la, b, lb))
            }
            (CpuStorage::I64(a), CpuStorage::I64(b)) => {
                CpuStorage::I64(elementwise::binary_int(op, a, la, b, lb)?)
            }
            (x, _) => {
                return Err(TensorError::UnsupportedDType {
                    op: "binary op",
                    dtype: x.dtype(),
                })
            }
        })
    }

    fn where_cond(
        &self,
        mask: &CpuStorage,
        lm: &Layout,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> Result<CpuStorage> {
        let m: Vec<bool> = match mask {
            CpuStorage::F32(v) => map(v, lm, |e| e != 0.0),
            CpuStorage::F64(v) => map(v, lm, |e| e != 0.0),
            CpuStorage::I64(v) => map(v, lm, |e| e != 0),
            CpuStorage::BF16(v) => map(v, lm, |e| e != bf16::ZERO),
            CpuStorage::F16(v) => map(v, lm, |e| e != f16::ZERO),
        };
        fn pick<T: Copy + Send + Sync + Default + 'static>(
            m: &[bool],
            a: &[T],
            la: &Layout,
            b: &[T],
            lb: &Layout,
        ) -> Vec<T> {
            let (a, b) = (contiguous(a, la), contiguous(b, lb));
            m.iter()
                .zip(a.iter().zip(b.iter()))
                .map(|(&m, (&x, &y))| if m { x } else { y })
                .collect()
        }
        Ok(match same_type("where_cond", a, b)? {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(pick(&m, a, la, b, lb)),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(pick(&m, a, la, b, lb)),
            (CpuStorage::I64(a), CpuStorage::I64(b)) => CpuStorage::I64(pick(&m, a, la, b, lb)),
            (CpuStorage::BF16(a), CpuStorage::BF16(b)) => CpuStorage::BF16(pick(&m, a, la, b, lb)),
            (CpuStorage::F16(a), CpuStorage::F16(b)) => CpuStorage::F16(pick(&m, a, la, b, lb)),
            _ => unreachable!("same_type checked the operands"),
        })
    }

    fn reduce(
        &self,
        op: ReduceOp,
        x: &CpuStorage,
        l: &Layout,
        axes: &[usize],
    ) -> Result<CpuStorage> {
        via_f32!(self.reduce(op, x, l, axes); x: l);
        Ok(wide_type!("reduce", x, |v| reduce::reduce(op, v, l, axes)))
    }

    fn mul3(
        &self,
        scale: f64,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
        c: &CpuStorage,
        lc: &Layout,
    ) -> Result<CpuStorage> {
        same_type("mul3", a, b)?;
        same_type("mul3", a, c)?;
        via_f32!(self.mul3(scale, a, la, b, lb, c, lc); a: la, b: lb, c: lc);
        Ok(match (a, b, c) {
            (CpuStorage::F32(a), CpuStorage::F32(b), CpuStorage::F32(c)) => {
                CpuStorage::F32(elementwise::mul3(scale, (a, la), (b, lb), (c, lc)))
            }
            (CpuStorage::F64(a), CpuStorage::F64(b), CpuStorage::F64(c)) => {
                CpuStorage::F64(elementwise::mul3(scale, (a, la), (b, lb), (c, lc)))
            }
            (x, _, _) => {
                return Err(TensorError::UnsupportedDType {
                    op: "mul3",
                    dtype: x.dtype(),
                })
            }
        })
    }

    fn add_to_rows(&self, buf: &mut CpuStorage, b: &CpuStorage, lb: &Layout) -> Result<()> {
        fn add<T: FloatElement>(buf: &mut [T], b: &[T], lb: &Layout) {
            let b = contiguous(b, lb);
            for row in buf.chunks_exact_mut(b.len().max(1)) {
                math::vectorized(
                    #[inline(always)]
                    || {
                        for (o, &x) in row.iter_mut().zip(b.iter()) {
                            *o += x;
                        }
                    },
                );
            }
        }
        match (buf, b) {
            (CpuStorage::F32(v), CpuStorage::F32(b)) => add(v, b, lb),
            (CpuStorage::F64(v), CpuStorage::F64(b)) => add(v, b, lb),
            (v, b) => {
                return Err(if v.dtype() == b.dtype() {
                    TensorError::UnsupportedDType {
                        op: "add_to_rows",
                        dtype: v.dtype(),
                    }
                } else {
                    TensorError::DTypeMismatch {
                        op: "add_to_rows",
                        lhs: v.dtype(),
                        rhs: b.dtype(),
                    }
                })
            }
        }
        Ok(())
    }

    fn mul_reduce(
        &self,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
        axes: &[usize],
    ) -> Result<CpuStorage> {
        same_type("mul_reduce", a, b)?;
        via_f32!(self.mul_reduce(a, la, b, lb, axes); a: la, b: lb);
        Ok(float_pair!("mul_reduce", a, b, |a, b| reduce::mul_reduce(
            a, la, b, lb, axes
        )))
    }

    fn arg_reduce(&self, max: bool, x: &CpuStorage, l: &Layout, axis: usize) -> Result<CpuStorage> {
        Ok(CpuStorage::I64(match x {
            CpuStorage::F32(v) => reduce::arg_reduce(max, v, l, axis),
            CpuStorage::F64(v) => reduce::arg_reduce(max, v, l, axis),
            CpuStorage::I64(v) => reduce::arg_reduce(max, v, l, axis),
            CpuStorage::BF16(v) => reduce::arg_reduce(max, v, l, axis),
            CpuStorage::F16(v) => reduce::arg_reduce(max, v, l, axis),
        }))
    }

    fn matmul(
        &self,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> Result<CpuStorage> {
        Ok(match same_type("matmul", a, b)? {
            (CpuStorage::BF16(a), CpuStorage::BF16(b)) => {
                CpuStorage::BF16(lowp::matmul(a, la, b, lb))
            }
            (CpuStorage::F16(a), CpuStorage::F16(b)) => CpuStorage::F16(lowp::matmul(a, la, b, lb)),
            (a, b) => float_pair!("matmul", a, b, |a, b| matmul::matmul(a, la, b, lb)),
        })
    }

    fn index_select(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        axis: usize,
        idx: &CpuStorage,
        li: &Layout,
    ) -> Result<CpuStorage> {
        let idx = indices("index_select", idx, li)?;
        Ok(any_type!(x, |v| index::index_select(
            &contiguous(v, lx),
            &lx.dims,
            axis,
            &idx
        )?))
    }

    fn index_add(
        &self,
        dims: &[usize],
        axis: usize,
        idx: &CpuStorage,
        li: &Layout,
        src: &CpuStorage,
        ls: &Layout,
    ) -> Result<CpuStorage> {
        via_f32!(self.index_add(dims, axis, idx, li, src, ls); src: ls);
        let idx = indices("index_add", idx, li)?;
        Ok(wide_type!("index_add", src, |v| index::index_add(
            dims,
            axis,
            &idx,
            &contiguous(v, ls)
        )?))
    }

    fn gather(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        axis: usize,
        idx: &CpuStorage,
        li: &Layout,
    ) -> Result<CpuStorage> {
        let idx = indices("gather", idx, li)?;
        Ok(any_type!(x, |v| index::gather(
            &contiguous(v, lx),
            &lx.dims,
            axis,
            &idx,
            &li.dims
        )?))
    }

    fn scatter_add(
        &self,
        dims: &[usize],
        axis: usize,
        idx: &CpuStorage,
        li: &Layout,
        src: &CpuStorage,
        ls: &Layout,
    ) -> Result<CpuStorage> {
        via_f32!(self.scatter_add(dims, axis, idx, li, src, ls); src: ls);
        let idx = indices("scatter_add", idx, li)?;
        Ok(wide_type!("scatter_add", src, |v| index::scatter_add(
            dims,
            axis,
            &idx,
            &li.dims,
            &contiguous(v, ls)
        )?))
    }

    fn unfold2d(&self, x: &CpuStorage, l: &Layout, g: &Conv2dGeometry) -> Result<CpuStorage> {
        Ok(any_type!(x, |v| conv::unfold2d(&contiguous(v, l), g)))
    }

    fn fold2d(&self, x: &CpuStorage, l: &Layout, g: &Conv2dGeometry) -> Result<CpuStorage> {
        via_f32!(self.fold2d(x, l, g); x: l);
        Ok(float_only!("fold2d", x, |v| conv::fold2d(
            &contiguous(v, l),
            g
        )))
    }

    fn conv2d(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        w: &CpuStorage,
        lw: &Layout,
        bias: Option<(&CpuStorage, &Layout)>,
        g: &Conv2dGeometry,
        groups: usize,
    ) -> Result<CpuStorage> {
        let o = lw.dims[0];
        Ok(match (same_type("conv2d", x, w)?, bias) {
            ((CpuStorage::BF16(x), CpuStorage::BF16(w)), b) => {
                let b = b
                    .map(|(b, l)| float_slice::<bf16>("conv2d", b, l))
                    .transpose()?;
                CpuStorage::BF16(lowp::conv2d(
                    &contiguous(x, lx),
                    &contiguous(w, lw),
                    b.as_deref(),
                    g,
                    o,
                    groups,
                ))
            }
            ((CpuStorage::F16(x), CpuStorage::F16(w)), b) => {
                let b = b
                    .map(|(b, l)| float_slice::<f16>("conv2d", b, l))
                    .transpose()?;
                CpuStorage::F16(lowp::conv2d(
                    &contiguous(x, lx),
                    &contiguous(w, lw),
                    b.as_deref(),
                    g,
                    o,
                    groups,
                ))
            }
            ((CpuStorage::F32(x), CpuStorage::F32(w)), b) => {
                let b = b
                    .map(|(b, l)| float_slice::<f32>("conv2d", b, l))
                    .transpose()?;
                CpuStorage::F32(conv::conv2d(
                    &contiguous(x, lx),
                    &contiguous(w, lw),
                    b.as_deref(),
                    g,
                    o,
                    groups,
                ))
            }
            ((CpuStorage::F64(x), CpuStorage::F64(w)), b) => {
                let b = b
                    .map(|(b, l)| float_slice::<f64>("conv2d", b, l))
                    .transpose()?;
                CpuStorage::F64(conv::conv2d(
                    &contiguous(x, lx),
                    &contiguous(w, lw),
                    b.as_deref(),
                    g,
                    o,
                    groups,
                ))
            }
            ((x, _), _) => {
                return Err(TensorError::UnsupportedDType {
                    op: "conv2d",
                    dtype: x.dtype(),
                })
            }
        })
    }

    fn conv2d_input_grad(
        &self,
        gy: &CpuStorage,
        lgy: &Layout,
        w: &CpuStorage,
        lw: &Layout,
        g: &Conv2dGeometry,
        groups: usize,
    ) -> Result<CpuStorage> {
        let o = lw.dims[0];
        Ok(match same_type("conv2d", gy, w)? {
            (CpuStorage::BF16(gy), CpuStorage::BF16(w)) => CpuStorage::BF16(
                lowp::conv2d_input_grad(&contiguous(gy, lgy), &contiguous(w, lw), g, o, groups),
            ),
            (CpuStorage::F16(gy), CpuStorage::F16(w)) => CpuStorage::F16(lowp::conv2d_input_grad(
                &contiguous(gy, lgy),
                &contiguous(w, lw),
                g,
                o,
                groups,
            )),
            (gy, w) => float_pair!("conv2d", gy, w, |gy, w| {
                conv::conv2d_input_grad(&contiguous(gy, lgy), &contiguous(w, lw), g, o, groups)
            }),
        })
    }

    fn conv2d_weight_grad(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        gy: &CpuStorage,
        lgy: &Layout,
        g: &Conv2dGeometry,
        groups: usize,
    ) -> Result<CpuStorage> {
        let o = lgy.dims[1];
        Ok(match same_type("conv2d", x, gy)? {
            (CpuStorage::BF16(x), CpuStorage::BF16(gy)) => CpuStorage::BF16(
                lowp::conv2d_weight_grad(&contiguous(x, lx), &contiguous(gy, lgy), g, o, groups),
            ),
            (CpuStorage::F16(x), CpuStorage::F16(gy)) => CpuStorage::F16(lowp::conv2d_weight_grad(
                &contiguous(x, lx),
                &contiguous(gy, lgy),
                g,
                o,
                groups,
            )),
            (x, gy) => float_pair!("conv2d", x, gy, |x, gy| {
                conv::conv2d_weight_grad(&contiguous(x, lx), &contiguous(gy, lgy), g, o, groups)
            }),
        })
    }

    fn max_pool2d(&self, x: &CpuStorage, l: &Layout, g: &Conv2dGeometry) -> Result<CpuStorage> {
        via_f32!(self.max_pool2d(x, l, g); x: l);
        Ok(float_only!("max_pool2d", x, |v| conv::max_pool2d(
            &contiguous(v, l),
            g
        )))
    }

    fn max_pool2d_backward(
        &self,
        x: (&CpuStorage, &Layout),
        gy: (&CpuStorage, &Layout),
        g: &Conv2dGeometry,
    ) -> Result<CpuStorage> {
        let ((xs, lx), (gs, lg)) = (x, gy);
        same_type("max_pool2d", xs, gs)?;
        via_f32!(self.max_pool2d_backward((xs, lx), (gs, lg), g); xs: lx, gs: lg);
        Ok(float_pair!("max_pool2d", x.0, gy.0, |xs, gs| {
            conv::max_pool2d_backward(&contiguous(xs, x.1), &contiguous(gs, gy.1), g)
        }))
    }

    fn max_pool2d_select(
        &self,
        x: (&CpuStorage, &Layout),
        v: (&CpuStorage, &Layout),
        g: &Conv2dGeometry,
    ) -> Result<CpuStorage> {
        let ((xs, lx), (vs, lv)) = (x, v);
        same_type("max_pool2d", xs, vs)?;
        via_f32!(self.max_pool2d_select((xs, lx), (vs, lv), g); xs: lx, vs: lv);
        Ok(float_pair!("max_pool2d", x.0, v.0, |xs, vs| {
            conv::max_pool2d_select(&contiguous(xs, x.1), &contiguous(vs, v.1), g)
        }))
    }

    fn softmax(&self, x: &CpuStorage, l: &Layout, log: bool) -> Result<CpuStorage> {
        via_f32!(self.softmax(x, l, log); x: l);
        let row = *l.dims.last().unwrap_or(&1);
        Ok(float_only!("softmax", x, |v| nn::softmax(
            &contiguous(v, l),
            row,
            log
        )))
    }

    fn cross_entropy(
        &self,
        logits: &CpuStorage,
        l: &Layout,
        targets: &CpuStorage,
        lt: &Layout,
    ) -> Result<CpuStorage> {
        via_f32!(self.cross_entropy(logits, l, targets, lt); logits: l);
        let t = indices("cross_entropy", targets, lt)?;
        let c = l.dims[1];
        Ok(float_only!("cross_entropy", logits, |v| nn::cross_entropy(
            &contiguous(v, l),
            c,
            &t
        )?))
    }

    fn cross_entropy_backward(
        &self,
        logits: &CpuStorage,
        l: &Layout,
        targets: &CpuStorage,
        lt: &Layout,
        g: &CpuStorage,
        lg: &Layout,
    ) -> Result<CpuStorage> {
        same_type("cross_entropy", logits, g)?;
        via_f32!(self.cross_entropy_backward(logits, l, targets, lt, g, lg); logits: l, g: lg);
        let t = indices("cross_entropy", targets, lt)?;
        let c = l.dims[1];
        Ok(float_pair!("cross_entropy", logits, g, |x, g| {
            nn::cross_entropy_backward(&contiguous(x, l), c, &t, &contiguous(g, lg))?
        }))
    }

    fn batch_norm(
        &self,
        x: &CpuStorage,
        l: &Layout,
        weight: Option<&CpuStorage>,
        bias: Option<&CpuStorage>,
        eps: f64,
    ) -> Result<(CpuStorage, CpuStorage, CpuStorage)> {
        fn run<T: FloatElement>(
            x: &[T],
            l: &Layout,
            weight: Option<&CpuStorage>,
            bias: Option<&CpuStorage>,
            eps: f64,
        ) -> Result<(CpuStorage, CpuStorage, CpuStorage)> {
            let x = contiguous(x, l);
            let w = weight.map(channel_vec::<T>).transpose()?;
            let b = bias.map(channel_vec::<T>).transpose()?;
            let (y, m, v) = nn::batch_norm(&x, planes(l), w, b, eps);
            let wrap = CpuStorage::from_vec::<T>;
            Ok((wrap(y), wrap(m), wrap(v)))
        }
        if let Some((xw, lw, d)) = lowp::widen(x, l) {
            let (weight, bias) = (weight.map(lowp::widen_flat), bias.map(lowp::widen_flat));
            let (y, m, v) = self.batch_norm(&xw, &lw, weight.as_deref(), bias.as_deref(), eps)?;
            let round = |s| lowp::round_to(s, d);
            return Ok((round(y), round(m), round(v)));
        }
        match x {
            CpuStorage::F32(v) => run(v, l, weight, bias, eps),
            CpuStorage::F64(v) => run(v, l, weight, bias, eps),
            x => Err(TensorError::UnsupportedDType {
                op: "batch_norm",
                dtype: x.dtype(),
            }),
        }
    }

    fn batch_norm_backward(
        &self,
        x: (&CpuStorage, &Layout),
        gy: (&CpuStorage, &Layout),
        mean: &CpuStorage,
        var: &CpuStorage,
        weight: Option<&CpuStorage>,
        eps: f64,
        input_grad: bool,
    ) -> Result<BatchNormGrads<CpuStorage>> {
        fn run<T: FloatElement>(
            x: (&[T], &Layout),
            gy: (&CpuStorage, &Layout),
            stats: (&CpuStorage, &CpuStorage),
            weight: Option<&CpuStorage>,
            eps: f64,
            input_grad: bool,
        ) -> Result<BatchNormGrads<CpuStorage>> {
            let xs = contiguous(x.0, x.1);
            let gs = float_slice::<T>("batch_norm", gy.0, gy.1)?;
            let (gx, gw, gb) = nn::batch_norm_backward(
                &xs,
                &gs,
                planes(x.1),
                channel_vec::<T>(stats.0)?,
                channel_vec::<T>(stats.1)?,
                weight.map(channel_vec::<T>).transpose()?,
                eps,
                input_grad,
            );
            let wrap = CpuStorage::from_vec::<T>;
            Ok(BatchNormGrads {
                input: gx.map(wrap),
                weight: wrap(gw),
                bias: wrap(gb),
            })
        }
        if let Some((xw, lw, d)) = lowp::widen(x.0, x.1) {
            let gw = lowp::widen(gy.0, gy.1);
            let gy = gw.as_ref().map_or(gy, |(s, l, _)| (s, l));
            let (mean, var) = (lowp::widen_flat(mean), lowp::widen_flat(var));
            let weight = weight.map(lowp::widen_flat);
            let g = self.batch_norm_backward(
                (&xw, &lw),
                gy,
                &mean,
                &var,
                weight.as_deref(),
                eps,
                input_grad,
            )?;
            let round = |s| lowp::round_to(s, d);
            return Ok(BatchNormGrads {
                input: g.input.map(round),
                weight: round(g.weight),
                bias: round(g.bias),
            });
        }
        let stats = (mean, var);
        match x.0 {
            CpuStorage::F32(v) => run((v, x.1), gy, stats, weight, eps, input_grad),
            CpuStorage::F64(v) => run((v, x.1), gy, stats, weight, eps, input_grad),
            x => Err(TensorError::UnsupportedDType {
                op: "batch_norm",
                dtype: x.dtype(),
            }),
        }
    }
}

/// A per-channel vector of a batch normalisation as `T` elements (a dtype mismatch is an
/// error naming the op).
fn channel_vec<T: Element>(p: &CpuStorage) -> Result<&[T]> {
    p.as_slice::<T>().ok_or(TensorError::DTypeMismatch {
        op: "batch_norm",
        lhs: T::DTYPE,
        rhs: p.dtype(),
    })
}

/// An `(N, C, ..)` layout as `(N, C, S)` planes.
fn planes(l: &Layout) -> nn::Planes {
    nn::Planes {
        n: l.dims[0],
        c: l.dims[1],
        s: l.dims[2..].iter().product(),
    }
}
