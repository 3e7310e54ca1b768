//! Indexing with integer (`I64`) index tensors. `index_select`/`index_add` and
//! `gather`/`scatter_add` are adjoint pairs, so each one's rule is the other.

use crate::tensor::autograd::{record_new, Save};
use crate::tensor::backend;
use crate::tensor::error::{invalid, shape_mismatch, Result};
use crate::tensor::shape::{checked_elem_count, resolve_axis};
use crate::tensor::{DType, Shape, Tensor, TensorError};

fn require_index(op: &'static str, idx: &Tensor) -> Result<()> {
    if idx.dtype() != DType::I64 {
        return Err(TensorError::UnsupportedDType {
            op,
            dtype: idx.dtype(),
        });
    }
    Ok(())
}

impl Tensor {
    /// The entries `idx` (1-D, `I64`) along `axis`, in that order (repeats allowed).
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]).unwrap();
    /// let i = Tensor::from_vec(vec![2i64, 0], [2]).unwrap();
    /// assert_eq!(t.index_select(0, &i).unwrap().to_vec::<f32>().unwrap(), vec![5.0, 6.0, 1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn index_select(&self, axis: isize, idx: &Tensor) -> Result<Tensor> {
        let op = "index_select";
        require_index(op, idx)?;
        let a = resolve_axis(op, axis, self.rank())?;
        if idx.rank() != 1 {
            return Err(invalid(
                op,
                format!("the index must be 1-D, got shape {}", idx.shape()),
            ));
        }
        let mut dims = self.dims().to_vec();
        dims[a] = idx.elem_count();
        if Shape::from(&dims).checked_elem_count().is_none() {
            return Err(shape_mismatch(
                op,
                self.dims(),
                idx.dims(),
                format!(
                    "the result {} has more elements than a tensor can address",
                    Shape::from(&dims)
                ),
            ));
        }
        let data = Tensor::read_all(&[self, idx], |s| {
            backend::index_select((s[0], self.layout()), a, (s[1], idx.layout()))
        })?;
        let (idx, in_dims) = (idx.clone(), self.dims().to_vec());
        record_new(op, data, dims, &[self], Save::Nothing, move |_, g| {
            Ok(vec![Some(
                Tensor::zeros(in_dims.as_slice(), g.dtype()).index_add(a as isize, &idx, g)?,
            )])
        })
    }

    /// `self` plus `src` added at positions `idx` along `axis`:
    /// `out[.., idx[j], ..] += src[.., j, ..]` (repeated indices accumulate).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let base = Tensor::zeros([3], DType::F64);
    /// let i = Tensor::from_vec(vec![0i64, 0, 2], [3]).unwrap();
    /// let src = Tensor::ones([3], DType::F64);
    /// assert_eq!(base.index_add(0, &i, &src).unwrap().to_vec::<f64>().unwrap(), vec![2.0, 0.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn index_add(&self, axis: isize, idx: &Tensor, src: &Tensor) -> Result<Tensor> {
        let op = "index_add";
        require_index(op, idx)?;
        self.require_same_dtype(op, src)?;
        let a = resolve_axis(op, axis, self.rank())?;
        let mut want = self.dims().to_vec();
        want[a] = idx.elem_count();
        if idx.rank() != 1 || src.dims() != want {
            return Err(shape_mismatch(
                op,
                self.dims(),
                src.dims(),
                format!(
                    "src must have shape {want:?} for a 1-D index of {} entries",
                    idx.elem_count()
                ),
            ));
        }
        let data = Tensor::read_all(&[idx, src], |s| {
            backend::index_add(self.dims(), a, (s[0], idx.layout()), (s[1], src.layout()))
        })?;
        let idx2 = idx.clone();
        let scattered = record_new(
            op,
            data,
            self.dims().to_vec(),
            &[src],
            Save::Nothing,
            move |_, g| Ok(vec![Some(g.index_select(a as isize, &idx2)?)]),
        )?;
        self.add(&scattered)
    }

    /// `out[i][j][k] = self[i][idx[i][j][k]][k]` for `axis = 1` (likewise for other axes);
    /// the result has the index's shape.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
    /// let i = Tensor::from_vec(vec![1i64, 0], [2, 1]).unwrap();
    /// assert_eq!(t.gather(1, &i).unwrap().to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn gather(&self, axis: isize, idx: &Tensor) -> Result<Tensor> {
        let op = "gather";
        require_index(op, idx)?;
        let a = resolve_axis(op, axis, self.rank())?;
        check_gather_shape(op, self.dims(), idx.dims(), a)?;
        let data = Tensor::read_all(&[self, idx], |s| {
            backend::gather((s[0], self.layout()), a, (s[1], idx.layout()))
        })?;
        let (idx2, in_dims) = (idx.clone(), self.dims().to_vec());
        record_new(
            op,
            data,
            idx.dims().to_vec(),
            &[self],
            Save::Nothing,
            move |_, g| {
                Ok(vec![Some(
                    Tensor::zeros(in_dims.as_slice(), g.dtype())
                        .scatter_add(a as isize, &idx2, g)?,
                )])
            },
        )
    }

    /// `self` plus `src` scattered by `idx` along `axis`:
    /// `out[i][idx[i][j][k]][k] += src[i][j][k]` for `axis = 1`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let base = Tensor::zeros([1, 3], DType::F32);
    /// let i = Tensor::from_vec(vec![2i64, 2], [1, 2]).unwrap();
    /// let src = Tensor::ones([1, 2], DType::F32);
    /// assert_eq!(base.scatter_add(1, &i, &src).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 0.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn scatter_add(&self, axis: isize, idx: &Tensor, src: &Tensor) -> Result<Tensor> {
        let op = "scatter_add";
        require_index(op, idx)?;
        self.require_same_dtype(op, src)?;
        let a = resolve_axis(op, axis, self.rank())?;
        check_gather_shape(op, self.dims(), idx.dims(), a)?;
        if src.dims() != idx.dims() {
            return Err(shape_mismatch(
                op,
                idx.dims(),
                src.dims(),
                "src must have the index's shape",
            ));
        }
        let data = Tensor::read_all(&[idx, src], |s| {
            backend::scatter_add(self.dims(), a, (s[0], idx.layout()), (s[1], src.layout()))
        })?;
        let idx2 = idx.clone();
        let scattered = record_new(
            op,
            data,
            self.dims().to_vec(),
            &[src],
            Save::Nothing,
            move |_, g| Ok(vec![Some(g.gather(a as isize, &idx2)?)]),
        )?;
        self.add(&scattered)
    }

    /// `value` where `mask` (broadcast to this shape) is non-zero, `self` elsewhere. No
    /// gradient flows to the filled positions.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
    /// let m = Tensor::from_vec(vec![0.0f32, 1.0], [2]).unwrap();
    /// assert_eq!(x.masked_fill(&m, f64::NEG_INFINITY).unwrap().to_vec::<f32>().unwrap(), vec![1.0, f32::NEG_INFINITY]);
    /// ```
    #[track_caller]
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        let fill = Tensor::full((), value, self.dtype());
        mask.where_cond(&fill, self)?.broadcast_to(self.dims())
    }

    /// One-hot encoding of an `I64` tensor of class indices: shape `dims + [classes]`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::from_vec(vec![2i64, 0], [2]).unwrap();
    /// let oh = t.one_hot(3, DType::F32).unwrap();
    /// assert_eq!(oh.to_vec::<f32>().unwrap(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    /// ```
    pub fn one_hot(&self, classes: usize, dtype: DType) -> Result<Tensor> {
        require_index("one_hot", self)?;
        let mut dims = self.dims().to_vec();
        dims.push(classes);
        let n = checked_elem_count("one_hot", &dims)?;
        let v = self.to_vec::<i64>()?;
        let mut out = vec![0.0f64; n];
        for (i, &c) in v.iter().enumerate() {
            if c < 0 || c as usize >= classes {
                return Err(invalid(
                    "one_hot",
                    format!("class {c} out of range for {classes} classes"),
                ));
            }
            out[i * classes + c as usize] = 1.0;
        }
        Tensor::from_vec(out, dims)?.to_dtype(dtype)
    }

    /// Embedding lookup: rows of this `(V, D)` table picked by `ids` (`I64`, any shape),
    /// giving `ids.dims + [D]`. The table's gradient accumulates over repeated ids.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let table = Tensor::from_vec(vec![0.0f32, 0.0, 1.0, 1.0, 2.0, 2.0], [3, 2]).unwrap();
    /// let ids = Tensor::from_vec(vec![2i64, 1, 2], [3]).unwrap();
    /// let e = table.embedding(&ids).unwrap();
    /// assert_eq!(e.dims(), &[3, 2]);
    /// assert_eq!(e.to_vec::<f32>().unwrap(), vec![2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn embedding(&self, ids: &Tensor) -> Result<Tensor> {
        if self.rank() != 2 {
            return Err(invalid(
                "embedding",
                format!("the table must be (V, D), got {}", self.shape()),
            ));
        }
        let flat = ids.reshape([ids.elem_count()])?;
        let rows = self.index_select(0, &flat)?;
        let mut dims = ids.dims().to_vec();
        dims.push(self.dims()[1]);
        rows.reshape(dims)
    }
}

fn check_gather_shape(op: &'static str, x: &[usize], idx: &[usize], axis: usize) -> Result<()> {
    let ok = x.len() == idx.len()
        && x.iter()
            .zip(idx)
            .enumerate()
            .all(|(d, (&xs, &is))| d == axis || is <= xs);
    if !ok {
        return Err(shape_mismatch(
            op,
            x,
            idx,
            format!("the index must have the same rank, and sizes no larger off axis {axis}"),
        ));
    }
    Ok(())
}
