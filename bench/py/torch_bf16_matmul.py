"""PyTorch's side of `cargo bench -p retrograd --bench lowp_gemm`: square bf16 and f32
matrix products on one thread, printed as `LOWP kernel=<name> n=<n> gflops=<median>`.

Usage: $PEER_ENV/bin/python bench/py/torch_bf16_matmul.py [--quick] [SIZE ...]
(the interpreter of the environment bench/compare.sh sets up)."""
import sys
import time

import torch

args = sys.argv[1:]
quick = "--quick" in args
sizes = [int(a) for a in args if a.isdigit()] or ([256] if quick else [256, 512, 1024, 2048])
budget = 0.1 if quick else 1.0
torch.set_num_threads(1)
torch.set_num_interop_threads(1)
print(f"torch {torch.__version__} threads={torch.get_num_threads()}", flush=True)


def median_secs(f):
    """Median seconds of f over about `budget` seconds of repetitions (at least 5),
    after one untimed call; the same rule as the Rust bench."""
    f()
    t0 = time.perf_counter()
    f()
    once = time.perf_counter() - t0
    reps = min(max(int(budget / once), 5), 200)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


for n in sizes:
    i = torch.arange(n * n, dtype=torch.float64)
    af = (((i * 7919) % 1000) / 500.0 - 1.0).reshape(n, n).float()
    bf = (((i * 104729) % 1000) / 500.0 - 1.0).reshape(n, n).float()
    flops = 2.0 * n**3
    for name, a, b in (("torch-bf16", af.bfloat16(), bf.bfloat16()), ("torch-f32", af, bf)):
        out = torch.empty(n, n, dtype=a.dtype)
        s = median_secs(lambda: torch.matmul(a, b, out=out))
        print(f"LOWP kernel={name} n={n} gflops={flops / s / 1e9:.1f}", flush=True)
