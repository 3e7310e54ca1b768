//! The device boundary: every kernel a tensor op needs, behind the [`Backend`] trait.
//!
//! Tensor ops and autograd never touch elements directly; they call the dispatch functions
//! at the bottom of this file, which pick the backend from the storage variant. A new
//! device (CUDA, ...) adds a `StorageData` variant, an implementation of [`Backend`] and
//! a match arm per dispatch function; nothing in autograd changes. Host transfers are the
//! other device-specific spot: tensors are created from host vectors (`from_vec`, `rand`)
//! and read back (`to_vec`, `with_data`, `update_`) through `StorageData::Cpu`, so a device
//! backend also adds `to_device`/host-copy arms there.

pub mod cpu;

use super::error::Result;
use super::shape::Layout;
use super::storage::StorageData;
use super::DType;

/// An elementwise function of one tensor (parameters inline, so the enum is `Copy`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// natural log
    Log,
    /// square root
    Sqrt,
    /// `|x|`
    Abs,
    /// `sign(x)` with `sign(0) = 0`
    Sign,
    /// `sin x`
    Sin,
    /// `cos x`
    Cos,
    /// `tanh x`
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `max(x, 0)`
    Relu,
    /// `1` where `x > 0`, else `0` (the derivative of relu)
    Step,
    /// `x` for `x > 0`, else `slope * x`
    LeakyRelu(f64),
    /// `x Φ(x)` with the exact normal CDF
    Gelu,
    /// `x σ(x)`
    Silu,
    /// `log(1 + e^x)`, computed stably
    Softplus,
    /// the error function
    Erf,
    /// `x^p` for a constant `p`
    Powf(f64),
    /// `a x + b`
    Affine(f64, f64),
    /// `min(max(x, lo), hi)`
    Clamp(f64, f64),
    /// `1` where `lo <= x <= hi`, else `0` (the derivative of clamp)
    InRange(f64, f64),
    /// `1 / x`
    Recip,
}

/// An elementwise function of two tensors of the same (broadcast) shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a ^ b`
    Pow,
    /// elementwise maximum
    Maximum,
    /// elementwise minimum
    Minimum,
    /// `1` where `a == b`, else `0`
    Eq,
    /// `1` where `a != b`
    Ne,
    /// `1` where `a < b`
    Lt,
    /// `1` where `a <= b`
    Le,
    /// `1` where `a > b`
    Gt,
    /// `1` where `a >= b`
    Ge,
    /// `a` times the step function of `b` (`a · 1[b > 0]`): the relu rule in one pass
    MulStep,
    /// `a · (1 − b²)`: the tanh rule (gradient `a`, output `b`) in one pass
    TanhBackward,
}

/// A reduction over a set of axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// sum
    Sum,
    /// maximum
    Max,
    /// minimum
    Min,
}

/// The gradients of a batch normalisation with respect to its input (when asked for), its
/// weight and its bias.
#[derive(Clone, Debug)]
pub struct BatchNormGrads<S> {
    /// `(N, C, ..)`, like the input.
    pub input: Option<S>,
    /// `(C)`
    pub weight: S,
    /// `(C)`
    pub bias: S,
}

/// Sizes of a 2-D convolution or pooling window over an `(N, C, H, W)` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// batch
    pub n: usize,
    /// channels
    pub c: usize,
    /// input height
    pub h: usize,
    /// input width
    pub w: usize,
    /// kernel height
    pub kh: usize,
    /// kernel width
    pub kw: usize,
    /// stride (height, width)
    pub stride: (usize, usize),
    /// zero padding (height, width)
    pub padding: (usize, usize),
    /// dilation (height, width)
    pub dilation: (usize, usize),
    /// output height
    pub ho: usize,
    /// output width
    pub wo: usize,
}

impl Conv2dGeometry {
    /// Builds the geometry and computes the output size; `None` if the window does not fit
    /// (a kernel, stride or dilation of 0, a window wider than the padded input) or the sizes do not
    /// fit in an address: the padded input `size + 2·padding` and the window span
    /// `dilation·(kernel - 1) + 1` are computed with checked arithmetic and must be at most
    /// `isize::MAX`, so that the kernels' index arithmetic (`o·stride + k·dilation`, at most
    /// the padded size) cannot overflow.
    ///
    /// ```
    /// use retrograd::tensor::backend::Conv2dGeometry;
    /// let g = Conv2dGeometry::new((1, 3, 8, 8), (3, 3), (1, 1), (1, 1), (1, 1)).unwrap();
    /// assert_eq!((g.ho, g.wo), (8, 8));
    /// assert!(Conv2dGeometry::new((1, 3, 8, 8), (3, 3), (1, 1), (0, 0), (usize::MAX, 1)).is_none());
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (n, c, h, w): (usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Option<Self> {
        let out = |i: usize, k: usize, s: usize, p: usize, d: usize| {
            let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
            let padded = p.checked_mul(2)?.checked_add(i)?;
            if s == 0 || d == 0 || padded < span || padded > isize::MAX as usize {
                return None;
            }
            Some((padded - span) / s + 1)
        };
        let ho = out(h, kh, stride.0, padding.0, dilation.0)?;
        let wo = out(w, kw, stride.1, padding.1, dilation.1)?;
        Some(Conv2dGeometry {
            n,
            c,
            h,
            w,
            kh,
            kw,
            stride,
            padding,
            dilation,
            ho,
            wo,
        })
    }
}

/// The kernels a device provides. Layouts describe strided views of the storages; outputs
/// are new contiguous storages unless stated otherwise.
pub trait Backend: Send + Sync {
    /// The device's element buffer.
    type Storage: Send + Sync;

    /// A buffer of `n` elements equal to `value`.
    fn full(&self, dtype: DType, n: usize, value: f64) -> Self::Storage;
    /// Copies a strided view into a new contiguous buffer.
    fn copy(&self, x: &Self::Storage, l: &Layout) -> Self::Storage;
    /// Converts element type.
    fn cast(&self, x: &Self::Storage, l: &Layout, dtype: DType) -> Self::Storage;
    /// Writes `src` (broadcast to `dst`'s shape) into the view `dst` of `buf`.
    fn assign(&self, buf: &mut Self::Storage, dst: &Layout, src: &Self::Storage, l: &Layout);
    /// Whether every element is finite (true for integer types).
    fn all_finite(&self, x: &Self::Storage, l: &Layout) -> bool;
    /// Elementwise function of one tensor.
    fn unary(&self, op: UnaryOp, x: &Self::Storage, l: &Layout) -> Result<Self::Storage>;
    /// Elementwise function of two tensors whose layouts have the same dims.
    fn binary(
        &self,
        op: BinaryOp,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage>;
    /// `mask != 0 ? a : b`, all three laid out with the same dims.
    #[allow(clippy::too_many_arguments)]
    fn where_cond(
        &self,
        mask: &Self::Storage,
        lm: &Layout,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage>;
    /// `scale · a · b · c` elementwise, all three float views laid out with the same dims
    /// (strides may be 0): one pass, for derivative rules that multiply three factors.
    #[allow(clippy::too_many_arguments)]
    fn mul3(
        &self,
        scale: f64,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
        c: &Self::Storage,
        lc: &Layout,
    ) -> Result<Self::Storage>;
    /// `buf[i, j] += b[j]` for a contiguous float buffer of rows as long as the view `b`
    /// (one dtype): a bias added to every row in place.
    fn add_to_rows(&self, buf: &mut Self::Storage, b: &Self::Storage, lb: &Layout) -> Result<()>;
    /// Reduction over sorted `axes`; the result has the input's rank (size 1 on `axes`).
    fn reduce(
        &self,
        op: ReduceOp,
        x: &Self::Storage,
        l: &Layout,
        axes: &[usize],
    ) -> Result<Self::Storage>;
    /// `Σ a·b` over sorted `axes` of two float views with equal dims (strides may be 0); the
    /// result has their rank (size 1 on `axes`). One pass, without the product in memory.
    fn mul_reduce(
        &self,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
        axes: &[usize],
    ) -> Result<Self::Storage>;
    /// Index (as i64) of the max (or min) along `axis`; the result keeps `axis` with size 1.
    fn arg_reduce(
        &self,
        max: bool,
        x: &Self::Storage,
        l: &Layout,
        axis: usize,
    ) -> Result<Self::Storage>;
    /// Batched matrix product of `(B.., m, k)` and `(B.., k, n)` with equal batch dims.
    fn matmul(
        &self,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage>;
    /// Selects entries of `idx` (1-D, i64) along `axis`.
    fn index_select(
        &self,
        x: &Self::Storage,
        lx: &Layout,
        axis: usize,
        idx: &Self::Storage,
        li: &Layout,
    ) -> Result<Self::Storage>;
    /// Zeros of shape `dims`, then `out[.., idx[j], ..] += src[.., j, ..]` along `axis`.
    fn index_add(
        &self,
        dims: &[usize],
        axis: usize,
        idx: &Self::Storage,
        li: &Layout,
        src: &Self::Storage,
        ls: &Layout,
    ) -> Result<Self::Storage>;
    /// `out[i][j][k] = x[i][idx[i][j][k]][k]` (for `axis = 1`), shaped like `idx`.
    fn gather(
        &self,
        x: &Self::Storage,
        lx: &Layout,
        axis: usize,
        idx: &Self::Storage,
        li: &Layout,
    ) -> Result<Self::Storage>;
    /// Zeros of shape `dims`, then `out[i][idx[i][j][k]][k] += src[i][j][k]` (for `axis = 1`).
    fn scatter_add(
        &self,
        dims: &[usize],
        axis: usize,
        idx: &Self::Storage,
        li: &Layout,
        src: &Self::Storage,
        ls: &Layout,
    ) -> Result<Self::Storage>;
    /// im2col: `(N, C, H, W)` to `(N, C·kh·kw, ho·wo)`.
    fn unfold2d(&self, x: &Self::Storage, l: &Layout, g: &Conv2dGeometry) -> Result<Self::Storage>;
    /// col2im, the adjoint of `unfold2d`: `(N, C·kh·kw, ho·wo)` to `(N, C, H, W)`, summing overlaps.
    fn fold2d(&self, x: &Self::Storage, l: &Layout, g: &Conv2dGeometry) -> Result<Self::Storage>;
    /// 2-D convolution (cross-correlation) of `x` `(N, C, H, W)` with weights
    /// `(O, C/groups, kh, kw)` and an optional bias `(O)`: `(N, O, ho, wo)`.
    #[allow(clippy::too_many_arguments)]
    fn conv2d(
        &self,
        x: &Self::Storage,
        lx: &Layout,
        w: &Self::Storage,
        lw: &Layout,
        bias: Option<(&Self::Storage, &Layout)>,
        g: &Conv2dGeometry,
        groups: usize,
    ) -> Result<Self::Storage>;
    /// The gradient of [`conv2d`](Backend::conv2d) with respect to its input: `(N, C, H, W)`
    /// from the output gradient `gy` `(N, O, ho, wo)` and the weights.
    #[allow(clippy::too_many_arguments)]
    fn conv2d_input_grad(
        &self,
        gy: &Self::Storage,
        lgy: &Layout,
        w: &Self::Storage,
        lw: &Layout,
        g: &Conv2dGeometry,
        groups: usize,
    ) -> Result<Self::Storage>;
    /// The gradient of [`conv2d`](Backend::conv2d) with respect to its weights:
    /// `(O, C/groups, kh, kw)` from the input and the output gradient `gy`.
    #[allow(clippy::too_many_arguments)]
    fn conv2d_weight_grad(
        &self,
        x: &Self::Storage,
        lx: &Layout,
        gy: &Self::Storage,
        lgy: &Layout,
        g: &Conv2dGeometry,
        groups: usize,
    ) -> Result<Self::Storage>;
    /// Max pooling (padding never wins): `(N, C, ho, wo)`.
    fn max_pool2d(
        &self,
        x: &Self::Storage,
        l: &Layout,
        g: &Conv2dGeometry,
    ) -> Result<Self::Storage>;
    /// The gradient of [`max_pool2d`](Backend::max_pool2d) with respect to its input: each
    /// element of `gy` `(N, C, ho, wo)` added at the position of its window's maximum in
    /// `x`; `(N, C, H, W)`.
    fn max_pool2d_backward(
        &self,
        x: (&Self::Storage, &Layout),
        gy: (&Self::Storage, &Layout),
        g: &Conv2dGeometry,
    ) -> Result<Self::Storage>;
    /// The adjoint of [`max_pool2d_backward`](Backend::max_pool2d_backward) in `gy`: per
    /// window, the element of `v` `(N, C, H, W)` at the position of the maximum of `x`;
    /// `(N, C, ho, wo)`.
    fn max_pool2d_select(
        &self,
        x: (&Self::Storage, &Layout),
        v: (&Self::Storage, &Layout),
        g: &Conv2dGeometry,
    ) -> Result<Self::Storage>;
    /// Softmax (or log-softmax) over the last axis.
    fn softmax(&self, x: &Self::Storage, l: &Layout, log: bool) -> Result<Self::Storage>;
    /// Per-row cross-entropy `logsumexp(x_i) - x_i[t_i]` of `(N, C)` logits and i64 targets.
    fn cross_entropy(
        &self,
        logits: &Self::Storage,
        l: &Layout,
        targets: &Self::Storage,
        lt: &Layout,
    ) -> Result<Self::Storage>;
    /// Training-mode batch normalisation over axis 1 of an `(N, C, ..)` float view, with an
    /// optional per-channel `weight` and `bias` (`C` elements each): returns the normalised,
    /// scaled and shifted output, and the per-channel mean and biased variance (`C` each).
    fn batch_norm(
        &self,
        x: &Self::Storage,
        l: &Layout,
        weight: Option<&Self::Storage>,
        bias: Option<&Self::Storage>,
        eps: f64,
    ) -> Result<(Self::Storage, Self::Storage, Self::Storage)>;
    /// The gradients of [`batch_norm`](Backend::batch_norm) from the output gradient `gy`
    /// (same dims as `x`) and the saved `mean` and `var`: the input gradient (if
    /// `input_grad`), and the weight and bias gradients (`C` each).
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        &self,
        x: (&Self::Storage, &Layout),
        gy: (&Self::Storage, &Layout),
        mean: &Self::Storage,
        var: &Self::Storage,
        weight: Option<&Self::Storage>,
        eps: f64,
        input_grad: bool,
    ) -> Result<BatchNormGrads<Self::Storage>>;
    /// `(softmax(x_i) - onehot(t_i)) * g_i`, the gradient of `cross_entropy` given row weights `g`.
    #[allow(clippy::too_many_arguments)]
    fn cross_entropy_backward(
        &self,
        logits: &Self::Storage,
        l: &Layout,
        targets: &Self::Storage,
        lt: &Layout,
        g: &Self::Storage,
        lg: &Layout,
    ) -> Result<Self::Storage>;
}

use cpu::CpuBackend;

// Dispatch: one function per kernel, matching on the storage variants. With a single
// backend every match is irrefutable; a second device adds arms (and a device-mismatch
// error for mixed operands) here only.

pub(crate) fn full(dtype: DType, n: usize, value: f64) -> StorageData {
    StorageData::Cpu(CpuBackend.full(dtype, n, value))
}

pub(crate) fn copy(x: &StorageData, l: &Layout) -> StorageData {
    let StorageData::Cpu(x) = x;
    StorageData::Cpu(CpuBackend.copy(x, l))
}

pub(crate) fn cast(x: &StorageData, l: &Layout, dtype: DType) -> StorageData {
    let StorageData::Cpu(x) = x;
    StorageData::Cpu(CpuBackend.cast(x, l, dtype))
}

pub(crate) fn assign(buf: &mut StorageData, dst: &Layout, src: &StorageData, l: &Layout) {
    let (StorageData::Cpu(buf), StorageData::Cpu(src)) = (buf, src);
    CpuBackend.assign(buf, dst, src, l)
}

pub(crate) fn all_finite(x: &StorageData, l: &Layout) -> bool {
    let StorageData::Cpu(x) = x;
    CpuBackend.all_finite(x, l)
}

pub(crate) fn unary(op: UnaryOp, x: &StorageData, l: &Layout) -> Result<StorageData> {
    let StorageData::Cpu(x) = x;
    Ok(StorageData::Cpu(CpuBackend.unary(op, x, l)?))
}

pub(crate) fn binary(
    op: BinaryOp,
    a: &StorageData,
    la: &Layout,
    b: &StorageData,
    lb: &Layout,
) -> Result<StorageData> {
    let (StorageData::Cpu(a), StorageData::Cpu(b)) = (a, b);
    Ok(StorageData::Cpu(CpuBackend.binary(op, a, la, b, lb)?))
}

pub(crate) fn where_cond(
    m: (&StorageData, &Layout),
    a: (&StorageData, &Layout),
    b: (&StorageData, &Layout),
) -> Result<StorageData> {
    let (StorageData::Cpu(ms), StorageData::Cpu(as_), StorageData::Cpu(bs)) = (m.0, a.0, b.0);
    Ok(StorageData::Cpu(
        CpuBackend.where_cond(ms, m.1, as_, a.1, bs, b.1)?,
    ))
}

pub(crate) fn mul3(
    scale: f64,
    a: (&StorageData, &Layout),
    b: (&StorageData, &Layout),
    c: (&StorageData, &Layout),
) -> Result<StorageData> {
    let (StorageData::Cpu(x), StorageData::Cpu(y), StorageData::Cpu(z)) = (a.0, b.0, c.0);
    Ok(StorageData::Cpu(
        CpuBackend.mul3(scale, x, a.1, y, b.1, z, c.1)?,
    ))
}

pub(crate) fn add_to_rows(buf: &mut StorageData, b: &StorageData, lb: &Layout) -> Result<()> {
    let (StorageData::Cpu(buf), StorageData::Cpu(b)) = (buf, b);
    CpuBackend.add_to_rows(buf, b, lb)
}

pub(crate) fn reduce(
    op: ReduceOp,
    x: &StorageData,
    l: &Layout,
    axes: &[usize],
) -> Result<StorageData> {
    let StorageData::Cpu(x) = x;
    Ok(StorageData::Cpu(CpuBackend.reduce(op, x, l, axes)?))
}

pub(crate) fn mul_reduce(
    a: (&StorageData, &Layout),
    b: (&StorageData, &Layout),
    axes: &[usize],
) -> Result<StorageData> {
    let (StorageData::Cpu(x), StorageData::Cpu(y)) = (a.0, b.0);
    Ok(StorageData::Cpu(
        CpuBackend.mul_reduce(x, a.1, y, b.1, axes)?,
    ))
}

pub(crate) fn arg_reduce(
    max: bool,
    x: &StorageData,
    l: &Layout,
    axis: usize,
) -> Result<StorageData> {
    let StorageData::Cpu(x) = x;
    Ok(StorageData::Cpu(CpuBackend.arg_reduce(max, x, l, axis)?))
}

pub(crate) fn matmul(
    a: &StorageData,
    la: &Layout,
    b: &StorageData,
    lb: &Layout,
) -> Result<StorageData> {
    let (StorageData::Cpu(a), StorageData::Cpu(b)) = (a, b);
    Ok(StorageData::Cpu(CpuBackend.matmul(a, la, b, lb)?))
}

pub(crate) fn index_select(
    x: (&StorageData, &Layout),
    axis: usize,
    idx: (&StorageData, &Layout),
) -> Result<StorageData> {
    let (StorageData::Cpu(xs), StorageData::Cpu(is)) = (x.0, idx.0);
    Ok(StorageData::Cpu(
        CpuBackend.index_select(xs, x.1, axis, is, idx.1)?,
    ))
}

pub(crate) fn index_add(
    dims: &[usize],
    axis: usize,
    idx: (&StorageData, &Layout),
    src: (&StorageData, &Layout),
) -> Result<StorageData> {
    let (StorageData::Cpu(is), StorageData::Cpu(ss)) = (idx.0, src.0);
    Ok(StorageData::Cpu(
        CpuBackend.index_add(dims, axis, is, idx.1, ss, src.1)?,
    ))
}

pub(crate) fn gather(
    x: (&StorageData, &Layout),
    axis: usize,
    idx: (&StorageData, &Layout),
) -> Result<StorageData> {
    let (StorageData::Cpu(xs), StorageData::Cpu(is)) = (x.0, idx.0);
    Ok(StorageData::Cpu(
        CpuBackend.gather(xs, x.1, axis, is, idx.1)?,
    ))
}

pub(crate) fn scatter_add(
    dims: &[usize],
    axis: usize,
    idx: (&StorageData, &Layout),
    src: (&StorageData, &Layout),
) -> Result<StorageData> {
    let (StorageData::Cpu(is), StorageData::Cpu(ss)) = (idx.0, src.0);
    Ok(StorageData::Cpu(
        CpuBackend.scatter_add(dims, axis, is, idx.1, ss, src.1)?,
    ))
}

pub(crate) fn unfold2d(x: &StorageData, l: &Layout, g: &Conv2dGeometry) -> Result<StorageData> {
    let StorageData::Cpu(x) = x;
    Ok(StorageData::Cpu(CpuBackend.unfold2d(x, l, g)?))
}

pub(crate) fn fold2d(x: &StorageData, l: &Layout, g: &Conv2dGeometry) -> Result<StorageData> {
    let StorageData::Cpu(x) = x;
    Ok(StorageData::Cpu(CpuBackend.fold2d(x, l, g)?))
}

pub(crate) fn conv2d(
    x: (&StorageData, &Layout),
    w: (&StorageData, &Layout),
    bias: Option<(&StorageData, &Layout)>,
    g: &Conv2dGeometry,
    groups: usize,
) -> Result<StorageData> {
    let (StorageData::Cpu(xs), StorageData::Cpu(ws)) = (x.0, w.0);
    let bias = bias.map(|(b, l)| {
        let StorageData::Cpu(b) = b;
        (b, l)
    });
    Ok(StorageData::Cpu(
        CpuBackend.conv2d(xs, x.1, ws, w.1, bias, g, groups)?,
    ))
}

pub(crate) fn conv2d_input_grad(
    gy: (&StorageData, &Layout),
    w: (&StorageData, &Layout),
    g: &Conv2dGeometry,
    groups: usize,
) -> Result<StorageData> {
    let (StorageData::Cpu(gs), StorageData::Cpu(ws)) = (gy.0, w.0);
    Ok(StorageData::Cpu(
        CpuBackend.conv2d_input_grad(gs, gy.1, ws, w.1, g, groups)?,
    ))
}

pub(crate) fn conv2d_weight_grad(
    x: (&StorageData, &Layout),
    gy: (&StorageData, &Layout),
    g: &Conv2dGeometry,
    groups: usize,
) -> Result<StorageData> {
    let (StorageData::Cpu(xs), StorageData::Cpu(gs)) = (x.0, gy.0);
    Ok(StorageData::Cpu(
        CpuBackend.conv2d_weight_grad(xs, x.1, gs, gy.1, g, groups)?,
    ))
}

pub(crate) fn max_pool2d(x: &StorageData, l: &Layout, g: &Conv2dGeometry) -> Result<StorageData> {
    Ok(StorageData::Cpu(CpuBackend.max_pool2d(cpu(x), l, g)?))
}

pub(crate) fn max_pool2d_backward(
    x: (&StorageData, &Layout),
    gy: (&StorageData, &Layout),
    g: &Conv2dGeometry,
) -> Result<StorageData> {
    Ok(StorageData::Cpu(CpuBackend.max_pool2d_backward(
        (cpu(x.0), x.1),
        (cpu(gy.0), gy.1),
        g,
    )?))
}

pub(crate) fn max_pool2d_select(
    x: (&StorageData, &Layout),
    v: (&StorageData, &Layout),
    g: &Conv2dGeometry,
) -> Result<StorageData> {
    Ok(StorageData::Cpu(CpuBackend.max_pool2d_select(
        (cpu(x.0), x.1),
        (cpu(v.0), v.1),
        g,
    )?))
}

pub(crate) fn softmax(x: &StorageData, l: &Layout, log: bool) -> Result<StorageData> {
    let StorageData::Cpu(x) = x;
    Ok(StorageData::Cpu(CpuBackend.softmax(x, l, log)?))
}

pub(crate) fn cross_entropy(
    x: (&StorageData, &Layout),
    t: (&StorageData, &Layout),
) -> Result<StorageData> {
    let (StorageData::Cpu(xs), StorageData::Cpu(ts)) = (x.0, t.0);
    Ok(StorageData::Cpu(
        CpuBackend.cross_entropy(xs, x.1, ts, t.1)?,
    ))
}

pub(crate) fn cross_entropy_backward(
    x: (&StorageData, &Layout),
    t: (&StorageData, &Layout),
    g: (&StorageData, &Layout),
) -> Result<StorageData> {
    let (StorageData::Cpu(xs), StorageData::Cpu(ts), StorageData::Cpu(gs)) = (x.0, t.0, g.0);
    Ok(StorageData::Cpu(
        CpuBackend.cross_entropy_backward(xs, x.1, ts, t.1, gs, g.1)?,
    ))
}

pub(crate) fn batch_norm(
    x: (&StorageData, &Layout),
    weight: Option<&StorageData>,
    bias: Option<&StorageData>,
    eps: f64,
) -> Result<(StorageData, StorageData, StorageData)> {
    let StorageData::Cpu(xs) = x.0;
    let (y, mean, var) = CpuBackend.batch_norm(xs, x.1, weight.map(cpu), bias.map(cpu), eps)?;
    Ok((
        StorageData::Cpu(y),
        StorageData::Cpu(mean),
        StorageData::Cpu(var),
    ))
}

pub(crate) fn batch_norm_backward(
    x: (&StorageData, &Layout),
    gy: (&StorageData, &Layout),
    stats: (&StorageData, &StorageData),
    weight: Option<&StorageData>,
    eps: f64,
    input_grad: bool,
) -> Result<BatchNormGrads<StorageData>> {
    let (StorageData::Cpu(xs), StorageData::Cpu(gs)) = (x.0, gy.0);
    let (StorageData::Cpu(mean), StorageData::Cpu(var)) = stats;
    let g = CpuBackend.batch_norm_backward(
        (xs, x.1),
        (gs, gy.1),
        mean,
        var,
        weight.map(cpu),
        eps,
        input_grad,
    )?;
    Ok(BatchNormGrads {
        input: g.input.map(StorageData::Cpu),
        weight: StorageData::Cpu(g.weight),
        bias: StorageData::Cpu(g.bias),
    })
}

/// The CPU storage of an optional operand.
fn cpu(s: &StorageData) -> &cpu::CpuStorage {
    let StorageData::Cpu(s) = s;
    s
}

#[cfg(test)]
mod tests {
    use super::Conv2dGeometry;

    /// Sizes that overflow in the window arithmetic give no geometry (before, `d·(k - 1)`
    /// and `size + 2·padding` wrapped around into small, plausible sizes).
    #[test]
    fn geometry_arithmetic_is_checked() {
        let new = |hw: usize, k: usize, s: usize, p: usize, d: usize| {
            Conv2dGeometry::new((1, 1, hw, hw), (k, 1), (s, 1), (p, 0), (d, 1))
        };
        assert_eq!(new(8, 3, 1, 1, 1).map(|g| (g.ho, g.wo)), Some((8, 8)));
        assert!(new(8, 2, 1, 0, usize::MAX).is_none()); // span wraps to 0
        assert!(new(8, 3, 1, 0, 1 << 63).is_none()); // span wraps to 1
        assert!(new(8, 1, 1, 1 << 63, 1).is_none()); // padded size wraps to 8
        assert!(new(8, 1, 1, 1 << 62, 1).is_none()); // past isize::MAX
        assert!(new(8, 0, 1, 0, 1).is_none());
        assert!(new(8, 1, 0, 0, 1).is_none());
        assert!(new(8, 3, 1, 1, 0).is_none()); // dilation 0: every tap on one pixel
        let g = new(8, 1, 1, (1 << 61) - 8, 1).unwrap(); // the largest padded size
        assert_eq!(g.ho, (1 << 62) - 8);
    }
}
