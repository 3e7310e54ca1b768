//! The [`Tensor`] handle: shared storage + strided layout + (optionally) the graph node that
//! produced it, with its gradient slot.

use super::autograd::{GradState, Node};
use super::backend;
use super::error::{invalid, Result, TensorError};
use super::shape::Layout;
use super::storage::{Device, Storage, StorageData};
use super::{DType, Element, Shape};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLockReadGuard};

/// An n-dimensional array of `f32`, `f64` or `i64` that records the operations applied to it
/// (when it requires grad) so that gradients can flow back through them.
///
/// Cloning is cheap: clones are the same tensor (same storage, same node, same `.grad()`).
/// Views ([`reshape`](Tensor::reshape), [`transpose`](Tensor::transpose),
/// [`narrow`](Tensor::narrow), [`broadcast_to`](Tensor::broadcast_to), ...) share storage.
///
/// ```
/// use retrograd::tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3]).unwrap().requires_grad_();
/// let y = x.mul(&x).unwrap().sum_all().unwrap(); // Σ x²
/// y.backward().unwrap();
/// assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![2.0, 4.0, 6.0]);
/// ```
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorInner>);

pub(crate) struct TensorInner {
    pub(crate) storage: Arc<Storage>,
    pub(crate) layout: Layout,
    pub(crate) dtype: DType,
    pub(crate) node: Option<Node>,
    pub(crate) requires_grad: AtomicBool,
    pub(crate) grad_state: Mutex<GradState>,
}

impl Tensor {
    /// A tensor over `storage` viewed through `layout`, with the node that recorded it.
    ///
    /// Every tensor is made here, and here its layout is checked against its storage:
    /// every position it addresses lies inside the storage (see [`Layout::fits_in`]). The
    /// ops check sizes that come from the user before they compute anything and return an
    /// error naming themselves; this assertion is the last line, so that no tensor with an
    /// inconsistent layout can exist for a kernel to read out of bounds.
    pub(crate) fn from_parts(storage: Arc<Storage>, layout: Layout, node: Option<Node>) -> Tensor {
        let (dtype, len) = {
            let data = storage.read();
            (data.dtype(), data.len())
        };
        assert!(
            layout.fits_in(len),
            "internal error: layout {layout:?} does not fit a storage of {len} elements"
        );
        let requires_grad = node.is_some();
        Tensor(Arc::new(TensorInner {
            storage,
            layout,
            dtype,
            node,
            requires_grad: AtomicBool::new(requires_grad),
            grad_state: Mutex::new(GradState::default()),
        }))
    }

    /// A fresh contiguous tensor owning `data`, which holds exactly the elements of `dims`
    /// (the op that computed it has checked `dims`).
    pub(crate) fn from_data(data: StorageData, dims: Vec<usize>) -> Tensor {
        let layout = Layout::contiguous("tensor", dims).unwrap_or_else(|e| panic!("{e}"));
        Tensor::from_parts(Arc::new(Storage::new(data)), layout, None)
    }

    /// A new leaf over the same storage and layout (never the same handle as `self`).
    pub(crate) fn fresh_leaf(&self) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), self.0.layout.clone(), None)
    }

    pub(crate) fn storage(&self) -> &Arc<Storage> {
        &self.0.storage
    }
    pub(crate) fn layout(&self) -> &Layout {
        &self.0.layout
    }
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, StorageData> {
        self.0.storage.read()
    }
    /// Runs `f` with read access to the storages of `ts`, locking each distinct storage once
    /// (several operands may be views of one storage).
    pub(crate) fn read_all<R>(ts: &[&Tensor], f: impl FnOnce(&[&StorageData]) -> R) -> R {
        // The common cases without allocating: one or two operands.
        match ts {
            [a] => return f(&[&*a.read()]),
            [a, b] if Arc::ptr_eq(&a.0.storage, &b.0.storage) => {
                let g = a.read();
                return f(&[&*g, &*g]);
            }
            [a, b] => {
                let (ga, gb) = (a.read(), b.read());
                return f(&[&*ga, &*gb]);
            }
            _ => {}
        }
        let mut guards: Vec<(*const Storage, RwLockReadGuard<'_, StorageData>)> = Vec::new();
        let mut slot = Vec::with_capacity(ts.len());
        for t in ts {
            let p = Arc::as_ptr(&t.0.storage);
            match guards.iter().position(|(q, _)| *q == p) {
                Some(i) => slot.push(i),
                None => {
                    slot.push(guards.len());
                    guards.push((p, t.0.storage.read()));
                }
            }
        }
        let refs: Vec<&StorageData> = slot.iter().map(|&i| &*guards[i].1).collect();
        f(&refs)
    }

    pub(crate) fn node(&self) -> Option<&Node> {
        self.0.node.as_ref()
    }
    pub(crate) fn grad_state(&self) -> std::sync::MutexGuard<'_, GradState> {
        self.0.grad_state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shape.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([2, 3], DType::F32).shape().dims(), &[2, 3]);
    /// ```
    pub fn shape(&self) -> Shape {
        Shape::from(self.dims())
    }
    /// The sizes of the dimensions.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([2, 3], DType::F32).dims(), &[2, 3]);
    /// ```
    pub fn dims(&self) -> &[usize] {
        &self.0.layout.dims
    }
    /// The size of one dimension (negative counts from the end).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([2, 3], DType::F32).dim(-1).unwrap(), 3);
    /// ```
    pub fn dim(&self, axis: isize) -> Result<usize> {
        let a = super::shape::resolve_axis("dim", axis, self.rank())?;
        Ok(self.dims()[a])
    }
    /// The number of dimensions.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([2, 3], DType::F32).rank(), 2);
    /// ```
    pub fn rank(&self) -> usize {
        self.0.layout.dims.len()
    }
    /// The number of elements.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([2, 3], DType::F32).elem_count(), 6);
    /// ```
    pub fn elem_count(&self) -> usize {
        self.0.layout.elem_count()
    }
    /// The strides, in elements (0 along broadcast dimensions).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2, 3], DType::F32);
    /// assert_eq!(t.strides(), &[3, 1]);
    /// assert_eq!(t.t().unwrap().strides(), &[1, 3]);
    /// ```
    pub fn strides(&self) -> &[isize] {
        &self.0.layout.strides
    }
    /// The element type.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([1], DType::F64).dtype(), DType::F64);
    /// ```
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// The device holding the elements.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Device, Tensor};
    /// assert_eq!(Tensor::zeros([1], DType::F64).device(), Device::Cpu);
    /// ```
    pub fn device(&self) -> Device {
        self.read().device()
    }
    /// Whether the elements are laid out row-major without gaps.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2, 3], DType::F32);
    /// assert!(t.is_contiguous() && !t.t().unwrap().is_contiguous());
    /// ```
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    /// The storage version: bumped by every in-place write to this tensor or a view of it.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2], DType::F32);
    /// let v = t.version();
    /// t.fill_(1.0).unwrap();
    /// assert_eq!(t.version(), v + 1);
    /// ```
    pub fn version(&self) -> u64 {
        self.0.storage.version()
    }
    /// Whether two tensors share storage (e.g. one is a view of the other).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2, 3], DType::F32);
    /// assert!(t.shares_storage(&t.reshape([6]).unwrap()));
    /// ```
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }

    /// Whether gradients are tracked for this tensor (leaves marked with
    /// [`requires_grad_`](Tensor::requires_grad_), and every result computed from one).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::zeros([2], DType::F32).requires_grad_();
    /// assert!(w.requires_grad() && w.exp().unwrap().requires_grad());
    /// ```
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad.load(Ordering::Relaxed)
    }
    /// Whether this tensor was created by the user rather than recorded by an op.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::zeros([2], DType::F32).requires_grad_();
    /// assert!(w.is_leaf() && !w.exp().unwrap().is_leaf());
    /// ```
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }
    /// Marks a leaf as a variable whose gradient `backward` accumulates into
    /// [`grad`](Tensor::grad). Errors for integer tensors and (when turning it off) non-leaves.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::zeros([2], DType::F32);
    /// w.set_requires_grad(true).unwrap();
    /// assert!(w.requires_grad());
    /// assert!(Tensor::zeros([2], DType::I64).set_requires_grad(true).is_err());
    /// ```
    pub fn set_requires_grad(&self, on: bool) -> Result<()> {
        if on && !self.dtype().is_float() {
            return Err(TensorError::UnsupportedDType {
                op: "requires_grad",
                dtype: self.dtype(),
            });
        }
        if !on && !self.is_leaf() {
            return Err(invalid(
                "requires_grad",
                "only leaves can stop requiring grad; use detach() for a non-leaf",
            ));
        }
        self.0.requires_grad.store(on, Ordering::Relaxed);
        Ok(())
    }
    /// Builder form of [`set_requires_grad(true)`](Tensor::set_requires_grad).
    ///
    /// # Panics
    /// For integer tensors, which cannot carry gradients.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([3], DType::F64).requires_grad_();
    /// assert!(w.requires_grad());
    /// ```
    #[track_caller]
    pub fn requires_grad_(self) -> Tensor {
        if let Err(e) = self.set_requires_grad(true) {
            panic!("{e}");
        }
        self
    }
    /// A tensor sharing storage with this one but cut from the graph (no gradient flows
    /// back through it).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([3], DType::F64).requires_grad_();
    /// let d = w.exp().unwrap().detach();
    /// assert!(!d.requires_grad() && d.is_leaf());
    /// ```
    pub fn detach(&self) -> Tensor {
        if !self.requires_grad() && self.is_leaf() {
            return self.clone();
        }
        Tensor::from_parts(self.0.storage.clone(), self.0.layout.clone(), None)
    }

    /// The accumulated gradient of a leaf (or of a tensor that called
    /// [`retain_grad`](Tensor::retain_grad)), if any backward has reached it.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([2], DType::F64).requires_grad_();
    /// assert!(w.grad().is_none());
    /// w.sum_all().unwrap().backward().unwrap();
    /// assert_eq!(w.grad().unwrap().to_vec::<f64>().unwrap(), vec![1.0, 1.0]);
    /// ```
    pub fn grad(&self) -> Option<Tensor> {
        self.grad_state().grad.clone()
    }
    /// Clears the accumulated gradient (the next backward starts from zero).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([2], DType::F64).requires_grad_();
    /// w.sum_all().unwrap().backward().unwrap();
    /// w.zero_grad();
    /// assert!(w.grad().is_none());
    /// ```
    pub fn zero_grad(&self) {
        self.grad_state().grad = None;
    }
    /// Replaces the accumulated gradient (e.g. after clipping or an all-reduce).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([2], DType::F64).requires_grad_();
    /// w.set_grad(Some(Tensor::zeros([2], DType::F64)));
    /// assert_eq!(w.grad().unwrap().to_vec::<f64>().unwrap(), vec![0.0, 0.0]);
    /// ```
    pub fn set_grad(&self, grad: Option<Tensor>) {
        self.grad_state().grad = grad;
    }
    /// Asks backward to also store the gradient of this non-leaf in [`grad`](Tensor::grad).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([2], DType::F64).requires_grad_();
    /// let h = w.mul_scalar(3.0).unwrap();
    /// h.retain_grad();
    /// h.sum_all().unwrap().backward().unwrap();
    /// assert_eq!(h.grad().unwrap().to_vec::<f64>().unwrap(), vec![1.0, 1.0]);
    /// ```
    pub fn retain_grad(&self) {
        self.grad_state().retain = true;
    }

    /// Copies the elements, in row-major order, into a `Vec<T>`; `T` must match the dtype.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
    /// assert_eq!(t.t().unwrap().to_vec::<f32>().unwrap(), vec![1.0, 3.0, 2.0, 4.0]);
    /// assert!(t.to_vec::<f64>().is_err());
    /// ```
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(TensorError::DTypeMismatch {
                op: "to_vec",
                lhs: self.dtype(),
                rhs: T::DTYPE,
            });
        }
        let data = self.read();
        let StorageData::Cpu(cpu) = &*data;
        let slice = cpu.as_slice::<T>().expect("dtype checked above");
        Ok(backend::cpu::strided::map(slice, self.layout(), |v| v))
    }
    /// The elements converted to `f64`, whatever the dtype.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::ones([2], DType::F32).to_vec_f64(), vec![1.0, 1.0]);
    /// ```
    pub fn to_vec_f64(&self) -> Vec<f64> {
        let data = backend::cast(&self.read(), self.layout(), DType::F64);
        let StorageData::Cpu(super::backend::cpu::CpuStorage::F64(v)) = data else {
            unreachable!("cast to f64 yields f64")
        };
        v
    }
    /// The value of a one-element tensor as `f64`.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::full([1, 1], 2.5, DType::F32).item().unwrap(), 2.5);
    /// assert!(Tensor::ones([2], DType::F32).item().is_err());
    /// ```
    pub fn item(&self) -> Result<f64> {
        if self.elem_count() != 1 {
            return Err(invalid(
                "item",
                format!("needs exactly one element, the shape is {}", self.shape()),
            ));
        }
        Ok(self.to_vec_f64()[0])
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor[{} {}", self.shape(), self.dtype())?;
        if let Some(n) = self.node() {
            write!(f, ", op={}", n.name)?;
        } else if self.requires_grad() {
            write!(f, ", requires_grad")?;
        }
        let vals = self.to_vec_f64();
        const SHOWN: usize = 8;
        write!(f, "] {:?}", &vals[..vals.len().min(SHOWN)])?;
        if vals.len() > SHOWN {
            write!(f, "..")?;
        }
        Ok(())
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::backend::cpu::CpuStorage;

    fn storage(n: usize) -> Arc<Storage> {
        Arc::new(Storage::new(StorageData::Cpu(CpuStorage::F32(vec![
            0.0;
            n
        ]))))
    }

    /// No tensor can be made whose layout reaches outside its storage: a kernel reading
    /// it through raw pointers would read out of bounds.
    #[test]
    #[should_panic(expected = "does not fit a storage of 6 elements")]
    fn a_layout_outside_its_storage_is_refused() {
        let layout = Layout {
            dims: vec![64, (1 << 58) + 1],
            strides: vec![(1 << 58) + 1, 1],
            offset: 0,
        };
        Tensor::from_parts(storage(6), layout, None);
    }

    #[test]
    #[should_panic(expected = "does not fit a storage of 5 elements")]
    fn data_shorter_than_its_shape_is_refused() {
        let data = StorageData::Cpu(CpuStorage::F32(vec![0.0; 5]));
        Tensor::from_data(data, vec![2, 3]);
    }

    #[test]
    fn views_of_a_storage_are_accepted() {
        let t = Tensor::from_parts(
            storage(6),
            Layout::contiguous("t", vec![2, 3]).unwrap(),
            None,
        );
        assert_eq!(
            t.narrow(1, 1, 2).unwrap().to_vec::<f32>().unwrap(),
            vec![0.0; 4]
        );
        let empty = Layout {
            dims: vec![0, 3],
            strides: vec![3, 1],
            offset: 9,
        };
        assert_eq!(Tensor::from_parts(storage(6), empty, None).elem_count(), 0);
    }
}
