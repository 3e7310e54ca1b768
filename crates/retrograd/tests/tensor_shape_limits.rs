//! Property tests of shapes near the limits of `usize`: random ranks and sizes that include
//! 0, 1, small sizes and huge ones (2³², 2⁵⁸ + 1, `Shape::MAX_ELEMS`, `isize::MAX`,
//! `usize::MAX`, ...), through every constructor, view op, join, padding and window.
//!
//! Each result is compared with the definition computed in `u128`: either the op refuses
//! cleanly (an error, or for the constructors that return a `Tensor` their documented
//! panic, naming the op), or it gives a tensor whose element count is the true product and
//! that allocates what it holds and no more: a view allocates nothing, a new tensor
//! exactly its elements. Tensors are only materialised when the true count is at most
//! `BOUND`, so the tests never ask for memory they cannot have.
//!
//! The tests of this file hold one lock, so that the storage-byte counter they read sees
//! only their own allocations.

use proptest::prelude::*;
use retrograd::tensor::{live_storage_bytes, Conv2dOptions, DType, Rng, Shape, Tensor};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};

/// The most elements a test materialises.
const BOUND: u128 = 1 << 12;
const MAX: u128 = Shape::MAX_ELEMS as u128;

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// By the definition: the element count of `dims`, if a tensor of that shape can be laid
/// out (its sizes, 0 counted as 1, multiply to at most `Shape::MAX_ELEMS`).
fn count(dims: &[usize]) -> Option<u128> {
    let mut extent = 1u128;
    for &d in dims {
        extent = extent.saturating_mul(d.max(1) as u128);
    }
    (extent <= MAX).then(|| if dims.contains(&0) { 0 } else { extent })
}

fn sizes() -> Vec<usize> {
    let m = Shape::MAX_ELEMS;
    let i = isize::MAX as usize;
    vec![
        1 << 32,
        (1 << 32) - 1,
        (1 << 32) + 1,
        1 << 40,
        1 << 58,
        (1 << 58) + 1,
        1 << 59,
        m - 1,
        m,
        m + 1,
        1 << 62,
        i,
        i + 1,
        usize::MAX - 1,
        usize::MAX,
    ]
}

/// A size: mostly small (0 and 1 often), sometimes huge, sometimes anything.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..5,
        2 => Just(1usize),
        3 => prop::sample::select(sizes()),
        1 => any::<usize>(),
    ]
}

fn dims() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim(), 0..6)
}

/// The message of the panic `f` raises, if it panics.
fn panic_message<R>(f: impl FnOnce() -> R) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    })
}

/// Whether `msg` starts with `op` and names the shape `dims`.
fn names(msg: &str, op: &str, dims: &[usize]) -> bool {
    msg.starts_with(op) && msg.contains(&format!("{dims:?}"))
}

/// Runs `make` and returns what it made and the storage bytes it left allocated.
fn measured<R>(make: impl FnOnce() -> R) -> (R, i128) {
    let before = live_storage_bytes() as i128;
    let r = make();
    (r, live_storage_bytes() as i128 - before)
}

/// A view op under test: its name (as errors give it), the op, and the dims it must give
/// (`None`: it must refuse).
type ViewOp<'a> = (
    &'static str,
    Box<dyn Fn() -> retrograd::tensor::Result<Tensor> + 'a>,
    Option<Vec<usize>>,
);

/// A view of one element broadcast to `dims`, which must be allowed.
fn broadcast(dims: &[usize]) -> Tensor {
    let one = Tensor::ones(vec![1; dims.len()], DType::F32);
    one.broadcast_to(dims).unwrap()
}

proptest! {
    #[test]
    fn shape_counts_are_the_true_product(d in dims()) {
        let s = Shape::from(d.clone());
        let want = count(&d);
        prop_assert_eq!(s.checked_elem_count().map(|n| n as u128), want);
        let saturated = if d.contains(&0) { 0 } else {
            d.iter().fold(1u128, |a, &x| a.saturating_mul(x as u128)).min(usize::MAX as u128)
        };
        prop_assert_eq!(s.elem_count() as u128, saturated);
    }

    /// `zeros`, `ones`, `full`, `rand`, `randn` (which panic) and `from_vec` (which errs).
    #[test]
    fn constructors_allocate_their_elements_or_refuse(d in dims(), which in 0usize..5) {
        let _g = lock();
        let (op, dtype): (&str, DType) = [
            ("zeros", DType::F32),
            ("ones", DType::F64),
            ("full", DType::I64),
            ("rand", DType::F32),
            ("randn", DType::F64),
        ][which];
        let make = || -> Tensor {
            let d = d.clone();
            match which {
                0 => Tensor::zeros(d, dtype),
                1 => Tensor::ones(d, dtype),
                2 => Tensor::full(d, 3.0, dtype),
                3 => Tensor::rand(d, 0.0, 1.0, dtype, &mut Rng::new(1)),
                _ => Tensor::randn(d, 0.0, 1.0, dtype, &mut Rng::new(1)),
            }
        };
        match count(&d) {
            None => {
                let msg = panic_message(make);
                prop_assert!(msg.as_deref().is_some_and(|m| names(m, op, &d)), "{:?}", msg);
                let err = Tensor::from_vec(vec![0.0f32; 3], d.clone()).unwrap_err().to_string();
                prop_assert!(names(&err, "from_vec", &d), "{}", err);
            }
            Some(n) if n <= BOUND => {
                let (t, bytes) = measured(make);
                prop_assert_eq!(t.dims(), d.as_slice());
                prop_assert_eq!(t.elem_count() as u128, n);
                prop_assert_eq!(bytes, (n * dtype.size_in_bytes() as u128) as i128);
                let (v, bytes) = measured(|| Tensor::from_vec(vec![1i64; n as usize], d.clone()));
                prop_assert_eq!(v.unwrap().elem_count() as u128, n);
                prop_assert_eq!(bytes, (n * 8) as i128);
                let err = Tensor::from_vec(vec![1i64; n as usize + 1], d.clone()).unwrap_err();
                prop_assert!(names(&err.to_string(), "from_vec", &d));
            }
            // Allowed, but more than this test materialises: a wrong length is still an
            // error, found without allocating.
            Some(_) => {
                let err = Tensor::from_vec(vec![0.0f32; 3], d.clone()).unwrap_err();
                prop_assert!(names(&err.to_string(), "from_vec", &d));
            }
        }
    }

    /// `eye`, `linspace` and `arange` with sizes of any magnitude.
    #[test]
    fn sized_constructors_check_their_size(n in dim(), end in prop::sample::select(vec![
        0.0, 3.0, 1e9, 1e18, 1.2e18, 1e19, 1e300, f64::MAX,
    ])) {
        let _g = lock();
        match count(&[n, n]) {
            None => {
                let msg = panic_message(|| Tensor::eye(n, DType::F32));
                prop_assert!(msg.as_deref().is_some_and(|m| names(m, "eye", &[n, n])), "{:?}", msg);
            }
            Some(c) if c <= BOUND => {
                let (t, bytes) = measured(|| Tensor::eye(n, DType::F32));
                prop_assert_eq!(t.dims(), &[n, n]);
                prop_assert_eq!(bytes, (c * 4) as i128);
            }
            Some(_) => {}
        }
        match count(&[n]) {
            None => {
                let msg = panic_message(|| Tensor::linspace(0.0, 1.0, n, DType::F64));
                prop_assert!(msg.as_deref().is_some_and(|m| names(m, "linspace", &[n])), "{:?}", msg);
            }
            Some(c) if c <= BOUND => {
                let t = Tensor::linspace(0.0, 1.0, n, DType::F64);
                prop_assert_eq!(t.dims(), &[n]);
            }
            Some(_) => {}
        }
        // ceil(end / 1) values; the float-to-integer conversion saturates.
        let len = end.ceil() as usize;
        match count(&[len]) {
            None => {
                let e = Tensor::arange(0.0, end, 1.0, DType::F64).unwrap_err().to_string();
                prop_assert!(names(&e, "arange", &[len]), "{}", e);
            }
            Some(c) if c <= BOUND => {
                let t = Tensor::arange(0.0, end, 1.0, DType::F64).unwrap();
                prop_assert_eq!(t.elem_count() as u128, c);
            }
            Some(_) => {}
        }
    }

    /// A small contiguous tensor reshaped to any shape: accepted exactly when the true
    /// count equals its own, including targets whose product wraps around to it.
    #[test]
    fn reshape_accepts_exactly_its_count(k in 0u32..8, d in dims(), wrap in any::<bool>(), at in 0usize..3) {
        let _g = lock();
        let n = 1usize << k;
        let t = Tensor::zeros([n], DType::F32);
        let mut target = d;
        if wrap {
            // n · (2^(64-k) + 1) = 2^64 + n, which wraps to n.
            let f = (1usize << (63 - k)).wrapping_mul(2).wrapping_add(1);
            let at = at.min(target.len());
            target.insert(at, f);
            target.insert(0, n);
        }
        let (r, bytes) = measured(|| t.reshape(target.clone()));
        prop_assert_eq!(bytes, 0);
        match (count(&target), r) {
            (Some(c), Ok(v)) if c == n as u128 => {
                prop_assert_eq!(v.dims(), target.as_slice());
                prop_assert!(v.shares_storage(&t));
            }
            (c, Err(e)) if c != Some(n as u128) => {
                prop_assert!(names(&e.to_string(), "reshape", &target), "{}", e);
            }
            (c, r) => prop_assert!(false, "{:?}: count {:?}, got {:?}", target, c, r.map(|v| v.shape())),
        }
    }

    /// Broadcast views of any shape, and the views of views (permute, transpose,
    /// unsqueeze, squeeze, narrow, slice, select, expand): checked, never allocating,
    /// with the true element count; readable element by element when small.
    #[test]
    fn views_are_checked_and_allocate_nothing(
        d in dims(), axis in 0usize..6, start in dim(), len in dim(), extra in dim(),
    ) {
        let _g = lock();
        let one = Tensor::ones(vec![1; d.len()], DType::F32);
        let (r, bytes) = measured(|| one.broadcast_to(d.clone()));
        prop_assert_eq!(bytes, 0);
        let Some(n) = count(&d) else {
            let e = r.unwrap_err().to_string();
            prop_assert!(names(&e, "broadcast_to", &d), "{}", e);
            return Ok(());
        };
        let v = r.unwrap();
        prop_assert_eq!(v.elem_count() as u128, n);
        prop_assert!(v.shares_storage(&one));
        let rank = d.len();
        let v = &v;
        let mut view_ops: Vec<ViewOp> = Vec::new();
        let rev: Vec<usize> = (0..rank).rev().collect();
        let rd: Vec<usize> = d.iter().rev().copied().collect();
        view_ops.push(("permute", Box::new(move || v.permute(&rev)), Some(rd)));
        let mut u = d.clone();
        let ua = axis.min(rank);
        u.insert(ua, 1);
        view_ops.push(("unsqueeze", Box::new(move || v.unsqueeze(ua as isize)), Some(u)));
        if rank > 0 {
            let a = axis % rank;
            let size = d[a];
            let mut t = d.clone();
            t.swap(0, a);
            view_ops.push(("transpose", Box::new(move || v.transpose(0, a as isize)), Some(t)));
            let fits = start.checked_add(len).is_some_and(|e| e <= size);
            let mut nd = d.clone();
            nd[a] = len;
            view_ops.push(("narrow", Box::new(move || v.narrow(a as isize, start, len)), fits.then_some(nd.clone())));
            let range = start..start.saturating_add(len);
            view_ops.push(("narrow", Box::new(move || v.slice(a as isize, range.clone())), fits.then_some(nd)));
            let mut sd = d.clone();
            sd.remove(a);
            view_ops.push(("select", Box::new(move || v.select(a as isize, start)), (start < size).then_some(sd.clone())));
            view_ops.push(("squeeze", Box::new(move || v.squeeze(a as isize)), (size == 1).then_some(sd)));
        }
        let mut e = vec![extra];
        e.extend_from_slice(&d);
        let want = count(&e).is_some().then(|| e.clone());
        view_ops.push(("broadcast_to", Box::new(move || v.expand(e.clone())), want));
        for (op, f, want) in &view_ops {
            let (r, bytes) = measured(f);
            prop_assert_eq!(bytes, 0, "{} allocated", op);
            match (want, r) {
                (Some(want), Ok(t)) => {
                    prop_assert_eq!(t.dims(), want.as_slice(), "{}", op);
                    let c = count(want).expect("a view of a view fits");
                    prop_assert_eq!(t.elem_count() as u128, c, "{}", op);
                    prop_assert!(t.shares_storage(&one));
                    if c <= BOUND {
                        // A copy allocates exactly its elements, all ones.
                        let (copy, bytes) = measured(|| t.contiguous().unwrap());
                        let want = if t.is_contiguous() { 0 } else { (c * 4) as i128 };
                        prop_assert_eq!(bytes, want, "{}", op);
                        let vals = copy.to_vec::<f32>().unwrap();
                        prop_assert!(vals.iter().all(|&x| x == 1.0) && vals.len() as u128 == c);
                    }
                }
                (None, Err(e)) => {
                    let e = e.to_string();
                    prop_assert!(e.starts_with(op), "{}: {}", op, e);
                }
                (want, got) => prop_assert!(false, "{} of {:?}: {:?} vs {:?}", op, d, want, got.map(|t| t.shape())),
            }
        }
    }

    /// `cat` and `stack` of views, and `pad_axis`: refused when the result cannot be laid
    /// out (or its axis overflows), else of the true size, allocating exactly it.
    #[test]
    fn joins_and_padding_are_checked(
        d in prop::collection::vec(dim(), 1..4), axis in 0usize..4, parts in 1usize..40,
        before in dim(), after in dim(),
    ) {
        let _g = lock();
        if count(&d).is_none() {
            return Ok(()); // no such view (see `views_are_checked_and_allocate_nothing`)
        }
        let a = axis % d.len();
        let v = broadcast(&d);
        let views = vec![v.clone(); parts];
        let total = d[a] as u128 * parts as u128;
        let mut joined = d.clone();
        let want = (total <= usize::MAX as u128).then(|| {
            joined[a] = total as usize;
            count(&joined)
        }).flatten();
        match want {
            None => {
                let e = Tensor::cat(&views, a as isize).unwrap_err().to_string();
                prop_assert!(e.starts_with("cat"), "{}", e);
            }
            Some(c) if c <= BOUND => {
                let (t, bytes) = measured(|| Tensor::cat(&views, a as isize).unwrap());
                prop_assert_eq!(t.dims(), joined.as_slice());
                prop_assert_eq!(bytes, (c * 4) as i128);
            }
            Some(_) => {}
        }
        let mut stacked = d.clone();
        stacked.insert(a, parts);
        match count(&stacked) {
            None => {
                let e = Tensor::stack(&views, a as isize).unwrap_err().to_string();
                prop_assert!(e.starts_with("cat") || e.starts_with("stack"), "{}", e);
            }
            Some(c) if c <= BOUND => {
                let (t, bytes) = measured(|| Tensor::stack(&views, a as isize).unwrap());
                prop_assert_eq!(t.dims(), stacked.as_slice());
                prop_assert_eq!(bytes, (c * 4) as i128);
            }
            Some(_) => {}
        }
        let padded = d[a] as u128 + before as u128 + after as u128;
        let mut pd = d.clone();
        let want = (padded <= usize::MAX as u128).then(|| {
            pd[a] = padded as usize;
            count(&pd)
        }).flatten();
        match want {
            None => {
                let e = v.pad_axis(a, before, after).unwrap_err().to_string();
                prop_assert!(e.starts_with("pad_axis"), "{}", e);
            }
            Some(c) if c <= BOUND => {
                let (t, bytes) = measured(|| v.pad_axis(a, before, after).unwrap());
                prop_assert_eq!(t.dims(), pd.as_slice());
                prop_assert_eq!(bytes, (c * 4) as i128);
            }
            Some(_) => {}
        }
    }

    /// The output sizes of windows (unfold, pooling, convolution) from kernels, strides,
    /// paddings and dilations of any size.
    #[test]
    fn window_sizes_are_checked(
        (h, w) in (1usize..7, 1usize..7), k in (dim(), dim()), s in (dim(), dim()),
        p in (dim(), dim()), dl in (dim(), dim()),
    ) {
        let _g = lock();
        let x = Tensor::ones([2, 1, h, w], DType::F32);
        // The definition, in u128: `None` when no window fits or the sizes do not fit.
        let out = |i: usize, k: usize, s: usize, p: usize, d: usize| -> Option<u128> {
            let span = d as u128 * (k as u128).checked_sub(1)? + 1;
            let padded = i as u128 + 2 * p as u128;
            (s > 0 && d > 0 && padded >= span && padded <= isize::MAX as u128)
                .then(|| (padded - span) / s as u128 + 1)
        };
        let geometry = |k: (usize, usize), s: (usize, usize), p: (usize, usize), d: (usize, usize)| -> Option<(usize, usize)> {
            let ho = out(h, k.0, s.0, p.0, d.0)?;
            let wo = out(w, k.1, s.1, p.1, d.1)?;
            let (ho, wo) = (usize::try_from(ho).ok()?, usize::try_from(wo).ok()?);
            count(&[2, 1, k.0, k.1, ho, wo])?;
            Some((ho, wo))
        };
        let small = |dims: &[usize]| count(dims).is_some_and(|c| c <= BOUND);
        // unfold2d: (N, C·kh·kw, ho·wo).
        match geometry(k, s, p, dl) {
            None => {
                let e = x.unfold2d(k, s, p, dl).unwrap_err().to_string();
                prop_assert!(names(&e, "unfold2d", &[2, 1, h, w]), "{}", e);
            }
            Some((ho, wo)) if small(&[2, k.0, k.1, ho, wo]) => {
                let (t, bytes) = measured(|| x.unfold2d(k, s, p, dl).unwrap());
                prop_assert_eq!(t.dims(), &[2, k.0 * k.1, ho * wo]);
                prop_assert_eq!(bytes, (t.elem_count() * 4) as i128);
            }
            Some(_) => {}
        }
        // Pooling (dilation 1), whose padding is at most half the kernel for max.
        let pooled = geometry(k, s, p, (1, 1));
        let half = p.0 <= k.0 / 2 && p.1 <= k.1 / 2;
        match pooled {
            Some((ho, wo)) if small(&[2, k.0, k.1, ho, wo]) => {
                let y = x.avg_pool2d(k, s, p).unwrap();
                prop_assert_eq!(y.dims(), &[2, 1, ho, wo]);
                match x.max_pool2d(k, s, p) {
                    Ok(y) => prop_assert!(half && y.dims() == [2, 1, ho, wo]),
                    Err(e) => prop_assert!(!half && e.to_string().starts_with("max_pool2d")),
                }
            }
            Some(_) => {}
            None => {
                let e = x.avg_pool2d(k, s, p).unwrap_err().to_string();
                prop_assert!(names(&e, "avg_pool2d", &[2, 1, h, w]), "{}", e);
                let e = x.max_pool2d(k, s, p).unwrap_err().to_string();
                prop_assert!(e.starts_with("max_pool2d"), "{}", e);
            }
        }
        // Convolution with a small kernel and the given stride, padding and dilation.
        let kc = (k.0 % 3 + 1, k.1 % 3 + 1);
        let weight = Tensor::ones([3, 1, kc.0, kc.1], DType::F32);
        let opts = Conv2dOptions { stride: s, padding: p, dilation: dl, groups: 1 };
        match geometry(kc, s, p, dl) {
            None => {
                let e = x.conv2d(&weight, None, opts).unwrap_err().to_string();
                prop_assert!(names(&e, "conv2d", &[2, 1, h, w]), "{}", e);
            }
            Some((ho, wo)) if small(&[2, 3, kc.0, kc.1, ho, wo]) => {
                let y = x.conv2d(&weight, None, opts).unwrap();
                prop_assert_eq!(y.dims(), &[2, 3, ho, wo]);
            }
            Some(_) => {}
        }
    }
}
