#!/usr/bin/env bash
# Memcheck (valgrind) over the tests of the code that uses `unsafe`: the scalar tape
# (tests/scalar_tape.rs, scalar_safety.rs, scalar_id_wrap.rs, checkpoint.rs,
# scalar_rules.rs) and the tensor CPU backend's unit tests (GEMM and conv packing, 2×2 pooling windows, strided loops, the buffer pool, the
# thread team, vectorised math; matrix products, convolutions and pooling through the
# public API in tests/tensor_gradcheck.rs).
#
#   bench/valgrind.sh                 everything (≈ 3–5 min on 2 cores)
#   bench/valgrind.sh scalar_tape     only the test binaries named
#
# Environment: PROPTEST_CASES (default 64: each case runs some 30× slower under valgrind),
# RAYON_NUM_THREADS (default 2, so that the parallel paths run), VALGRIND_ARGS (more options).
# An invalid read or write, a use of an uninitialised value or a definite leak fails the
# binary; valgrind's log (NAME.log) and the tests' output (NAME.out) are in
# target/valgrind/. Exit status: 1 if any binary failed.
set -euo pipefail

cd "$(dirname "$0")/.."

export PROPTEST_CASES=${PROPTEST_CASES:-64}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2}

# name | cargo test selector | test-name filters, space-separated (empty: all tests)
runs=(
    "scalar_tape|--test scalar_tape|"
    "scalar_safety|--test scalar_safety|"
    "scalar_id_wrap|--test scalar_id_wrap|"
    "checkpoint|--test checkpoint|"
    "scalar_rules|--test scalar_rules|"
    "tensor_backend|--lib|tensor::backend::cpu::"
    "tensor_ops|--lib|tensor::ops::"
    "tensor_gradcheck|--test tensor_gradcheck|matmul_cases convolution_and_pooling"
)
if [ $# -gt 0 ]; then
    selected=()
    for r in "${runs[@]}"; do
        for want in "$@"; do
            if [ "${r%%|*}" = "$want" ]; then selected+=("$r"); fi
        done
    done
    if [ ${#selected[@]} -eq 0 ]; then
        echo "unknown run; choose from: scalar_tape checkpoint scalar_rules tensor_backend tensor_ops tensor_gradcheck" >&2
        exit 2
    fi
    runs=("${selected[@]}")
fi

command -v valgrind >/dev/null || {
    echo "valgrind is not installed (apt-get install valgrind)" >&2
    exit 2
}

# The executable of a test target: cargo prints it with the build's JSON messages.
executable() { # selector...
    cargo test --release -p retrograd "$@" --no-run --message-format=json 2>/dev/null |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])
' | tail -n 1
}

echo "== building the release test binaries"
selectors=()
for r in "${runs[@]}"; do
    IFS='|' read -r _ selector _ <<<"$r"
    case " ${selectors[*]} " in
        *" $selector "*) ;;
        # shellcheck disable=SC2206 # a selector is two words
        *) selectors+=($selector) ;;
    esac
done
cargo test --release -p retrograd "${selectors[@]}" --no-run

logs=target/valgrind
mkdir -p "$logs"
summary=()
failed=0
for r in "${runs[@]}"; do
    IFS='|' read -r name selector filter <<<"$r"
    # shellcheck disable=SC2086 # a selector is two words
    exe=$(executable $selector)
    log=$logs/$name.log
    out=$logs/$name.out
    # shellcheck disable=SC2206 # filters are words
    filter_args=($filter)
    echo "== $name: valgrind $(basename "$exe") ${filter} (PROPTEST_CASES=$PROPTEST_CASES)"
    start=$SECONDS
    status=0
    # shellcheck disable=SC2086 # VALGRIND_ARGS is a list of options
    valgrind --tool=memcheck --error-exitcode=1 --errors-for-leak-kinds=definite \
        --leak-check=full --show-leak-kinds=definite --track-origins=yes \
        --log-file="$log" ${VALGRIND_ARGS:-} \
        "$exe" "${filter_args[@]}" --test-threads=1 >"$out" 2>&1 || status=$?
    tests=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 passed, \2 failed/p' "$out")
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
    line="$name ($(basename "$exe")${filter:+ $filter}): ${tests:-no test result}, ${errors:-?} valgrind errors, exit $status, $((SECONDS - start))s"
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "-- first errors (full log: $log):"
        grep -m 12 -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source and|Argument|[0-9,]+ bytes in|   (at|by) )' "$log" || tail -n 30 "$log"
        grep -E '^test .* FAILED$|panicked at' "$out" | head -n 10 || true
    fi
    echo "$line"
    summary+=("$line")
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
