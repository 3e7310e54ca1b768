//! Matrix products with NumPy semantics: batched, with broadcast batch dims, and the 1-D
//! cases. The primitive is the batched product of rank ≥ 2 operands; the 1-D cases are
//! views around it. Rule: `dA = dC Bᵀ`, `dB = Aᵀ dC`, summed over broadcast batch dims.

use crate::tensor::autocast;
use crate::tensor::autograd::{record_new, Save};
use crate::tensor::backend;
use crate::tensor::error::{shape_mismatch, Result};
use crate::tensor::shape::{broadcast_layout, broadcast_shapes, Layout};
use crate::tensor::{DType, Shape, Tensor};

impl Tensor {
    /// Matrix product, as NumPy's `matmul`:
    /// - `(m, k) @ (k, n) -> (m, n)`; leading batch dims broadcast:
    ///   `(B, m, k) @ (k, n) -> (B, m, n)`, `(B, 1, m, k) @ (C, k, n) -> (B, C, m, n)`;
    /// - a 1-D left operand is a row vector, a 1-D right operand a column vector, and the
    ///   added axis is removed from the result (`(k) @ (k) -> ()`).
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
    /// let b = Tensor::from_vec(vec![1.0f32, 1.0], [2]).unwrap();
    /// assert_eq!(a.matmul(&b).unwrap().to_vec::<f32>().unwrap(), vec![3.0, 7.0]);
    /// assert_eq!(b.matmul(&b).unwrap().item().unwrap(), 2.0);
    /// ```
    #[track_caller]
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        if let Some(d) = autocast::lower(&[self, rhs]) {
            return self.to_dtype(d)?.matmul(&rhs.to_dtype(d)?);
        }
        // Errors name the caller's operands, whatever axes the 1-D forms add.
        let named = [self.dims(), rhs.dims()];
        match (self.rank(), rhs.rank()) {
            (0, _) | (_, 0) => Err(shape_mismatch(
                "matmul",
                self.dims(),
                rhs.dims(),
                "both operands need at least one dimension",
            )),
            (1, 1) => self
                .unsqueeze(0)?
                .matmul_nd(&rhs.unsqueeze(1)?, named)?
                .reshape(()),
            (1, _) => self.unsqueeze(0)?.matmul_nd(rhs, named)?.squeeze(-2),
            (_, 1) => self.matmul_nd(&rhs.unsqueeze(1)?, named)?.squeeze(-1),
            _ => self.matmul_nd(rhs, named),
        }
    }

    /// `x · wᵀ + b` with `self` as `x` (`(m, k)`), a weight `w` of shape `(n, k)` and an
    /// optional bias of shape `(n)`: a linear layer, as PyTorch's `linear`. For `f32` and
    /// `f64` matrices it is one op, the product and the bias added in one buffer, so no
    /// transposed view of `w` and no broadcast sum are recorded, and the weight's gradient
    /// `gᵀ x` comes out in `w`'s own layout. Rule: `(g w, gᵀ x, Σ_rows g)`, written with
    /// matmul and sum, so it can be differentiated again. Other ranks and types are the
    /// composition `x.matmul(w.t()).add(b)`, which gives the same values.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f64, 2.0], [1, 2]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0f64, 1.0, 0.0, 3.0], [2, 2]).unwrap();
    /// let b = Tensor::from_vec(vec![0.5f64, -1.0], [2]).unwrap();
    /// let y = x.linear(&w, Some(&b)).unwrap();
    /// assert_eq!(y.to_vec::<f64>().unwrap(), vec![3.5, 5.0]);
    /// ```
    #[track_caller]
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let op = "linear";
        let fused = self.rank() == 2
            && weight.rank() == 2
            && matches!(self.dtype(), DType::F32 | DType::F64)
            && weight.dtype() == self.dtype()
            && bias.is_none_or(|b| b.dims() == [weight.dims()[0]] && b.dtype() == self.dtype())
            && autocast::lower(&[self, weight]).is_none();
        if !fused {
            let y = self.matmul(&weight.t()?)?;
            return match bias {
                Some(b) => y.add(b),
                None => Ok(y),
            };
        }
        let (m, k) = (self.dims()[0], self.dims()[1]);
        let (n, k2) = (weight.dims()[0], weight.dims()[1]);
        if k != k2 {
            return Err(shape_mismatch(
                op,
                self.dims(),
                weight.dims(),
                format!("the input has {k} features but the weight takes {k2}"),
            ));
        }
        let lw = weight.layout();
        // The weight read as its transpose, `(k, n)`.
        let lwt = Layout {
            dims: vec![k, n],
            strides: vec![lw.strides[1], lw.strides[0]],
            offset: lw.offset,
        };
        let mut data = Tensor::read_all(&[self, weight], |s| {
            backend::matmul(s[0], self.layout(), s[1], &lwt)
        })?;
        let mut inputs = vec![self, weight];
        if let Some(b) = bias {
            backend::add_to_rows(&mut data, &b.read(), b.layout())?;
            inputs.push(b);
        }
        record_new(op, data, vec![m, n], &inputs, Save::Leading(2), |ctx, g| {
            let (x, w) = (ctx.input(0), ctx.input(1));
            let mut grads = vec![
                ctx.needs(0).then(|| g.matmul(w)).transpose()?,
                ctx.needs(1).then(|| g.mt()?.matmul(x)).transpose()?,
            ];
            if ctx.inputs.len() == 3 {
                grads.push(
                    ctx.needs(2)
                        .then(|| g.sum_to(ctx.input(2).dims()))
                        .transpose()?,
                );
            }
            Ok(grads)
        })
    }

    /// The batched primitive: both operands of rank ≥ 2. Errors name the shapes `named`.
    #[track_caller]
    fn matmul_nd(&self, rhs: &Tensor, named: [&[usize]; 2]) -> Result<Tensor> {
        let op = "matmul";
        let mismatch = |detail: String| shape_mismatch(op, named[0], named[1], detail);
        self.require_float(op)?;
        self.require_same_dtype(op, rhs)?;
        let (ra, rb) = (self.rank(), rhs.rank());
        let (m, k) = (self.dims()[ra - 2], self.dims()[ra - 1]);
        let (k2, n) = (rhs.dims()[rb - 2], rhs.dims()[rb - 1]);
        if k != k2 {
            return Err(mismatch(format!("inner dimensions differ ({k} vs {k2})")));
        }
        let (ba, bb) = (&self.dims()[..ra - 2], &rhs.dims()[..rb - 2]);
        let batch = broadcast_shapes(op, ba, bb).map_err(|_| {
            mismatch(format!(
                "batch dimensions {} and {} do not broadcast",
                Shape::from(ba),
                Shape::from(bb)
            ))
        })?;
        let mut out = batch.clone();
        out.extend([m, n]);
        if Shape::from(&out).checked_elem_count().is_none() {
            return Err(mismatch(format!(
                "the product {} has more elements than a tensor can address",
                Shape::from(&out)
            )));
        }
        let mut da = batch.clone();
        da.extend([m, k]);
        let mut db = batch;
        db.extend([k, n]);
        let la = broadcast_layout(op, self.layout(), &da)?;
        let lb = broadcast_layout(op, rhs.layout(), &db)?;
        let data = Tensor::read_all(&[self, rhs], |s| backend::matmul(s[0], &la, s[1], &lb))?;
        record_new(op, data, out, &[self, rhs], Save::Inputs, |ctx, g| {
            let (a, b) = (ctx.input(0), ctx.input(1));
            Ok(vec![
                if ctx.needs(0) {
                    let bt = b.mt()?;
                    Some(g.matmul_nd(&bt, [g.dims(), bt.dims()])?.sum_to(a.dims())?)
                } else {
                    None
                },
                if ctx.needs(1) {
                    let at = a.mt()?;
                    Some(at.matmul_nd(g, [at.dims(), g.dims()])?.sum_to(b.dims())?)
                } else {
                    None
                },
            ])
        })
    }
}
