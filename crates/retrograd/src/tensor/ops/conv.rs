//! Convolution and pooling. `unfold2d` (im2col) and `fold2d` (col2im) are primitives and each
//! other's adjoint. Convolution is a primitive too (im2col + GEMM inside one kernel, per
//! sample, without intermediate tensors), with its input and weight gradients as two more
//! primitives whose rules are made of the three, so it has derivatives of any order.

use crate::tensor::autocast;
use crate::tensor::autograd::{record_new, Save};
use crate::tensor::backend::{self, Conv2dGeometry};
use crate::tensor::error::{invalid, shape_mismatch, Result};
use crate::tensor::shape::checked_elem_count;
use crate::tensor::{Shape, Tensor};

/// Stride, padding, dilation and groups of a 2-D convolution (height, width).
///
/// ```
/// use retrograd::tensor::Conv2dOptions;
/// let o = Conv2dOptions { padding: (1, 1), ..Default::default() };
/// assert_eq!((o.stride, o.groups), ((1, 1), 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step between windows.
    pub stride: (usize, usize),
    /// Zeros added on each side.
    pub padding: (usize, usize),
    /// Spacing between kernel taps.
    pub dilation: (usize, usize),
    /// Channel groups (input and output channels must divide by it).
    pub groups: usize,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

/// Stride, padding, dilation and groups of a 1-D convolution.
///
/// ```
/// use retrograd::tensor::Conv1dOptions;
/// assert_eq!(Conv1dOptions::default().stride, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dOptions {
    /// Step between windows.
    pub stride: usize,
    /// Zeros added on each side.
    pub padding: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
}

impl Default for Conv1dOptions {
    fn default() -> Self {
        Conv1dOptions {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }
}

impl Tensor {
    fn geometry(
        &self,
        op: &'static str,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<Conv2dGeometry> {
        let &[n, c, h, w] = self.dims() else {
            return Err(invalid(
                op,
                format!("needs an (N, C, H, W) input, got shape {}", self.shape()),
            ));
        };
        let g = Conv2dGeometry::new((n, c, h, w), kernel, stride, padding, dilation);
        // The unfolded input `(N, C·kh·kw, ho·wo)` bounds every size the kernels compute
        // (outputs, per-sample scratch panels), so it is checked here, before any of them.
        let g = g.filter(|g| {
            Shape::from([n, c, g.kh, g.kw, g.ho, g.wo])
                .checked_elem_count()
                .is_some()
        });
        g.ok_or_else(|| {
            invalid(
                op,
                format!(
                    "kernel {kernel:?} with stride {stride:?}, padding {padding:?}, dilation \
                     {dilation:?} does not fit the input of shape {} (no window fits, or the \
                     windows are more than a tensor can address)",
                    self.shape()
                ),
            )
        })
    }

    /// im2col: every `kernel`-sized window of an `(N, C, H, W)` input as a column,
    /// giving `(N, C·kh·kw, L)` with `L` the number of window positions.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let x = Tensor::ones([1, 2, 4, 4], DType::F32);
    /// let cols = x.unfold2d((3, 3), (1, 1), (0, 0), (1, 1)).unwrap();
    /// assert_eq!(cols.dims(), &[1, 18, 4]);
    /// ```
    #[track_caller]
    pub fn unfold2d(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<Tensor> {
        self.require_float("unfold2d")?;
        let g = self.geometry("unfold2d", kernel, stride, padding, dilation)?;
        self.unfold_with(g)
    }

    #[track_caller]
    fn unfold_with(&self, g: Conv2dGeometry) -> Result<Tensor> {
        let data = backend::unfold2d(&self.read(), self.layout(), &g)?;
        let dims = vec![g.n, g.c * g.kh * g.kw, g.ho * g.wo];
        record_new(
            "unfold2d",
            data,
            dims,
            &[self],
            Save::Nothing,
            move |_, grad| Ok(vec![Some(grad.fold_with(g)?)]),
        )
    }

    /// col2im, the adjoint of [`unfold2d`](Tensor::unfold2d): sums columns
    /// `(N, C·kh·kw, L)` back into an `(N, C, H, W)` image of size `output`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let cols = Tensor::ones([1, 4, 4], DType::F64);
    /// let img = cols.fold2d((3, 3), (2, 2), (1, 1), (0, 0), (1, 1)).unwrap();
    /// // the centre pixel is covered by all four 2x2 windows
    /// assert_eq!(img.to_vec::<f64>().unwrap()[4], 4.0);
    /// ```
    #[track_caller]
    pub fn fold2d(
        &self,
        output: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<Tensor> {
        self.require_float("fold2d")?;
        let &[n, ckk, l] = self.dims() else {
            return Err(invalid(
                "fold2d",
                format!("needs (N, C·kh·kw, L), got {}", self.shape()),
            ));
        };
        let kk = kernel.0.checked_mul(kernel.1).unwrap_or(0);
        if kk == 0 || ckk % kk != 0 {
            return Err(invalid(
                "fold2d",
                format!(
                    "{ckk} rows of the input of shape {} do not divide by kernel {kernel:?}",
                    self.shape()
                ),
            ));
        }
        let c = ckk / kk;
        checked_elem_count("fold2d", &[n, c, output.0, output.1])?;
        let g = Conv2dGeometry::new(
            (n, c, output.0, output.1),
            kernel,
            stride,
            padding,
            dilation,
        )
        .filter(|g| g.ho.checked_mul(g.wo) == Some(l))
        .ok_or_else(|| {
            invalid(
                "fold2d",
                format!(
                    "{l} columns of the input of shape {} do not match output {output:?}",
                    self.shape()
                ),
            )
        })?;
        self.fold_with(g)
    }

    #[track_caller]
    fn fold_with(&self, g: Conv2dGeometry) -> Result<Tensor> {
        let data = backend::fold2d(&self.read(), self.layout(), &g)?;
        let dims = vec![g.n, g.c, g.h, g.w];
        record_new(
            "fold2d",
            data,
            dims,
            &[self],
            Save::Nothing,
            move |_, grad| Ok(vec![Some(grad.unfold_with(g)?)]),
        )
    }

    /// 2-D convolution (cross-correlation, as in deep-learning libraries) of an
    /// `(N, C, H, W)` input with `(O, C/groups, kh, kw)` weights and an optional `(O)` bias.
    ///
    /// ```
    /// use retrograd::tensor::{Conv2dOptions, DType, Tensor};
    /// let x = Tensor::ones([1, 1, 3, 3], DType::F32);
    /// let w = Tensor::ones([2, 1, 2, 2], DType::F32);
    /// let y = x.conv2d(&w, None, Conv2dOptions::default()).unwrap();
    /// assert_eq!(y.dims(), &[1, 2, 2, 2]);
    /// assert_eq!(y.to_vec::<f32>().unwrap()[0], 4.0);
    /// ```
    #[track_caller]
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        opts: Conv2dOptions,
    ) -> Result<Tensor> {
        let op = "conv2d";
        let operands: Vec<&Tensor> = [self, weight].into_iter().chain(bias).collect();
        if let Some(d) = autocast::lower(&operands) {
            let bias = bias.map(|b| b.to_dtype(d)).transpose()?;
            return self
                .to_dtype(d)?
                .conv2d(&weight.to_dtype(d)?, bias.as_ref(), opts);
        }
        self.require_float(op)?;
        self.require_same_dtype(op, weight)?;
        let &[o, cg, kh, kw] = weight.dims() else {
            return Err(shape_mismatch(
                op,
                self.dims(),
                weight.dims(),
                "weight must be (O, C/groups, kh, kw)",
            ));
        };
        let groups = opts.groups.max(1);
        let g = self.geometry(op, (kh, kw), opts.stride, opts.padding, opts.dilation)?;
        if cg.checked_mul(groups) != Some(g.c) || o % groups != 0 {
            return Err(shape_mismatch(
                op,
                self.dims(),
                weight.dims(),
                format!("input channels {} must equal weight channels {cg} × groups {groups}, and output channels {o} must divide by groups", g.c),
            ));
        }
        if let Some(b) = bias {
            b.require_same_dtype(op, self)?;
            if b.dims() != [o] {
                return Err(shape_mismatch(
                    op,
                    b.dims(),
                    &[o],
                    "bias must have one entry per output channel",
                ));
            }
        }
        if Shape::from([g.n, o, g.ho, g.wo])
            .checked_elem_count()
            .is_none()
        {
            return Err(shape_mismatch(
                op,
                self.dims(),
                weight.dims(),
                format!(
                    "the output {} has more elements than a tensor can address",
                    Shape::from([g.n, o, g.ho, g.wo])
                ),
            ));
        }
        conv_with(self, weight, bias, ConvSpec { g, o, groups })
    }

    /// 1-D convolution of an `(N, C, L)` input with `(O, C/groups, k)` weights.
    ///
    /// ```
    /// use retrograd::tensor::{Conv1dOptions, DType, Tensor};
    /// let x = Tensor::ones([2, 3, 10], DType::F64);
    /// let w = Tensor::ones([4, 3, 3], DType::F64);
    /// let y = x.conv1d(&w, None, Conv1dOptions { padding: 1, ..Default::default() }).unwrap();
    /// assert_eq!(y.dims(), &[2, 4, 10]);
    /// ```
    #[track_caller]
    pub fn conv1d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        opts: Conv1dOptions,
    ) -> Result<Tensor> {
        if self.rank() != 3 || weight.rank() != 3 {
            return Err(shape_mismatch(
                "conv1d",
                self.dims(),
                weight.dims(),
                "needs (N, C, L) input and (O, C/groups, k) weight",
            ));
        }
        let o2 = Conv2dOptions {
            stride: (1, opts.stride),
            padding: (0, opts.padding),
            dilation: (1, opts.dilation),
            groups: opts.groups,
        };
        self.unsqueeze(2)?
            .conv2d(&weight.unsqueeze(2)?, bias, o2)?
            .squeeze(2)
    }

    /// Max pooling over `kernel` windows of an `(N, C, H, W)` input (padding never wins).
    /// The gradient goes to the (first) maximum of each window.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let x = Tensor::arange(0.0, 16.0, 1.0, DType::F32).unwrap().reshape([1, 1, 4, 4]).unwrap();
    /// let y = x.max_pool2d((2, 2), (2, 2), (0, 0)).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![5.0, 7.0, 13.0, 15.0]);
    /// ```
    #[track_caller]
    pub fn max_pool2d(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<Tensor> {
        let op = "max_pool2d";
        self.require_float(op)?;
        // `p > k / 2` is `2p > k` without the product that could wrap.
        if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
            return Err(invalid(
                op,
                format!("padding {padding:?} must be at most half the kernel {kernel:?}"),
            ));
        }
        let g = self.geometry(op, kernel, stride, padding, (1, 1))?;
        let vals = backend::max_pool2d(&self.read(), self.layout(), &g)?;
        record_new(
            op,
            vals,
            vec![g.n, g.c, g.ho, g.wo],
            &[self],
            Save::Inputs,
            move |ctx, gy| Ok(vec![Some(max_pool_route(ctx.input(0), gy, g)?)]),
        )
    }

    /// Average pooling over `kernel` windows; padded zeros count in the average.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let x = Tensor::arange(0.0, 16.0, 1.0, DType::F64).unwrap().reshape([1, 1, 4, 4]).unwrap();
    /// let y = x.avg_pool2d((2, 2), (2, 2), (0, 0)).unwrap();
    /// assert_eq!(y.to_vec::<f64>().unwrap(), vec![2.5, 4.5, 10.5, 12.5]);
    /// ```
    #[track_caller]
    pub fn avg_pool2d(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<Tensor> {
        self.require_float("avg_pool2d")?;
        let g = self.geometry("avg_pool2d", kernel, stride, padding, (1, 1))?;
        let cols = self.unfold_with(g)?; // (N, C·kh·kw, L)
        let cols = cols.reshape([g.n, g.c, g.kh * g.kw, g.ho * g.wo])?;
        cols.mean(2, false)?.reshape([g.n, g.c, g.ho, g.wo])
    }
}

// Max pooling stores no indices: its gradient `max_pool_route` finds each window's maximum
// again in the input, and so does `max_pool_select`, its adjoint in the gradient. Both are
// linear in the gradient and locally constant in the input (no gradient flows to `x`), and
// each one's rule is the other.

/// Each element of `gy` `(N, C, ho, wo)` added at the position of its window's maximum in
/// `x` `(N, C, H, W)`: the gradient of `max_pool2d`.
#[track_caller]
fn max_pool_route(x: &Tensor, gy: &Tensor, g: Conv2dGeometry) -> Result<Tensor> {
    let data = Tensor::read_all(&[x, gy], |s| {
        backend::max_pool2d_backward((s[0], x.layout()), (s[1], gy.layout()), &g)
    })?;
    record_new(
        "max_pool2d_backward",
        data,
        x.dims().to_vec(),
        &[x, gy],
        Save::Inputs,
        move |ctx, v| Ok(vec![None, Some(max_pool_select(ctx.input(0), v, g)?)]),
    )
}

/// Per window, the element of `v` `(N, C, H, W)` where `x` has its maximum: the adjoint of
/// [`max_pool_route`] in its gradient.
#[track_caller]
fn max_pool_select(x: &Tensor, v: &Tensor, g: Conv2dGeometry) -> Result<Tensor> {
    let data = Tensor::read_all(&[x, v], |s| {
        backend::max_pool2d_select((s[0], x.layout()), (s[1], v.layout()), &g)
    })?;
    record_new(
        "max_pool2d_select",
        data,
        vec![g.n, g.c, g.ho, g.wo],
        &[x, v],
        Save::Inputs,
        move |ctx, u| Ok(vec![None, Some(max_pool_route(ctx.input(0), u, g)?)]),
    )
}

/// A convolution's sizes: geometry, output channels, groups.
#[derive(Clone, Copy)]
struct ConvSpec {
    g: Conv2dGeometry,
    o: usize,
    groups: usize,
}

// Convolution and its two gradients are three primitives, each linear in every argument, and
// each one's derivative is made of the three: for `y = conv(x, w)`, `dx = input_grad(dy, w)`
// and `dw = weight_grad(x, dy)`; `input_grad` is the adjoint of `conv` in `x`, `weight_grad`
// its adjoint in `w`. So gradients of any order stay within them (and fast).

/// `conv2d` on checked shapes: one kernel forward (bias included), no intermediate tensors.
#[track_caller]
fn conv_with(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, s: ConvSpec) -> Result<Tensor> {
    let data = match bias {
        Some(b) => Tensor::read_all(&[x, w, b], |st| {
            backend::conv2d(
                (st[0], x.layout()),
                (st[1], w.layout()),
                Some((st[2], b.layout())),
                &s.g,
                s.groups,
            )
        })?,
        None => Tensor::read_all(&[x, w], |st| {
            backend::conv2d(
                (st[0], x.layout()),
                (st[1], w.layout()),
                None,
                &s.g,
                s.groups,
            )
        })?,
    };
    let dims = vec![s.g.n, s.o, s.g.ho, s.g.wo];
    let mut inputs = vec![x, w];
    inputs.extend(bias);
    record_new(
        "conv2d",
        data,
        dims,
        &inputs,
        Save::Leading(2),
        move |ctx, g| {
            let (x, w) = (ctx.input(0), ctx.input(1));
            // Both gradient kernels read `g` contiguous: copy a strided or broadcast `g`
            // (the gradient of a `sum`) once for the two.
            let g = &g.contiguous()?;
            let mut grads = vec![
                ctx.needs(0).then(|| conv_input_grad(g, w, s)).transpose()?,
                ctx.needs(1)
                    .then(|| conv_weight_grad(x, g, s))
                    .transpose()?,
            ];
            if ctx.inputs.len() == 3 {
                grads.push(ctx.needs(2).then(|| g.sum([0, 2, 3], false)).transpose()?);
            }
            Ok(grads)
        },
    )
}

/// The gradient of `conv(x, w)` with respect to `x`, given the output gradient `gy`.
#[track_caller]
fn conv_input_grad(gy: &Tensor, w: &Tensor, s: ConvSpec) -> Result<Tensor> {
    let data = Tensor::read_all(&[gy, w], |st| {
        backend::conv2d_input_grad((st[0], gy.layout()), (st[1], w.layout()), &s.g, s.groups)
    })?;
    let dims = vec![s.g.n, s.g.c, s.g.h, s.g.w];
    record_new(
        "conv2d_input_grad",
        data,
        dims,
        &[gy, w],
        Save::Inputs,
        move |ctx, v| {
            let (gy, w) = (ctx.input(0), ctx.input(1));
            Ok(vec![
                ctx.needs(0).then(|| conv_with(v, w, None, s)).transpose()?,
                ctx.needs(1)
                    .then(|| conv_weight_grad(v, gy, s))
                    .transpose()?,
            ])
        },
    )
}

/// The gradient of `conv(x, w)` with respect to `w`, given the output gradient `gy`.
#[track_caller]
fn conv_weight_grad(x: &Tensor, gy: &Tensor, s: ConvSpec) -> Result<Tensor> {
    let data = Tensor::read_all(&[x, gy], |st| {
        backend::conv2d_weight_grad((st[0], x.layout()), (st[1], gy.layout()), &s.g, s.groups)
    })?;
    let g = &s.g;
    let dims = vec![s.o, g.c / s.groups, g.kh, g.kw];
    record_new(
        "conv2d_weight_grad",
        data,
        dims,
        &[x, gy],
        Save::Inputs,
        move |ctx, v| {
            let (x, gy) = (ctx.input(0), ctx.input(1));
            Ok(vec![
                ctx.needs(0)
                    .then(|| conv_input_grad(gy, v, s))
                    .transpose()?,
                ctx.needs(1).then(|| conv_with(x, v, None, s)).transpose()?,
            ])
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::tensor::autograd::{grad_with, BackwardOptions};
    use crate::tensor::{gradcheck, Conv2dOptions, DType, GradcheckOptions, Result, Rng, Tensor};

    fn randn(dims: &[usize], seed: u64, dtype: DType) -> Tensor {
        Tensor::randn(dims, 0.0, 1.0, dtype, &mut Rng::new(seed))
    }

    /// The definition: unfold, then a (grouped) matrix product, then the bias.
    fn reference(x: &Tensor, w: &Tensor, b: Option<&Tensor>, o: Conv2dOptions) -> Result<Tensor> {
        let &[n, c, _, _] = x.dims() else { panic!() };
        let &[oc, cg, kh, kw] = w.dims() else {
            panic!()
        };
        let cols = x.unfold2d((kh, kw), o.stride, o.padding, o.dilation)?;
        let l = cols.dims()[2];
        let groups = c / cg;
        let k = cg * kh * kw;
        let cols = cols.reshape([n, groups, k, l])?;
        let y = w.reshape([groups, oc / groups, k])?.matmul(&cols)?;
        let y = y.reshape([n, oc, l])?;
        let y = match b {
            Some(b) => y.add(&b.reshape([1, oc, 1])?)?,
            None => y,
        };
        let size = |i: usize, k: usize, s: usize, p: usize, d: usize| {
            (i + 2 * p - d * (k - 1) - 1) / s + 1
        };
        let (h, wd) = (x.dims()[2], x.dims()[3]);
        y.reshape([
            n,
            oc,
            size(h, kh, o.stride.0, o.padding.0, o.dilation.0),
            size(wd, kw, o.stride.1, o.padding.1, o.dilation.1),
        ])
    }

    fn close(a: &Tensor, b: &Tensor, tol: f64) {
        assert_eq!(a.dims(), b.dims());
        for (x, y) in a.to_vec_f64().iter().zip(b.to_vec_f64()) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    fn cases() -> Vec<([usize; 4], [usize; 4], Conv2dOptions, bool)> {
        let o = |stride, padding, dilation, groups| Conv2dOptions {
            stride,
            padding,
            dilation,
            groups,
        };
        vec![
            (
                [2, 3, 7, 6],
                [4, 3, 3, 3],
                o((1, 1), (1, 1), (1, 1), 1),
                true,
            ),
            (
                [3, 4, 9, 8],
                [6, 2, 3, 2],
                o((2, 1), (1, 2), (1, 2), 2),
                true,
            ),
            (
                [2, 4, 5, 5],
                [8, 4, 1, 1],
                o((1, 1), (0, 0), (1, 1), 1),
                true,
            ), // pointwise
            (
                [2, 4, 5, 5],
                [4, 2, 1, 1],
                o((1, 1), (0, 0), (1, 1), 2),
                false,
            ),
            (
                [1, 2, 6, 7],
                [3, 2, 2, 3],
                o((3, 2), (0, 1), (2, 1), 1),
                false,
            ),
            (
                [8, 16, 12, 12],
                [8, 16, 3, 3],
                o((1, 1), (1, 1), (1, 1), 1),
                true,
            ), // threads
        ]
    }

    /// Forward and all three gradients agree with the reference, in f32 and f64, on one
    /// thread and on several.
    #[test]
    fn conv2d_matches_unfold_and_matmul() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for threads in [false, true] {
            for (i, (xd, wd, o, bias)) in cases().into_iter().enumerate() {
                for dtype in [DType::F64, DType::F32] {
                    let run = || -> Result<()> {
                        let s = 10 * i as u64;
                        let x = randn(&xd, s, dtype).requires_grad_();
                        let w = randn(&wd, s + 1, dtype).requires_grad_();
                        let b = randn(&[wd[0]], s + 2, dtype).requires_grad_();
                        let b = bias.then_some(&b);
                        let y = x.conv2d(&w, b, o)?;
                        let r = reference(&x, &w, b, o)?;
                        let tol = if dtype == DType::F32 { 1e-4 } else { 1e-12 };
                        close(&y, &r, tol);
                        let v = randn(y.dims(), s + 3, dtype);
                        let mut wrt = vec![&x, &w];
                        wrt.extend(b);
                        let opts = BackwardOptions::default();
                        let g1 = grad_with(&[&y.mul(&v)?.sum_all()?], &[], &wrt, opts)?;
                        let g2 = grad_with(&[&r.mul(&v)?.sum_all()?], &[], &wrt, opts)?;
                        for (a, b) in g1.iter().zip(&g2) {
                            close(a, b, tol);
                        }
                        Ok(())
                    };
                    if threads {
                        pool.install(run).unwrap();
                    } else {
                        run().unwrap();
                    }
                }
            }
        }
    }

    /// Third derivatives through the three primitives, against finite differences of the
    /// second (with a bias, and a pointwise kernel).
    #[test]
    fn conv2d_third_order() {
        for (xd, wd, o, _) in cases().into_iter().take(3) {
            let x = randn(&xd, 1, DType::F64);
            let w = randn(&wd, 2, DType::F64);
            let b = randn(&[wd[0]], 3, DType::F64);
            let f = |v: &[Tensor]| -> Result<Tensor> {
                let opts = BackwardOptions {
                    create_graph: true,
                    retain_graph: true,
                };
                let y = v[0].conv2d(&v[1], Some(&v[2]), o)?.tanh()?;
                let g = grad_with(&[&y.sum_all()?], &[], &[&v[0], &v[1]], opts)?;
                let s = g[0].square()?.sum_all()?.add(&g[1].square()?.sum_all()?)?;
                let gg = grad_with(&[&s], &[], &[&v[0], &v[1], &v[2]], opts)?;
                let flat = gg
                    .iter()
                    .map(|g| g.reshape([g.elem_count()]))
                    .collect::<Result<Vec<_>>>()?;
                Tensor::cat(&flat, 0)
            };
            let opts = GradcheckOptions {
                eps: 1e-5,
                atol: 1e-4,
                rtol: 1e-3,
            };
            gradcheck(f, &[x, w, b], opts).unwrap();
        }
    }
}
