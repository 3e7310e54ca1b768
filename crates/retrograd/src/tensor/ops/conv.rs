//! Convolution (im2col + GEMM) and pooling. `unfold2d` (im2col) and `fold2d` (col2im) are
//! primitives and each other's adjoint, so convolution — an unfold followed by a batched
//! matrix product — gets its backward (and higher derivatives) from theirs and matmul's.

use crate::tensor::autograd::{record_new, Save};
use crate::tensor::backend::{self, Conv2dGeometry};
use crate::tensor::error::{invalid, shape_mismatch, Result};
use crate::tensor::Tensor;

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
        Conv2dGeometry::new((n, c, h, w), kernel, stride, padding, dilation).ok_or_else(|| {
            invalid(
                op,
                format!(
                    "kernel {kernel:?} with stride {stride:?}, padding {padding:?}, dilation \
                     {dilation:?} does not fit the input of shape {}",
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
        let kk = kernel.0 * kernel.1;
        if kk == 0 || ckk % kk != 0 {
            return Err(invalid(
                "fold2d",
                format!("{ckk} rows do not divide by kernel {kernel:?}"),
            ));
        }
        let g = Conv2dGeometry::new(
            (n, ckk / kk, output.0, output.1),
            kernel,
            stride,
            padding,
            dilation,
        )
        .filter(|g| g.ho * g.wo == l)
        .ok_or_else(|| {
            invalid(
                "fold2d",
                format!("{l} columns do not match output {output:?}"),
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
        if g.c != cg * groups || o % groups != 0 {
            return Err(shape_mismatch(
                op,
                self.dims(),
                weight.dims(),
                format!("input channels {} must equal weight channels {cg} × groups {groups}, and output channels {o} must divide by groups", g.c),
            ));
        }
        let cols = self.unfold_with(g)?; // (N, C·kh·kw, L)
        let l = g.ho * g.wo;
        let k = cg * kh * kw;
        let y = if groups == 1 {
            weight.reshape([o, k])?.matmul(&cols)? // (N, O, L)
        } else {
            let cols = cols.reshape([g.n, groups, k, l])?;
            let w = weight.reshape([groups, o / groups, k])?;
            w.matmul(&cols)?.reshape([g.n, o, l])? // (N, G, O/G, L) -> (N, O, L)
        };
        let y = y.reshape([g.n, o, g.ho, g.wo])?;
        match bias {
            None => Ok(y),
            Some(b) => {
                if b.dims() != [o] {
                    return Err(shape_mismatch(
                        op,
                        b.dims(),
                        &[o],
                        "bias must have one entry per output channel",
                    ));
                }
                y.add(&b.reshape([1, o, 1, 1])?)
            }
        }
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
        if padding.0 * 2 > kernel.0 || padding.1 * 2 > kernel.1 {
            return Err(invalid(
                op,
                format!("padding {padding:?} must be at most half the kernel {kernel:?}"),
            ));
        }
        let g = self.geometry(op, kernel, stride, padding, (1, 1))?;
        let (vals, idx) = backend::max_pool2d(&self.read(), self.layout(), &g)?;
        let idx = Tensor::from_data(idx, vec![g.n, g.c, g.ho * g.wo]);
        let in_dims = self.dims().to_vec();
        record_new(
            op,
            vals,
            vec![g.n, g.c, g.ho, g.wo],
            &[self],
            Save::Nothing,
            move |_, grad| {
                // Route each output gradient to its argmax: a scatter-add, itself differentiable.
                let flat = Tensor::zeros([g.n, g.c, g.h * g.w], grad.dtype());
                let gx = flat.scatter_add(2, &idx, &grad.reshape([g.n, g.c, g.ho * g.wo])?)?;
                Ok(vec![Some(gx.reshape(in_dims.as_slice())?)])
            },
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
