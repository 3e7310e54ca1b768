//! Creating tensors: constants, ranges, identity, random, and from host vectors.

use crate::tensor::backend::{self, cpu::CpuStorage};
use crate::tensor::error::{invalid, shape_mismatch, Result};
use crate::tensor::shape::checked_elem_count;
use crate::tensor::storage::StorageData;
use crate::tensor::{DType, Element, Rng, Shape, Tensor};

/// The element count of a new tensor of `dims`, for the constructors that return a
/// `Tensor`: a shape too large to lay out panics with the error naming `op` and the shape.
#[track_caller]
fn count_or_panic(op: &'static str, dims: &[usize]) -> usize {
    match checked_elem_count(op, dims) {
        Ok(n) => n,
        Err(e) => panic!("{e}"),
    }
}

impl Tensor {
    /// `value` in every element of a new tensor of `shape`, for constructor `op`.
    #[track_caller]
    fn filled(op: &'static str, shape: Shape, value: f64, dtype: DType) -> Tensor {
        let dims = shape.into_vec();
        let n = count_or_panic(op, &dims);
        Tensor::from_data(backend::full(dtype, n, value), dims)
    }

    /// A tensor filled with `value`.
    ///
    /// # Panics
    /// When the shape is too large to lay out (its sizes multiply past
    /// [`Shape::MAX_ELEMS`]), with a message naming `full` and the shape.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::full([2, 2], 7.0, DType::F32);
    /// assert_eq!(t.to_vec::<f32>().unwrap(), vec![7.0; 4]);
    /// ```
    #[track_caller]
    pub fn full(shape: impl Into<Shape>, value: f64, dtype: DType) -> Tensor {
        Tensor::filled("full", shape.into(), value, dtype)
    }
    /// A tensor of zeros.
    ///
    /// # Panics
    /// When the shape is too large to lay out, naming `zeros` and the shape.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([3], DType::F64).to_vec::<f64>().unwrap(), vec![0.0; 3]);
    /// ```
    #[track_caller]
    pub fn zeros(shape: impl Into<Shape>, dtype: DType) -> Tensor {
        Tensor::filled("zeros", shape.into(), 0.0, dtype)
    }
    /// A tensor of ones.
    ///
    /// # Panics
    /// When the shape is too large to lay out, naming `ones` and the shape.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::ones([2], DType::I64).to_vec::<i64>().unwrap(), vec![1, 1]);
    /// ```
    #[track_caller]
    pub fn ones(shape: impl Into<Shape>, dtype: DType) -> Tensor {
        Tensor::filled("ones", shape.into(), 1.0, dtype)
    }
    /// Zeros with the shape and dtype of `t`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let z = Tensor::zeros_like(&Tensor::ones([2, 3], DType::F32));
    /// assert_eq!((z.dims(), z.dtype()), (&[2usize, 3][..], DType::F32));
    /// ```
    pub fn zeros_like(t: &Tensor) -> Tensor {
        Tensor::zeros(t.dims(), t.dtype())
    }
    /// Ones with the shape and dtype of `t`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::ones_like(&Tensor::zeros([2], DType::F64)).to_vec::<f64>().unwrap(), vec![1.0, 1.0]);
    /// ```
    pub fn ones_like(t: &Tensor) -> Tensor {
        Tensor::ones(t.dims(), t.dtype())
    }
    /// `value` with the shape and dtype of `t`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::full_like(&Tensor::zeros([2], DType::F64), 3.0);
    /// assert_eq!(t.to_vec::<f64>().unwrap(), vec![3.0, 3.0]);
    /// ```
    pub fn full_like(t: &Tensor, value: f64) -> Tensor {
        Tensor::full(t.dims(), value, t.dtype())
    }
    /// A zero-dimensional tensor holding `value`.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let s = Tensor::scalar(2.5f64);
    /// assert_eq!((s.rank(), s.item().unwrap()), (0, 2.5));
    /// ```
    pub fn scalar<T: Element>(value: T) -> Tensor {
        Tensor::from_data(
            StorageData::Cpu(CpuStorage::from_vec(vec![value])),
            Vec::new(),
        )
    }
    /// A tensor owning `data`, laid out row-major with `shape`. Errors when the lengths
    /// differ or the shape is too large to lay out.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], [2, 3]).unwrap();
    /// assert_eq!(t.dims(), &[2, 3]);
    /// assert!(Tensor::from_vec(vec![1.0f32; 5], [2, 3]).is_err());
    /// // 64 · (2⁵⁸ + 1) wraps to 64 in 64-bit arithmetic; the checked count refuses it.
    /// assert!(Tensor::from_vec(vec![1.0f32; 64], [64, (1 << 58) + 1]).is_err());
    /// ```
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor> {
        let dims = shape.into().into_vec();
        let n = checked_elem_count("from_vec", &dims)?;
        if n != data.len() {
            return Err(shape_mismatch(
                "from_vec",
                &[data.len()],
                &dims,
                format!("{} elements cannot fill shape {:?}", data.len(), dims),
            ));
        }
        Ok(Tensor::from_data(
            StorageData::Cpu(CpuStorage::from_vec(data)),
            dims,
        ))
    }
    /// A tensor copying `data`, laid out row-major with `shape`.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_slice(&[1.0f64, 2.0], [2, 1]).unwrap();
    /// assert_eq!(t.dims(), &[2, 1]);
    /// ```
    pub fn from_slice<T: Element>(data: &[T], shape: impl Into<Shape>) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), shape)
    }
    /// Values `start, start + step, ...` below `end` (above it for a negative step).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::arange(0.0, 5.0, 2.0, DType::I64).unwrap();
    /// assert_eq!(t.to_vec::<i64>().unwrap(), vec![0, 2, 4]);
    /// ```
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(invalid(
                "arange",
                format!("bad range {start}..{end} step {step}"),
            ));
        }
        // The float-to-integer cast saturates; the count is then checked like a shape's.
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        checked_elem_count("arange", &[n])?;
        let v: Vec<f64> = (0..n).map(|i| start + step * i as f64).collect();
        Tensor::from_vec(v, [n])?.to_dtype(dtype)
    }
    /// `n` evenly spaced values from `start` to `end` inclusive.
    ///
    /// # Panics
    /// When `n` exceeds [`Shape::MAX_ELEMS`], naming `linspace` and the shape.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::linspace(0.0, 1.0, 5, DType::F64);
    /// assert_eq!(t.to_vec::<f64>().unwrap(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    /// ```
    #[track_caller]
    pub fn linspace(start: f64, end: f64, n: usize, dtype: DType) -> Tensor {
        count_or_panic("linspace", &[n]);
        let step = if n > 1 {
            (end - start) / (n - 1) as f64
        } else {
            0.0
        };
        let v: Vec<f64> = (0..n)
            .map(|i| {
                if i + 1 == n && n > 1 {
                    end
                } else {
                    start + step * i as f64
                }
            })
            .collect();
        let t = Tensor::from_vec(v, [n]).expect("length matches");
        t.to_dtype(dtype).expect("every dtype converts from f64")
    }
    /// The `n × n` identity matrix.
    ///
    /// # Panics
    /// When `n · n` exceeds [`Shape::MAX_ELEMS`], naming `eye` and the shape.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::eye(2, DType::F32).to_vec::<f32>().unwrap(), vec![1.0, 0.0, 0.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn eye(n: usize, dtype: DType) -> Tensor {
        let mut v = vec![0.0; count_or_panic("eye", &[n, n])];
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        let t = Tensor::from_vec(v, [n, n]).expect("length matches");
        t.to_dtype(dtype).expect("every dtype converts from f64")
    }
    /// Uniform random values in `[lo, hi)` from `rng`.
    ///
    /// # Panics
    /// When the shape is too large to lay out, naming `rand` and the shape.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Rng, Tensor};
    /// let t = Tensor::rand([100], -1.0, 1.0, DType::F32, &mut Rng::new(0));
    /// assert!(t.to_vec::<f32>().unwrap().iter().all(|v| (-1.0..1.0).contains(v)));
    /// ```
    #[track_caller]
    pub fn rand(shape: impl Into<Shape>, lo: f64, hi: f64, dtype: DType, rng: &mut Rng) -> Tensor {
        let dims = shape.into().into_vec();
        let n = count_or_panic("rand", &dims);
        let v: Vec<f64> = (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect();
        Self::host_f64(v, dims, dtype)
    }
    /// Normal random values with mean `mean` and standard deviation `std`, from `rng`.
    ///
    /// # Panics
    /// When the shape is too large to lay out, naming `randn` and the shape.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Rng, Tensor};
    /// let t = Tensor::randn([1000], 0.0, 1.0, DType::F64, &mut Rng::new(0));
    /// assert!(t.mean_all().unwrap().item().unwrap().abs() < 0.1);
    /// ```
    #[track_caller]
    pub fn randn(
        shape: impl Into<Shape>,
        mean: f64,
        std: f64,
        dtype: DType,
        rng: &mut Rng,
    ) -> Tensor {
        let dims = shape.into().into_vec();
        let n = count_or_panic("randn", &dims);
        let v: Vec<f64> = (0..n).map(|_| mean + std * rng.normal()).collect();
        Self::host_f64(v, dims, dtype)
    }

    fn host_f64(v: Vec<f64>, dims: Vec<usize>, dtype: DType) -> Tensor {
        let data = match dtype {
            DType::F32 => CpuStorage::F32(v.into_iter().map(|x| x as f32).collect()),
            DType::F64 => CpuStorage::F64(v),
            DType::I64 => CpuStorage::I64(v.into_iter().map(|x| x as i64).collect()),
            DType::BF16 => CpuStorage::BF16(v.into_iter().map(half::bf16::from_f64).collect()),
            DType::F16 => CpuStorage::F16(v.into_iter().map(half::f16::from_f64).collect()),
        };
        Tensor::from_data(StorageData::Cpu(data), dims)
    }
}

#[cfg(feature = "ndarray")]
mod ndarray_conv {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    impl Tensor {
        /// A tensor copying an `ndarray` array (any layout).
        ///
        /// ```
        /// # #[cfg(feature = "ndarray")] {
        /// use retrograd::tensor::Tensor;
        /// let a = ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn();
        /// let t = Tensor::from_ndarray(&a).unwrap();
        /// assert_eq!(t.dims(), &[2, 2]);
        /// # }
        /// ```
        pub fn from_ndarray<T: Element>(a: &ArrayD<T>) -> Result<Tensor> {
            let v: Vec<T> = a.iter().copied().collect();
            Tensor::from_vec(v, a.shape())
        }
        /// The elements as an `ndarray` array of `T` (must match the dtype).
        ///
        /// ```
        /// # #[cfg(feature = "ndarray")] {
        /// use retrograd::tensor::{DType, Tensor};
        /// let a = Tensor::ones([2, 3], DType::F64).to_ndarray::<f64>().unwrap();
        /// assert_eq!(a.shape(), &[2, 3]);
        /// # }
        /// ```
        pub fn to_ndarray<T: Element>(&self) -> Result<ArrayD<T>> {
            let v = self.to_vec::<T>()?;
            Ok(ArrayD::from_shape_vec(IxDyn(self.dims()), v).expect("length matches"))
        }
    }
}
