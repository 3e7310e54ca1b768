#!/usr/bin/env python3
"""Turns the log of bench/compare.sh into the side-by-side section of docs/PERF.md.

Usage: python3 bench/report.py LOG [PERF_MD]

LOG holds the lines the benchmarks print,
    PEER bench=<id> impl=<name> threads=<n> value=<median> unit=<unit> [key=value ...]
each preceded by `ROUND <r>` lines from compare.sh, and `META <key> <text>` lines describing
the machine and versions. Every figure in the tables is the median over rounds of the
per-round medians; a ratio is the median over rounds of the ratio within each round (the
two sides of a round ran minutes apart at most). With PERF_MD, the text between the
markers below is replaced (the section is appended if the markers are missing); without
it, the section is printed.
"""
import statistics
import sys
from collections import defaultdict

BEGIN = "<!-- peer-compare:begin -->"
END = "<!-- peer-compare:end -->"


def parse(path):
    meta, rows, rnd = {}, [], 0
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("ROUND "):
            rnd = int(line.split()[1])
        elif line.startswith("META "):
            _, key, *text = line.split(" ", 2)
            meta[key] = text[0] if text else ""
        elif line.startswith("PEER "):
            fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
            fields["round"] = rnd
            rows.append(fields)
    return meta, rows


class Figures:
    def __init__(self, rows):
        # (bench, impl, threads) -> round -> fields
        self.by = defaultdict(dict)
        for r in rows:
            self.by[(r["bench"], r["impl"], str(r["threads"]))][r["round"]] = r

    def rounds(self, bench, impl, threads):
        return self.by.get((bench, impl, str(threads)), {})

    def field(self, bench, impl, threads, key="value"):
        vals = [float(r[key]) for r in self.rounds(bench, impl, threads).values() if key in r]
        return vals

    def med(self, bench, impl, threads, key="value"):
        v = self.field(bench, impl, threads, key)
        return statistics.median(v) if v else None

    def text(self, bench, impl, threads, key):
        for r in self.rounds(bench, impl, threads).values():
            if key in r:
                return r[key]
        return None

    def ratio(self, bench, a, b, threads, ta=None, tb=None):
        """Median over rounds of value(a) / value(b), both measured in the same round."""
        ra, rb = self.rounds(bench, a, ta or threads), self.rounds(bench, b, tb or threads)
        q = [float(ra[k]["value"]) / float(rb[k]["value"]) for k in ra if k in rb and float(rb[k]["value"])]
        return statistics.median(q) if q else None

    def threads_of(self, prefix):
        return sorted({t for (b, _, t) in self.by if b.startswith(prefix)}, key=lambda t: (not t.isdigit(), t))


def fmt(v, digits=None):
    if v is None:
        return "–"
    if digits is None:
        digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3
    return f"{v:,.{digits}f}"


def spread(fig, bench, impl, threads, key="value"):
    v = fig.field(bench, impl, threads, key)
    if not v:
        return "–"
    m = fmt(statistics.median(v))
    if len(v) >= 3:
        return f"{m} <sub>{fmt(min(v))}–{fmt(max(v))}</sub>"
    return m


def verdict(ok):
    return "–" if ok is None else ("**meets**" if ok else "misses")


def scalar_section(fig, out):
    impls = [
        ("handwritten-C++", "hand-written gradient (C++, g++ -O3)"),
        ("adolc-retape", "ADOL-C: record + gradient()"),
        ("adolc-reuse", "ADOL-C: gradient() on a stored tape"),
        ("retrograd-generic", "**retrograd**, generic code (`Var`)"),
        ("retrograd-sum_map", "**retrograd**, `sum_map` / `sum_map_chunks`"),
        ("torch-vectorised", "PyTorch, vectorised (float64)"),
        ("jax-jit-vectorised", "JAX jit, vectorised (float64)"),
    ]
    out.append("### 1. Scalar tape (one thread)\n")
    out.append("Command: `cargo bench -p retrograd --bench peer_scalar`, `bench/cpp/handwritten.cpp`, "
               "`bench/cpp/adolc_scalar.cpp`, `bench/py/{torch,jax}_peer.py scalar`. Ratio = gradient time / "
               "plain-function time of the same program, interleaved (primal, then gradient, each repetition); "
               "gradient = record + reverse sweep + reading every adjoint. f1 = Σ sin(xᵢ)xᵢ² + e^(−xᵢ), "
               "n = 10⁶; f2 = paired extended Rosenbrock, n = 10⁵.\n")
    out.append("| tool | f1 ratio | f1 gradient ms | f1 primal ms | f2 ratio | f2 gradient ms | f2 primal ms |")
    out.append("|---|---|---|---|---|---|---|")
    for impl, label in impls:
        cells = []
        for b in ("scalar_f1", "scalar_f2"):
            name = impl
            if impl == "retrograd-sum_map" and b == "scalar_f2":
                name = "retrograd-sum_map_chunks"
            t = "1"
            if not fig.rounds(b, name, t):
                ts = [tt for (bb, ii, tt) in fig.by if bb == b and ii == name]
                t = ts[0] if ts else "1"
            cells += [spread(fig, b, name, t), fmt(fig.med(b, name, t, "grad_ms")), fmt(fig.med(b, name, t, "primal_ms"))]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    tape = fig.text("scalar_f1", "adolc-retape", "1", "locations_per_input")
    if tape:
        out.append(f"\nADOL-C's f1 tape per input: {fig.text('scalar_f1', 'adolc-retape', '1', 'ops_per_input')} "
                   f"operations, {tape} locations; retrograd's: "
                   f"{fig.text('scalar_f1', 'retrograd-generic', '1', 'tape_bytes_per_input')} B (generic), "
                   f"{fig.text('scalar_f1', 'retrograd-sum_map', '1', 'tape_bytes_per_input')} B (`sum_map`).")
    spilled = [b for b in ("scalar_f1", "scalar_f2") if fig.text(b, "adolc-retape", "1", "tape_in_files") not in (None, "0")]
    if spilled:
        out.append(f"\n**ADOL-C wrote its tape to files for {', '.join(spilled)}**: its figures there include file I/O.")
    out.append("")


MLP = [
    ("mlp_step_64-128-10_b64", "MLP step 64-128-10, batch 64 (µs)", "jax-jit"),
    ("mlp_step_64-128-10_b256", "MLP step 64-128-10, batch 256 (µs)", "jax-jit"),
    ("mlp_step_784-256-256-10_b128", "MLP step 784-256-256-10, batch 128 (µs)", "torch"),
]


def tensor_section(fig, out):
    out.append("### 2. Tensor engine\n")
    out.append("Command: `cargo bench -p retrograd --bench peer_tensor`, `bench/py/{numpy,torch,jax}_peer.py`. "
               "f32 throughout. Matmul: 1024³, output allocated per call. Elementwise: GB/s of data read and "
               "written (add 12, exp 8, sum 4 bytes per element), output allocated per call (NumPy's `out=` row "
               "shows the kernel without page faults); 2²⁶ elements (256 MiB per array) is beyond every cache. "
               "conv2d: batch 64, 32 → 64 channels, 3×3, 28×28, padding 1; forward + backward = gradients of "
               "input, kernel and bias from sum(y). MLP step: forward, cross-entropy, backward, SGD update "
               "(JAX: one jitted function). Ratio columns: retrograd ÷ peer for rates, peer ÷ retrograd for "
               "times — above 1 is retrograd ahead.\n")
    for t in fig.threads_of("matmul") or fig.threads_of("mlp"):
        out.append(f"**{t} thread{'s' if t != '1' else ''}**\n")
        out.append("| case | retrograd | NumPy | PyTorch | JAX | retrograd vs best peer | target | |")
        out.append("|---|---|---|---|---|---|---|---|")
        # matmul
        b = "matmul_f32_1024"
        r_np = fig.ratio(b, "retrograd", "numpy", t)
        out.append(f"| matmul 1024³ (GFLOP/s) | {spread(fig, b, 'retrograd', t)} | {spread(fig, b, 'numpy', t)} | "
                   f"{spread(fig, b, 'torch', t)} | – | {fmt(r_np, 2)}× NumPy, {fmt(fig.ratio(b, 'retrograd', 'torch', t), 2)}× PyTorch "
                   f"| ≥ 0.8× NumPy | {verdict(None if r_np is None else r_np >= 0.8)} |")
        for log2 in (22, 26):
            for op in ("add", "exp", "sum"):
                b = f"{op}_f32_2^{log2}"
                if not fig.rounds(b, "retrograd", t):
                    continue
                npv = spread(fig, b, "numpy", t)
                if op == "add" and fig.rounds(b, "numpy-out", t):
                    npv += f" (`out=`: {fmt(fig.med(b, 'numpy-out', t))})"
                best = max((p for p in ("numpy", "torch") if fig.med(b, p, t)), key=lambda p: fig.med(b, p, t), default=None)
                r = fig.ratio(b, "retrograd", best, t) if best else None
                label = {"numpy": "NumPy", "torch": "PyTorch"}.get(best, "")
                out.append(f"| {op}, 2^{log2} elements (GB/s) | {spread(fig, b, 'retrograd', t)} | {npv} | "
                           f"{spread(fig, b, 'torch', t)} | – | {fmt(r, 2)}× {label} | – | |")
        for b, label in (("conv2d_fwd", "conv2d forward (ms)"), ("conv2d_fwd_bwd", "conv2d forward + backward (ms)")):
            r = fig.ratio(b, "torch", "retrograd", t)
            out.append(f"| {label} | {spread(fig, b, 'retrograd', t)} | – | {spread(fig, b, 'torch', t)} | – | "
                       f"{fmt(r, 2)}× PyTorch | – | |")
        for b, label, target in MLP:
            rj = fig.ratio(b, "jax-jit", "retrograd", t)
            rt = fig.ratio(b, "torch", "retrograd", t)
            rt_target = rj if target == "jax-jit" else rt
            tname = "JAX" if target == "jax-jit" else "PyTorch"
            out.append(f"| {label} | {spread(fig, b, 'retrograd', t)} | – | {spread(fig, b, 'torch', t)} | "
                       f"{spread(fig, b, 'jax-jit', t)} | {fmt(rt, 2)}× PyTorch, {fmt(rj, 2)}× JAX | ≤ {tname} | "
                       f"{verdict(None if rt_target is None else rt_target >= 1.0)} |")
        out.append("")
    errs = [(b, fig.text(b, i, t, "sum_error")) for b in ("sum_f32_2^26",) for i in ("retrograd", "numpy")
            for t in fig.threads_of("sum")[:1]]
    if all(e for _, e in errs) and errs:
        out.append(f"Rounding error of the f32 sum of 2²⁶ values, relative to Σ|aᵢ|: retrograd {errs[0][1]}, "
                   f"NumPy {errs[1][1]} (pairwise summation).\n")
    kernel = fig.text("matmul_f32_1024", "numpy", "1", "kernel")
    if kernel:
        out.append(f"NumPy's BLAS (threadpoolctl): `{kernel}`.\n")


TRAIN = [
    ("train_digits_mlp", "digits 8×8, `--model mlp` (64-128-10)"),
    ("train_digits_cnn", "digits 8×8, `--model cnn`"),
    ("train_fashion_mlp", "Fashion-MNIST 28×28, `--model mlp` (784-128-10)"),
    ("train_fashion_cnn", "Fashion-MNIST 28×28, `--model cnn` (first 10,000 images)"),
]


def train_section(fig, out):
    out.append("### 3. Training throughput\n")
    out.append("Command: `cargo bench -p retrograd-nn --bench peer_training`, `bench/py/torch_train.py`. The "
               "models, batch size (32), optimizer (Adam, lr 1e-3 MLP / 3e-3 CNN) and cosine schedule of "
               "`retrograd train`; CNN = conv 3×3 (16) + batch norm + max-pool 2 + ReLU, conv 3×3 (32) + batch "
               "norm + max-pool 2 + ReLU, linear, in this order on both sides. Samples/s over an epoch's training steps (shuffle, batch "
               "gather, forward, backward, `loss.item()`, optimizer; not the evaluation), median over epochs "
               "after the first.\n")
    out.append("| case | threads | retrograd (samples/s) | PyTorch (samples/s) | retrograd step (µs) | PyTorch step (µs) | retrograd ÷ PyTorch | target ≥ 1.5× |")
    out.append("|---|---|---|---|---|---|---|---|")
    for t in fig.threads_of("train_"):
        for b, label in TRAIN:
            if not fig.rounds(b, "retrograd", t):
                continue
            r = fig.ratio(b, "retrograd", "torch", t)
            out.append(f"| {label} | {t} | {spread(fig, b, 'retrograd', t)} | {spread(fig, b, 'torch', t)} | "
                       f"{fmt(fig.med(b, 'retrograd', t, 'step_us'))} | {fmt(fig.med(b, 'torch', t, 'step_us'))} | "
                       f"{fmt(r, 2)}× | {verdict(None if r is None else r >= 1.5)} |")
    out.append("")


def section(meta, rows):
    fig = Figures(rows)
    out = [BEGIN, "## Side by side with peer tools (generated by `bench/compare.sh`)", ""]
    out.append("This section is rewritten by `bench/compare.sh` (the raw lines are in `bench/results/latest.txt`; "
               "`python3 bench/report.py bench/results/latest.txt docs/PERF.md` rebuilds it). Every figure is "
               "the median over rounds of per-round medians (small print: lowest–highest round); the two "
               "sides of a comparison run alternately in each round, with the same thread count (rayon's "
               "`RAYON_NUM_THREADS`; `OMP_NUM_THREADS`, `MKL_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, "
               "`torch.set_num_threads`, threadpoolctl; JAX pinned to that many CPUs with `taskset`).\n")
    keys = [("date", "run"), ("commit", "commit"), ("command", "command"), ("cpu", "CPU"), ("cores", "cores"), ("load", "load average (start → end)"),
            ("rustc", "rustc"), ("cxx", "C++ compiler"), ("adolc", "ADOL-C"), ("python", "Python"), ("numpy", "NumPy"),
            ("torch", "PyTorch"), ("jax", "JAX / jaxlib"), ("rounds", "rounds"), ("threads", "threads")]
    out.append("| | |")
    out.append("|---|---|")
    for k, label in keys:
        if k in meta:
            out.append(f"| {label} | {meta[k]} |")
    out.append("")
    if any(r["bench"].startswith("scalar") for r in rows):
        scalar_section(fig, out)
    if any(r["bench"].startswith(("matmul", "mlp", "conv", "add")) for r in rows):
        tensor_section(fig, out)
    if any(r["bench"].startswith("train") for r in rows):
        train_section(fig, out)
    out.append(END)
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    meta, rows = parse(sys.argv[1])
    text = section(meta, rows)
    if len(sys.argv) < 3:
        sys.stdout.write(text)
        return
    path = sys.argv[2]
    doc = open(path, encoding="utf-8").read()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        doc = head + text.rstrip("\n") + tail
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)


if __name__ == "__main__":
    main()
