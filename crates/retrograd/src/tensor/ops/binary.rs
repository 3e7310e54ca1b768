//! Elementwise functions of two tensors with NumPy broadcasting, comparisons, `where_cond`,
//! and the arithmetic operators. Each rule's result is summed back to its input's shape
//! (`sum_to`), which is the adjoint of broadcasting.

use crate::tensor::autograd::{constant, no_grad, record_new, Save};
use crate::tensor::backend::{self, BinaryOp};
use crate::tensor::error::{shape_mismatch, Result};
use crate::tensor::shape::{broadcast_layout, broadcast_shapes};
use crate::tensor::storage::StorageData;
use crate::tensor::{Tensor, TensorError};

type Rule = fn(&Tensor, &Tensor, &Tensor, &Tensor) -> Result<(Tensor, Tensor)>;

impl Tensor {
    /// Broadcasts both operands and runs the kernel; returns the data and output dims.
    fn broadcast_kernel(
        &self,
        name: &'static str,
        op: BinaryOp,
        rhs: &Tensor,
    ) -> Result<(StorageData, Vec<usize>)> {
        self.require_same_dtype(name, rhs)?;
        let dims = broadcast_shapes(name, self.dims(), rhs.dims())?;
        let la = broadcast_layout(name, self.layout(), &dims)?;
        let lb = broadcast_layout(name, rhs.layout(), &dims)?;
        let data = Tensor::read_all(&[self, rhs], |s| backend::binary(op, s[0], &la, s[1], &lb))?;
        Ok((data, dims))
    }

    #[track_caller]
    fn binary_op(
        &self,
        name: &'static str,
        op: BinaryOp,
        rhs: &Tensor,
        save: Save,
        rule: Rule,
    ) -> Result<Tensor> {
        if let Some((a, b)) = self.promoted(name, rhs)? {
            return a.binary_op(name, op, &b, save, rule);
        }
        let (data, dims) = self.broadcast_kernel(name, op, rhs)?;
        record_new(name, data, dims, &[self, rhs], save, move |ctx, g| {
            let (a, b) = (ctx.input(0), ctx.input(1));
            let (ga, gb) = rule(a, b, ctx.output, g)?;
            Ok(vec![
                if ctx.needs(0) {
                    Some(ga.sum_to(a.dims())?)
                } else {
                    None
                },
                if ctx.needs(1) {
                    Some(gb.sum_to(b.dims())?)
                } else {
                    None
                },
            ])
        })
    }

    fn compare(&self, name: &'static str, op: BinaryOp, rhs: &Tensor) -> Result<Tensor> {
        if let Some((a, b)) = self.promoted(name, rhs)? {
            return a.compare(name, op, &b);
        }
        let (data, dims) = self.broadcast_kernel(name, op, rhs)?;
        Ok(constant(data, dims))
    }

    /// For float operands of different types, both converted (recorded, so gradients flow
    /// back in each operand's type) to the type [`DType::promote`] gives, as PyTorch
    /// promotes (`bf16 + f32 -> f32`); `None` when the types agree. Integer with float is
    /// an error naming both types.
    fn promoted(&self, name: &'static str, rhs: &Tensor) -> Result<Option<(Tensor, Tensor)>> {
        if self.dtype() == rhs.dtype() {
            return Ok(None);
        }
        let d = self
            .dtype()
            .promote(rhs.dtype())
            .ok_or(TensorError::DTypeMismatch {
                op: name,
                lhs: self.dtype(),
                rhs: rhs.dtype(),
            })?;
        Ok(Some((self.to_dtype(d)?, rhs.to_dtype(d)?)))
    }

    /// A scalar of this tensor's dtype, for ops with a constant operand.
    fn scalar_like(&self, v: f64) -> Tensor {
        Tensor::full((), v, self.dtype())
    }
}

macro_rules! binary_ops {
    ($( $(#[$doc:meta])* $name:ident: $op:ident, $save:ident, |$a:ident, $b:ident, $y:ident, $g:ident| $rule:expr; )*) => {
        impl Tensor {$(
            $(#[$doc])*
            #[track_caller]
            pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                #[allow(unused_variables)]
                fn rule($a: &Tensor, $b: &Tensor, $y: &Tensor, $g: &Tensor) -> Result<(Tensor, Tensor)> { $rule }
                self.binary_op(stringify!($name), BinaryOp::$op, rhs, Save::$save, rule)
            }
        )*}
    };
}

/// Detached 0/1 (and ½ at ties) weights saying which operand of max/min was selected.
fn select_weights(a: &Tensor, b: &Tensor, first_wins: BinaryOp) -> Result<(Tensor, Tensor)> {
    no_grad(|| {
        let wins = a.compare("max", first_wins, b)?;
        let ties = a.compare("max", BinaryOp::Eq, b)?.mul_scalar(0.5)?;
        let wa = wins.add(&ties)?;
        let wb = wa.affine(-1.0, 1.0)?;
        Ok((wa, wb))
    })
}

binary_ops! {
    /// `a + b` with broadcasting.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
    /// let b = Tensor::from_vec(vec![10.0f32, 20.0], [2]).unwrap();
    /// assert_eq!(a.add(&b).unwrap().to_vec::<f32>().unwrap(), vec![11.0, 22.0, 13.0, 24.0]);
    /// ```
    add: Add, Nothing, |a, b, y, g| Ok((g.clone(), g.clone()));
    /// `aᵇ` elementwise, with broadcasting. The exponent's gradient `g aᵇ ln a` is taken as
    /// 0 where `a <= 0` (where `ln a` is undefined).
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![2.0f64], [1]).unwrap();
    /// let b = Tensor::from_vec(vec![3.0f64], [1]).unwrap();
    /// assert_eq!(a.pow(&b).unwrap().item().unwrap(), 8.0);
    /// ```
    pow: Pow, All, |a, b, y, g| {
        let ga = g.mul(&b.mul(&a.pow(&b.add_scalar(-1.0)?)?)?)?;
        let positive = no_grad(|| a.gt(&a.scalar_like(0.0)))?;
        let safe_a = positive.where_cond(a, &Tensor::ones_like(a))?;
        let gb = g.mul(&y.mul(&safe_a.log()?)?)?.mul(&positive)?;
        Ok((ga, gb))
    };
    /// Elementwise maximum; at ties the gradient is split evenly.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f64, 5.0], [2]).unwrap();
    /// let b = Tensor::from_vec(vec![3.0f64, 2.0], [2]).unwrap();
    /// assert_eq!(a.maximum(&b).unwrap().to_vec::<f64>().unwrap(), vec![3.0, 5.0]);
    /// ```
    maximum: Maximum, Inputs, |a, b, y, g| {
        let (wa, wb) = select_weights(a, b, BinaryOp::Gt)?;
        Ok((g.mul(&wa)?, g.mul(&wb)?))
    };
    /// Elementwise minimum; at ties the gradient is split evenly.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f64, 5.0], [2]).unwrap();
    /// let b = Tensor::from_vec(vec![3.0f64, 2.0], [2]).unwrap();
    /// assert_eq!(a.minimum(&b).unwrap().to_vec::<f64>().unwrap(), vec![1.0, 2.0]);
    /// ```
    minimum: Minimum, Inputs, |a, b, y, g| {
        let (wa, wb) = select_weights(a, b, BinaryOp::Lt)?;
        Ok((g.mul(&wa)?, g.mul(&wb)?))
    };
}

/// A rule that returns input gradients already summed to the inputs' shapes (so it can
/// reduce before it multiplies, or fuse the product into the reduction).
type ReducingRule = fn(&Tensor, &Tensor, &Tensor, [bool; 2]) -> Result<[Option<Tensor>; 2]>;

impl Tensor {
    #[track_caller]
    pub(super) fn binary_reducing(
        &self,
        name: &'static str,
        op: BinaryOp,
        rhs: &Tensor,
        save: Save,
        rule: ReducingRule,
    ) -> Result<Tensor> {
        if let Some((a, b)) = self.promoted(name, rhs)? {
            return a.binary_reducing(name, op, &b, save, rule);
        }
        let (data, dims) = self.broadcast_kernel(name, op, rhs)?;
        record_new(name, data, dims, &[self, rhs], save, move |ctx, g| {
            let [ga, gb] = rule(ctx.input(0), ctx.input(1), g, [ctx.needs(0), ctx.needs(1)])?;
            Ok(vec![ga, gb])
        })
    }

    /// `a - b` with broadcasting.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f64], [1]).unwrap();
    /// assert_eq!(a.sub(&a).unwrap().item().unwrap(), 0.0);
    /// ```
    #[track_caller]
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> {
        // The negation is applied after the reduction (it commutes with it exactly).
        self.binary_reducing(
            "sub",
            BinaryOp::Sub,
            rhs,
            Save::Nothing,
            |a, b, g, needs| {
                Ok([
                    needs[0].then(|| g.sum_to(a.dims())).transpose()?,
                    needs[1].then(|| g.sum_to(b.dims())?.neg()).transpose()?,
                ])
            },
        )
    }

    /// `a · b` elementwise, with broadcasting.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![2.0f64, 3.0], [2]).unwrap();
    /// assert_eq!(a.mul(&a).unwrap().to_vec::<f64>().unwrap(), vec![4.0, 9.0]);
    /// ```
    #[track_caller]
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary_reducing("mul", BinaryOp::Mul, rhs, Save::Inputs, |a, b, g, needs| {
            Ok([
                needs[0].then(|| g.mul_sum_to(b, a.dims())).transpose()?,
                needs[1].then(|| g.mul_sum_to(a, b.dims())).transpose()?,
            ])
        })
    }

    /// `a / b` elementwise, with broadcasting; rule `(g/b, -g a/b²)`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![3.0f64], [1]).unwrap();
    /// let b = Tensor::from_vec(vec![2.0f64], [1]).unwrap();
    /// assert_eq!(a.div(&b).unwrap().item().unwrap(), 1.5);
    /// ```
    #[track_caller]
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary_reducing("div", BinaryOp::Div, rhs, Save::Inputs, |a, b, g, needs| {
            let ga = needs[0].then(|| g.div(b)?.sum_to(a.dims())).transpose()?;
            let gb = needs[1]
                .then(|| {
                    // b is constant along the axes its gradient is summed over, so
                    // Σ(-g·a/b²) = -(Σ g·a)/b²: one fused pass over the large operands.
                    g.mul_sum_to(a, b.dims())?.div(&b.square()?)?.neg()
                })
                .transpose()?;
            Ok([ga, gb])
        })
    }

    /// `Σ self·other` summed to `dims` (as [`sum_to`](Tensor::sum_to)), the product never
    /// stored: the gradient of a product with a broadcast operand.
    #[track_caller]
    pub(crate) fn mul_sum_to(&self, other: &Tensor, dims: &[usize]) -> Result<Tensor> {
        let op = "mul";
        let out = broadcast_shapes(op, self.dims(), other.dims())?;
        let lead = out.len() - dims.len();
        let axes: Vec<usize> = (0..out.len())
            .filter(|&i| i < lead || (dims[i - lead] == 1 && out[i] != 1))
            .collect();
        if axes.is_empty() {
            return self.mul(other)?.reshape(dims);
        }
        self.require_same_dtype(op, other)?;
        let la = broadcast_layout(op, self.layout(), &out)?;
        let lb = broadcast_layout(op, other.layout(), &out)?;
        let data = Tensor::read_all(&[self, other], |s| {
            backend::mul_reduce((s[0], &la), (s[1], &lb), &axes)
        })?;
        let keep: Vec<usize> = (0..out.len())
            .map(|i| if axes.contains(&i) { 1 } else { out[i] })
            .collect();
        let summed = record_new(
            "mul_sum",
            data,
            keep,
            &[self, other],
            Save::Inputs,
            move |ctx, v| {
                let (a, b) = (ctx.input(0), ctx.input(1));
                Ok(vec![
                    ctx.needs(0)
                        .then(|| v.mul_sum_to(b, a.dims()))
                        .transpose()?,
                    ctx.needs(1)
                        .then(|| v.mul_sum_to(a, b.dims()))
                        .transpose()?,
                ])
            },
        )?;
        summed.reshape(dims)
    }
}

macro_rules! comparisons {
    ($($name:ident: $op:ident, $sym:literal;)*) => {
        impl Tensor {$(
            #[doc = concat!("`1` where `a ", $sym, " b`, else `0` (same dtype, broadcasting). No gradient.")]
            ///
            /// ```
            /// # use retrograd::tensor::Tensor;
            /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]).unwrap();
            /// let b = Tensor::from_vec(vec![2.0f32], [1]).unwrap();
            #[doc = concat!("let m = a.", stringify!($name), "(&b).unwrap();")]
            /// assert_eq!(m.dims(), &[3]);
            /// ```
            pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                self.compare(stringify!($name), BinaryOp::$op, rhs)
            }
        )*}
    };
}

comparisons! {
    eq: Eq, "==";
    ne: Ne, "!=";
    lt: Lt, "<";
    le: Le, "<=";
    gt: Gt, ">";
    ge: Ge, ">=";
}

impl Tensor {
    /// Compares with a constant: `1` where `x op value`. No gradient.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![-1.0f64, 2.0], [2]).unwrap();
    /// assert_eq!(x.gt_scalar(0.0).unwrap().to_vec::<f64>().unwrap(), vec![0.0, 1.0]);
    /// ```
    pub fn gt_scalar(&self, value: f64) -> Result<Tensor> {
        self.gt(&self.scalar_like(value))
    }

    /// `1` where `x < value`, else `0`. No gradient.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![-1.0f64, 2.0], [2]).unwrap();
    /// assert_eq!(x.lt_scalar(0.0).unwrap().to_vec::<f64>().unwrap(), vec![1.0, 0.0]);
    /// ```
    pub fn lt_scalar(&self, value: f64) -> Result<Tensor> {
        self.lt(&self.scalar_like(value))
    }

    /// `1` where `x == value`, else `0`. No gradient.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![3i64, 2], [2]).unwrap();
    /// assert_eq!(x.eq_scalar(2.0).unwrap().to_vec::<i64>().unwrap(), vec![0, 1]);
    /// ```
    pub fn eq_scalar(&self, value: f64) -> Result<Tensor> {
        self.eq(&self.scalar_like(value))
    }

    /// Picks `on_true` where this mask is non-zero and `on_false` elsewhere (all three
    /// broadcast together). Gradients are routed, not multiplied, so a NaN or infinity in
    /// the branch not taken never leaks into the gradient of the other.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let m = Tensor::from_vec(vec![1.0f32, 0.0], [2]).unwrap();
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
    /// let b = Tensor::from_vec(vec![-1.0f32], [1]).unwrap();
    /// assert_eq!(m.where_cond(&a, &b).unwrap().to_vec::<f32>().unwrap(), vec![1.0, -1.0]);
    /// ```
    #[track_caller]
    pub fn where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        let op = "where_cond";
        if let Some((a, b)) = on_true.promoted(op, on_false)? {
            return self.where_cond(&a, &b);
        }
        let dims = broadcast_shapes(op, on_true.dims(), on_false.dims())?;
        // The error names all three operands: the branches, and the mask in the detail.
        let dims = broadcast_shapes(op, self.dims(), &dims).map_err(|e| {
            let detail = match e {
                TensorError::ShapeMismatch { detail, .. } => detail,
                other => other.to_string(),
            };
            shape_mismatch(
                op,
                on_true.dims(),
                on_false.dims(),
                format!("the mask of shape {} does not fit: {detail}", self.shape()),
            )
        })?;
        let lm = broadcast_layout(op, self.layout(), &dims)?;
        let la = broadcast_layout(op, on_true.layout(), &dims)?;
        let lb = broadcast_layout(op, on_false.layout(), &dims)?;
        let data = Tensor::read_all(&[self, on_true, on_false], |s| {
            backend::where_cond((s[0], &lm), (s[1], &la), (s[2], &lb))
        })?;
        let mask = self.detach();
        record_new(
            op,
            data,
            dims,
            &[on_true, on_false],
            Save::Nothing,
            move |ctx, g| {
                let zero = Tensor::zeros((), g.dtype());
                let (a, b) = (ctx.input(0), ctx.input(1));
                Ok(vec![
                    if ctx.needs(0) {
                        Some(mask.where_cond(g, &zero)?.sum_to(a.dims())?)
                    } else {
                        None
                    },
                    if ctx.needs(1) {
                        Some(mask.where_cond(&zero, g)?.sum_to(b.dims())?)
                    } else {
                        None
                    },
                ])
            },
        )
    }
}

macro_rules! operators {
    ($($trait:ident, $method:ident, $op:ident, $scalar:expr;)*) => {$(
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Tensor;
            /// Panics with the message of the `Result`-returning method on a shape or dtype error.
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                // A `match`, not `unwrap_or_else`: `#[track_caller]` does not reach into a
                // closure, and the panic should point at the caller's line.
                match self.$op(rhs) {
                    Ok(t) => t,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        impl std::ops::$trait<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                std::ops::$trait::$method(&self, &rhs)
            }
        }
        impl std::ops::$trait<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                std::ops::$trait::$method(&self, rhs)
            }
        }
        impl std::ops::$trait<Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                std::ops::$trait::$method(self, &rhs)
            }
        }
        impl std::ops::$trait<f64> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: f64) -> Tensor {
                let f: fn(&Tensor, f64) -> Result<Tensor> = $scalar;
                match f(self, rhs) {
                    Ok(t) => t,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        impl std::ops::$trait<f64> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: f64) -> Tensor {
                std::ops::$trait::$method(&self, rhs)
            }
        }
    )*};
}

operators! {
    Add, add, add, |t, s| t.add_scalar(s);
    Sub, sub, sub, |t, s| t.add_scalar(-s);
    Mul, mul, mul, |t, s| t.mul_scalar(s);
    Div, div, div, |t, s| t.mul_scalar(1.0 / s);
}

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    /// Panics for integer tensors (as [`Tensor::neg`] would return an error).
    #[track_caller]
    fn neg(self) -> Tensor {
        match Tensor::neg(self) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }
}

impl std::ops::Neg for Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        -&self
    }
}
