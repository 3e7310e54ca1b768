"""NumPy side of the tensor-engine comparison: f32 matmul 1024^3 and elementwise/reduction
bandwidth, with BLAS threads limited to --threads (threadpoolctl). Same cases as
`cargo bench -p retrograd --bench peer_tensor`.

Usage: python numpy_peer.py --threads N [--quick] [matmul] [elementwise]"""
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from peercommon import args, emit, reps, timeit

threads, quick, groups = args()
want = lambda g: not groups or g in groups  # noqa: E731

with threadpool_limits(limits=threads):
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    kernel = ",".join(f"{i['internal_api']}-{i.get('version')}-{i.get('architecture')}" for i in blas)
    nthreads = ",".join(str(i["num_threads"]) for i in blas)
    print(f"numpy {np.__version__} blas={kernel} blas_threads={nthreads}", flush=True)

    if want("matmul"):
        n = 1024
        rng = np.random.default_rng(1)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        med, mn = timeit(lambda: a @ b, reps(quick, 15), warm=2)
        flop = 2.0 * n ** 3
        emit("matmul_f32_1024", "numpy", threads, flop / med / 1e9, "GFLOP/s",
             med_ms=med * 1e3, best_gflops=flop / mn / 1e9, kernel=kernel)

    if want("elementwise"):
        # NumPy's elementwise ufuncs and reductions run on one thread whatever --threads says.
        for log2 in (22, 26):
            n = 1 << log2
            rng = np.random.default_rng(2)
            a = rng.uniform(-1, 1, n).astype(np.float32)
            b = rng.uniform(-1, 1, n).astype(np.float32)
            r = reps(quick, 11 if log2 > 24 else 41)
            out = np.empty_like(a)
            cases = (
                ("add", 12, lambda: np.add(a, b)),
                ("exp", 8, lambda: np.exp(a)),
                ("sum", 4, lambda: a.sum()),
            )
            # Rounding error of the f32 sum, relative to sum |a_i| (reference accumulated in f64).
            a64 = a.astype(np.float64)
            err = abs(float(a.sum()) - a64.sum()) / np.abs(a64).sum()
            for name, nbytes, fn in cases:
                med, _ = timeit(fn, r, warm=2)
                extra = {"sum_error": f"{err:.2e}"} if name == "sum" else {}
                emit(f"{name}_f32_2^{log2}", "numpy", threads, nbytes * n / med / 1e9, "GB/s", med_ms=med * 1e3, **extra)
            # Into a preallocated output: the kernel without the page faults of a new array.
            med, _ = timeit(lambda: np.add(a, b, out=out), r, warm=2)
            emit(f"add_f32_2^{log2}", "numpy-out", threads, 12 * n / med / 1e9, "GB/s", med_ms=med * 1e3)
