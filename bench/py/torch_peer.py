"""PyTorch (CPU, eager) side of the comparison: (1) vectorised f1/f2 primal and gradient in
float64, (2) f32 matmul, elementwise bandwidth, conv2d and MLP SGD steps. Same cases and
definitions as `cargo bench -p retrograd --bench peer_scalar` / `--bench peer_tensor`.

Usage: python torch_peer.py --threads N [--quick] [scalar] [matmul] [elementwise] [conv] [mlp]"""
import torch
import torch.nn.functional as F

from peercommon import args, emit, reps, timeit

threads, quick, groups = args()
want = lambda g: not groups or g in groups  # noqa: E731
torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
torch.manual_seed(0)
print(f"torch {torch.__version__} threads={torch.get_num_threads()}", flush=True)
T = torch.get_num_threads()


def f1(x):
    return torch.sum(torch.sin(x) * x * x + torch.exp(-x))


def f2(x):
    a, b = x[0::2], x[1::2]
    return torch.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)


if want("scalar"):
    for name, f, n, r in (("scalar_f1", f1, 1_000_000, 15), ("scalar_f2", f2, 100_000, 101)):
        x0 = 0.5 + 0.4 * torch.sin(0.001 * torch.arange(n, dtype=torch.float64))
        xr = x0.clone().requires_grad_(True)

        def primal():
            with torch.no_grad():
                return f(x0).item()

        def grad():
            (g,) = torch.autograd.grad(f(xr), xr)
            return g

        p = timeit(primal, reps(quick, r))[0]
        g = timeit(grad, reps(quick, r))[0]
        emit(name, "torch-vectorised", T, g / p, "ratio", primal_ms=p * 1e3, grad_ms=g * 1e3)

if want("matmul"):
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    med, mn = timeit(lambda: a @ b, reps(quick, 15), warm=2)
    flop = 2.0 * n ** 3
    emit("matmul_f32_1024", "torch", T, flop / med / 1e9, "GFLOP/s", med_ms=med * 1e3, best_gflops=flop / mn / 1e9)

if want("elementwise"):
    for log2 in (22, 26):
        n = 1 << log2
        a, b = torch.rand(n) * 2 - 1, torch.rand(n) * 2 - 1
        r = reps(quick, 11 if log2 > 24 else 41)
        for name, nbytes, fn in (("add", 12, lambda: a + b), ("exp", 8, lambda: torch.exp(a)),
                                 ("sum", 4, lambda: a.sum())):
            med, _ = timeit(fn, r, warm=2)
            emit(f"{name}_f32_2^{log2}", "torch", T, nbytes * n / med / 1e9, "GB/s", med_ms=med * 1e3)

if want("conv"):
    x = torch.randn(64, 32, 28, 28)
    w = torch.randn(64, 32, 3, 3) * 0.05
    b = torch.zeros(64)
    flop = 2.0 * 64 * 64 * 28 * 28 * 32 * 9

    def fwd():
        with torch.no_grad():
            return F.conv2d(x, w, b, padding=1)

    med, _ = timeit(fwd, reps(quick, 9), warm=1)
    emit("conv2d_fwd", "torch", T, med * 1e3, "ms", gflops=flop / med / 1e9)
    xg, wg, bg = (t.clone().requires_grad_(True) for t in (x, w, b))

    def fwd_bwd():
        for t in (xg, wg, bg):
            t.grad = None
        F.conv2d(xg, wg, bg, padding=1).sum().backward()
        return wg.grad

    med, _ = timeit(fwd_bwd, reps(quick, 7), warm=1)
    emit("conv2d_fwd_bwd", "torch", T, med * 1e3, "ms", gflops=3 * flop / med / 1e9)


def mlp(dims, batch, r):
    x = torch.randn(batch, dims[0])
    y = torch.arange(batch) % dims[-1]
    ps = []
    for a, b in zip(dims[:-1], dims[1:]):
        ps += [(torch.randn(a, b) / a ** 0.5).requires_grad_(True), torch.zeros(b, requires_grad=True)]
    layers = len(ps) // 2

    def step():
        h = x
        for l in range(layers):
            h = h @ ps[2 * l] + ps[2 * l + 1]
            if l + 1 < layers:
                h = torch.relu(h)
        loss = F.cross_entropy(h, y)
        grads = torch.autograd.grad(loss, ps)
        with torch.no_grad():
            for p, g in zip(ps, grads):
                p.sub_(0.01 * g)
        return loss.item()

    med, mn = timeit(step, r, warm=20)
    emit(f"mlp_step_{'-'.join(map(str, dims))}_b{batch}", "torch", T, med * 1e6, "us", best_us=mn * 1e6)


if want("mlp"):
    mlp([64, 128, 10], 64, reps(quick, 500))
    mlp([64, 128, 10], 256, reps(quick, 500))
    mlp([784, 256, 256, 10], 128, reps(quick, 200))
