"""Timing and output helpers shared by the peers' benchmark scripts.

Every figure is printed as one line that bench/report.py collects:
    PEER bench=<id> impl=<name> threads=<n> value=<median> unit=<unit> [key=value ...]
"""
import statistics
import sys
import time


def timeit(fn, reps, warm=3):
    """Median and minimum seconds of `reps` calls of `fn` after `warm` untimed calls."""
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(max(reps, 1)):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts)


def emit(bench, impl, threads, value, unit, **extra):
    fields = [f"bench={bench}", f"impl={impl}", f"threads={threads}", f"value={value:.6f}", f"unit={unit}"]
    for k, v in extra.items():
        v = f"{v:.4f}" if isinstance(v, float) else str(v).replace(" ", "_")
        fields.append(f"{k}={v}")
    print("PEER " + " ".join(fields), flush=True)


def args(argv=None):
    """`--threads N`, `--quick`, and the names of the groups to run (all if none)."""
    argv = sys.argv[1:] if argv is None else argv
    threads, quick, groups, i = 1, False, [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--threads":
            threads = int(argv[i + 1])
            i += 1
        elif a == "--quick":
            quick = True
        else:
            groups.append(a)
        i += 1
    return threads, quick, groups


def reps(quick, full):
    return min(full, 3) if quick else full
