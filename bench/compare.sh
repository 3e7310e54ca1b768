#!/usr/bin/env bash
# Side-by-side benchmarks of retrograd against peer tools, and the table in docs/PERF.md.
#
#   bench/compare.sh [--quick] [--rounds N] [--threads "1 2"] [--train-threads "1"]
#                    [--only scalar,tensor,train] [--no-install] [--no-report]
#
# 1. Installs the peers that package registries offer: ADOL-C (Debian libadolc-dev), the
#    Fashion-MNIST data (Debian dataset-fashion-mnist) and g++ with apt-get; PyTorch, JAX,
#    NumPy and threadpoolctl with pip into a virtual environment ($PEER_ENV, default
#    target/peer-env, which git ignores).
# 2. Builds the bench targets peer_scalar, peer_tensor (crate retrograd) and peer_training
#    (crate retrograd-nn) and the C++ programs of bench/cpp.
# 3. Runs ROUNDS rounds; in each, for each thread count, every comparison runs ours and the
#    peers' programs one after the other (the order flips from round to round), with the same
#    thread count on both sides.
# 4. Writes the raw lines to bench/results/latest.txt and regenerates the section of
#    docs/PERF.md between <!-- peer-compare:begin --> and <!-- peer-compare:end -->
#    (not with --quick or --no-report: then the table is printed and the raw lines stay
#    in target/peer-compare/results.txt).
#
# Defaults: 3 rounds; the tensor comparisons at 1 and 2 threads, training at 1 thread, the
# scalar comparison single-threaded. On a 2-core machine shared with other work, PyTorch's
# OpenMP threads wait for a busy core at every parallel region: 2-thread training steps of
# PyTorch were measured 100× slower than at 1 thread there, so training uses 1 thread unless
# --train-threads says otherwise. A full run takes about half an hour on 2 cores once
# everything is installed; --quick takes minutes and is only a smoke test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

QUICK=""
ROUNDS=3
THREADS="1 2"
TRAIN_THREADS="1"
ONLY="scalar,tensor,train"
INSTALL=1
REPORT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK="--quick"; ROUNDS=1; REPORT=0 ;;
    --rounds) ROUNDS=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --train-threads) TRAIN_THREADS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --no-install) INSTALL=0 ;;
    --no-report) REPORT=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }

ENV_DIR=${PEER_ENV:-$ROOT/target/peer-env}
WORK=$ROOT/target/peer-compare
PY=$ENV_DIR/bin/python
mkdir -p "$WORK/bin" "$WORK/adolc"
LOG=$WORK/log.txt
: > "$LOG"
say() { echo "== $*" >&2; }

# ------------------------------------------------------------------ 1. install
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if [ $INSTALL = 1 ]; then
  missing=()
  for p in g++ libadolc-dev dataset-fashion-mnist; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  # Debian ships venv's pip bootstrap (ensurepip) in python3-venv.
  if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then missing+=(python3-venv); fi
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
  if [ ! -x "$PY" ]; then
    say "python3 -m venv $ENV_DIR"
    python3 -m venv "$ENV_DIR"
  fi
  if ! "$PY" -c "import torch, jax, numpy, threadpoolctl" >/dev/null 2>&1; then
    # PyPI's Linux torch wheel brings CUDA libraries it does not use on a CPU; they are
    # needed only to import it.
    say "pip install torch jax numpy threadpoolctl (several GB the first time)"
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet torch jax jaxlib numpy threadpoolctl
  fi
fi

# ------------------------------------------------------------------ 2. build
say "building the bench targets"
exe_of() { # cargo bench --no-run for one target; prints its executable
  cargo bench -p "$1" --bench "$2" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$2" | tail -1
}
cargo bench -p retrograd --bench peer_scalar --bench peer_tensor --no-run
cargo bench -p retrograd-nn --bench peer_training --no-run
OURS_SCALAR=$(exe_of retrograd peer_scalar)
OURS_TENSOR=$(exe_of retrograd peer_tensor)
OURS_TRAIN=$(exe_of retrograd-nn peer_training)
# Same code generation as the Rust side: no -march flags (baseline x86-64, SSE2).
CXXFLAGS="-std=c++17 -O3 -DNDEBUG"
g++ $CXXFLAGS -o "$WORK/bin/handwritten" bench/cpp/handwritten.cpp
g++ $CXXFLAGS -o "$WORK/bin/adolc_scalar" bench/cpp/adolc_scalar.cpp -ladolc
# ADOL-C keeps tapes in memory when its buffers are large enough (sizes in entries).
printf '"OBUFSIZE" "67108864"\n"LBUFSIZE" "67108864"\n"VBUFSIZE" "67108864"\n"TBUFSIZE" "67108864"\n"TBUFNUM" "32"\n' \
  > "$WORK/adolc/.adolcrc"

# ------------------------------------------------------------------ machine and versions
meta() { echo "META $1 $2" >> "$LOG"; }
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates bench 2>/dev/null || echo ' with local changes')"
meta command "bench/compare.sh $QUICK --rounds $ROUNDS --threads \"$THREADS\" --train-threads \"$TRAIN_THREADS\" --only $ONLY"
meta cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
meta cores "$(nproc) ($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core; L2 $(lscpu | sed -n 's/^L2 cache: *//p'), L3 $(lscpu | sed -n 's/^L3 cache: *//p'))"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
meta rustc "$(rustc -V)"
meta cxx "$(g++ --version | head -1), flags $CXXFLAGS"
meta adolc "$(dpkg-query -W -f '${Version}' libadolc-dev 2>/dev/null || echo '?') (Debian libadolc-dev)"
meta python "$("$PY" -V 2>&1)"
meta numpy "$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" bench/py/versions.py numpy 2>/dev/null || echo 'not installed'); OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for NumPy (here: ${OPENBLAS_CORETYPE:-unset}, ${OPENBLAS_L2_SIZE:-unset})"
meta torch "$("$PY" bench/py/versions.py torch 2>/dev/null || echo 'not installed')"
meta jax "$("$PY" bench/py/versions.py jax 2>/dev/null || echo 'not installed')"
meta rounds "$ROUNDS (each figure: median of the round's repetitions; then median over rounds)"
meta threads "tensor engine: $THREADS; training: $TRAIN_THREADS; scalar tape: 1"

# ------------------------------------------------------------------ 3. rounds
# Runs one program with every thread setting at $1 threads; its output goes to the log, its
# PEER lines to the terminal, and a failure is reported (and logged) without ending the run.
run_t() {
  local t=$1; shift
  local rc=0
  env OMP_NUM_THREADS="$t" MKL_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" RAYON_NUM_THREADS="$t" "$@" \
    > "$WORK/out.txt" 2>&1 || rc=$?
  cat "$WORK/out.txt" >> "$LOG"
  grep '^PEER' "$WORK/out.txt" >&2 || true
  if [ $rc != 0 ]; then
    echo "!! exit status $rc: $*" >&2
    tail -5 "$WORK/out.txt" >&2
    echo "FAILED $rc $*" >> "$LOG"
  fi
}
numpy_t() { local t=$1; shift; run_t "$t" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" bench/py/numpy_peer.py --threads "$t" $QUICK "$@"; }
torch_t() { local t=$1; shift; run_t "$t" "$PY" bench/py/torch_peer.py --threads "$t" $QUICK "$@"; }
jax_t() {
  local t=$1; shift
  local flags=""
  [ "$t" = 1 ] && flags="--xla_cpu_multi_thread_eigen=false"
  run_t "$t" env XLA_FLAGS="$flags" taskset -c "0-$((t - 1))" "$PY" bench/py/jax_peer.py --threads "$t" $QUICK "$@"
}
# Runs the given commands in order in odd rounds and in reverse order in even rounds.
alternate() {
  local r=$1; shift
  local cmds=("$@") i
  if [ $((r % 2)) = 1 ]; then
    for ((i = 0; i < ${#cmds[@]}; i++)); do eval "${cmds[$i]}"; done
  else
    for ((i = ${#cmds[@]} - 1; i >= 0; i--)); do eval "${cmds[$i]}"; done
  fi
}

for r in $(seq 1 "$ROUNDS"); do
  echo "ROUND $r" >> "$LOG"
  if want scalar; then
    say "round $r: scalar tape"
    alternate "$r" \
      'run_t 1 "$OURS_SCALAR" $QUICK' \
      'run_t 1 "$WORK/bin/handwritten" $QUICK' \
      '(cd "$WORK/adolc" && run_t 1 "$WORK/bin/adolc_scalar" $QUICK)' \
      'torch_t 1 scalar' \
      'jax_t 1 scalar'
  fi
  for t in $THREADS; do
    if want tensor; then
      say "round $r: tensor engine, $t thread(s)"
      alternate "$r" \
        'run_t "$t" "$OURS_TENSOR" $QUICK' \
        'numpy_t "$t" matmul elementwise' \
        'torch_t "$t" matmul elementwise conv mlp' \
        'jax_t "$t" mlp'
    fi
  done
  for t in $TRAIN_THREADS; do
    if want train; then
      say "round $r: training throughput, $t thread(s)"
      alternate "$r" \
        'run_t "$t" "$OURS_TRAIN" $QUICK' \
        'run_t "$t" "$PY" bench/py/torch_train.py --threads "$t" $QUICK'
    fi
  done
done
meta load "$LOAD0 → $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"

# ------------------------------------------------------------------ 4. report
# A smoke test (--quick) or --no-report leaves the recorded figures alone.
if [ $REPORT = 1 ]; then
  mkdir -p bench/results
  grep -E '^(META|ROUND|PEER) ' "$LOG" > bench/results/latest.txt
  python3 bench/report.py bench/results/latest.txt docs/PERF.md
  say "docs/PERF.md regenerated (section peer-compare); raw lines in bench/results/latest.txt"
else
  grep -E '^(META|ROUND|PEER) ' "$LOG" > "$WORK/results.txt"
  python3 bench/report.py "$WORK/results.txt"
  say "figures of this run in $WORK/results.txt (docs/PERF.md unchanged)"
fi
