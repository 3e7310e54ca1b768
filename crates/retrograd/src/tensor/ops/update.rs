//! In-place writes, for optimizers and initialisers. Each bumps the storage version, so a
//! tensor that a recorded op saved for backward cannot be silently changed: backward then
//! fails with an error naming that op. Writing to a tensor that requires grad is only
//! allowed with recording off (inside [`no_grad`](crate::tensor::autograd::no_grad)).

use crate::tensor::autograd::{is_grad_enabled, no_grad};
use crate::tensor::backend::{self, cpu::CpuStorage};
use crate::tensor::error::{invalid, Result, TensorError};
use crate::tensor::shape::broadcast_layout;
use crate::tensor::storage::StorageData;
use crate::tensor::{Element, Tensor};

impl Tensor {
    fn check_writable(&self, op: &'static str) -> Result<()> {
        if self.requires_grad() && is_grad_enabled() {
            return Err(invalid(
                op,
                "in-place write to a tensor that requires grad while recording; \
                 wrap the update in no_grad(|| ...)",
            ));
        }
        Ok(())
    }

    /// Overwrites the elements with `src` (broadcast to this shape, converted to this dtype).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2, 2], DType::F32);
    /// t.assign_(&Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap()).unwrap();
    /// assert_eq!(t.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 1.0, 2.0]);
    /// ```
    pub fn assign_(&self, src: &Tensor) -> Result<()> {
        self.check_writable("assign_")?;
        let src = no_grad(|| -> Result<Tensor> {
            let s = src.to_dtype(self.dtype())?;
            // Reading and writing one storage: take a private copy of the source first.
            if s.shares_storage(self) {
                s.copy()
            } else {
                Ok(s)
            }
        })?;
        let ls = broadcast_layout("assign_", src.layout(), self.dims())?;
        let s = src.read();
        backend::assign(&mut self.storage().write(), self.layout(), &s, &ls);
        Ok(())
    }

    /// Sets every element to `value`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([3], DType::F64);
    /// t.fill_(0.5).unwrap();
    /// assert_eq!(t.to_vec::<f64>().unwrap(), vec![0.5; 3]);
    /// ```
    pub fn fill_(&self, value: f64) -> Result<()> {
        self.assign_(&Tensor::full((), value, self.dtype()))
    }

    /// Sets every element to zero.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::ones([3], DType::F64);
    /// t.zero_().unwrap();
    /// assert_eq!(t.to_vec::<f64>().unwrap(), vec![0.0; 3]);
    /// ```
    pub fn zero_(&self) -> Result<()> {
        self.fill_(0.0)
    }

    /// `self += alpha · other` in place (`other` broadcast) — the SGD step
    /// `w.add_scaled_(&grad, -lr)`. No allocation when both are contiguous and alike.
    ///
    /// ```
    /// use retrograd::tensor::{autograd::no_grad, DType, Tensor};
    /// let w = Tensor::ones([2], DType::F32).requires_grad_();
    /// w.sum_all().unwrap().backward().unwrap();
    /// let g = w.grad().unwrap();
    /// no_grad(|| w.add_scaled_(&g, -0.1)).unwrap();
    /// assert_eq!(w.to_vec::<f32>().unwrap(), vec![0.9, 0.9]);
    /// ```
    pub fn add_scaled_(&self, other: &Tensor, alpha: f64) -> Result<()> {
        self.check_writable("add_scaled_")?;
        let fast = self.dims() == other.dims()
            && self.dtype() == other.dtype()
            && self.is_contiguous()
            && other.is_contiguous()
            && !self.shares_storage(other);
        if !fast {
            let new = no_grad(|| self.add(&other.to_dtype(self.dtype())?.mul_scalar(alpha)?))?;
            return self.assign_(&new);
        }
        let src = other.read();
        let mut dst = self.storage().write();
        let (StorageData::Cpu(d), StorageData::Cpu(s)) = (&mut *dst, &*src);
        let (rd, rs) = (
            self.layout().contiguous_range().unwrap(),
            other.layout().contiguous_range().unwrap(),
        );
        match (d, s) {
            (CpuStorage::F32(d), CpuStorage::F32(s)) => {
                let a = alpha as f32;
                d[rd].iter_mut().zip(&s[rs]).for_each(|(x, &y)| *x += a * y);
            }
            (CpuStorage::F64(d), CpuStorage::F64(s)) => {
                d[rd]
                    .iter_mut()
                    .zip(&s[rs])
                    .for_each(|(x, &y)| *x += alpha * y);
            }
            (CpuStorage::I64(d), CpuStorage::I64(s)) => {
                let a = alpha as i64;
                d[rd].iter_mut().zip(&s[rs]).for_each(|(x, &y)| *x += a * y);
            }
            // 16-bit floats: computed in f32, rounded once.
            (CpuStorage::BF16(d), CpuStorage::BF16(s)) => {
                let a = alpha as f32;
                d[rd]
                    .iter_mut()
                    .zip(&s[rs])
                    .for_each(|(x, &y)| *x = half::bf16::from_f32(x.to_f32() + a * y.to_f32()));
            }
            (CpuStorage::F16(d), CpuStorage::F16(s)) => {
                let a = alpha as f32;
                d[rd]
                    .iter_mut()
                    .zip(&s[rs])
                    .for_each(|(x, &y)| *x = half::f16::from_f32(x.to_f32() + a * y.to_f32()));
            }
            _ => unreachable!("dtypes checked above"),
        }
        Ok(())
    }

    /// Runs `f` on the elements as a mutable slice, for custom update rules (Adam, ...).
    /// The tensor must be contiguous and `T` must match its dtype.
    ///
    /// # Panics
    /// If `f` reads or writes this tensor, or a view sharing its storage: the update holds
    /// the storage's lock while `f` runs, so that access could never be granted. (Read what
    /// `f` needs first.)
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::ones([3], DType::F32);
    /// t.update_(|w: &mut [f32]| w.iter_mut().for_each(|v| *v *= 3.0)).unwrap();
    /// assert_eq!(t.to_vec::<f32>().unwrap(), vec![3.0; 3]);
    /// ```
    pub fn update_<T: Element, R>(&self, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
        self.check_writable("update_")?;
        if T::DTYPE != self.dtype() {
            return Err(TensorError::DTypeMismatch {
                op: "update_",
                lhs: self.dtype(),
                rhs: T::DTYPE,
            });
        }
        let range = self
            .layout()
            .contiguous_range()
            .ok_or_else(|| invalid("update_", "needs a contiguous tensor"))?;
        let storage = self.storage();
        let mut guard = storage.write();
        // Dropped before the guard: the loan ends with the lock, also when `f` panics.
        let _loan = storage.lend("update_");
        let StorageData::Cpu(cpu) = &mut *guard;
        let slice = cpu.as_mut_slice::<T>().expect("dtype checked above");
        Ok(f(&mut slice[range]))
    }

    /// Runs `f` on the elements as a slice without copying (contiguous tensors), or on a
    /// row-major copy otherwise.
    ///
    /// # Panics
    /// If `f` writes to this tensor (or a view sharing its storage) while it reads the
    /// elements in place: that write could never be granted.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let s: f32 = Tensor::ones([4], DType::F32).with_data(|v: &[f32]| v.iter().sum()).unwrap();
    /// assert_eq!(s, 4.0);
    /// ```
    pub fn with_data<T: Element, R>(&self, f: impl FnOnce(&[T]) -> R) -> Result<R> {
        if T::DTYPE != self.dtype() {
            return Err(TensorError::DTypeMismatch {
                op: "with_data",
                lhs: self.dtype(),
                rhs: T::DTYPE,
            });
        }
        match self.layout().contiguous_range() {
            Some(r) => {
                let guard = self.read();
                let _loan = self.storage().lend("with_data");
                let StorageData::Cpu(cpu) = &*guard;
                Ok(f(&cpu.as_slice::<T>().expect("dtype checked above")[r]))
            }
            None => Ok(f(&self.to_vec::<T>()?)),
        }
    }
}
