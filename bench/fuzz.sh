#!/usr/bin/env bash
# Fuzzing: the cargo-fuzz (libFuzzer) targets of fuzz/, then the property-test fuzz suites
# with many cases.
#
#   bench/fuzz.sh                      every target for $FUZZ_SECONDS (60) seconds, then the suites
#   bench/fuzz.sh formula idx          only these targets (and the suites)
#   FUZZ_SECONDS=0 bench/fuzz.sh       only the suites;  PROPTEST_CASES=0: only the targets
#
# Environment: FUZZ_SECONDS (per target, default 60), PROPTEST_CASES (default 20000),
# FUZZ_SANITIZER (address, the default, or none), FUZZ_ARGS (more libFuzzer options, e.g.
# "-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1" to go on after crashes).
#
# An abort, a panic, an allocation over 2 GB and an input that runs 10 s count as crashes;
# the input is written to fuzz/artifacts/TARGET/ and the run of that target stops. Inputs
# that found new coverage are kept in fuzz/corpus/TARGET/ (both ignored by git), the
# committed seeds are in fuzz/seeds/TARGET/. Exit status: 1 if anything failed.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

seconds=${FUZZ_SECONDS:-60}
cases=${PROPTEST_CASES:-20000}
sanitizer=${FUZZ_SANITIZER:-address}
all_targets=(formula model_file checkpoint idx csv)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
limits=(-rss_limit_mb=2048 -timeout=10)

# The sanitizer options of `cargo fuzz` are unstable rustc flags (-Z): let the stable
# compiler accept them.
export RUSTC_BOOTSTRAP=1

summary=()
failed=0

if [ "$seconds" -gt 0 ]; then
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "== installing cargo-fuzz"
        cargo install cargo-fuzz --locked
    fi

    echo "== building the fuzz targets (sanitizer: $sanitizer)"
    if ! (cd fuzz && cargo fuzz build -s "$sanitizer"); then
        if [ "$sanitizer" = none ]; then exit 1; fi
        echo "== the $sanitizer sanitizer build failed; building without a sanitizer"
        sanitizer=none
        (cd fuzz && cargo fuzz build -s none)
    fi

    # The targets write each input to a file there (the readers take paths).
    scratch=${TMPDIR:-/tmp}/retrograd-cargo-fuzz
    trap 'rm -rf "$scratch"' EXIT
    logs=$root/fuzz/artifacts/logs
    mkdir -p "$logs"
    for t in "${targets[@]}"; do
        corpus=$root/fuzz/corpus/$t
        seeds=$root/fuzz/seeds/$t
        mkdir -p "$corpus" "$root/fuzz/artifacts/$t"
        dirs=("$corpus")
        if [ -d "$seeds" ]; then dirs+=("$seeds"); fi
        extra=()
        if [ -f "$root/fuzz/$t.dict" ]; then extra+=("-dict=$root/fuzz/$t.dict"); fi
        # shellcheck disable=SC2206 # FUZZ_ARGS is a list of options
        extra+=(${FUZZ_ARGS:-})
        log=$logs/$t.log
        echo "== fuzzing $t for ${seconds}s (log: fuzz/artifacts/logs/$t.log)"
        marker=$root/fuzz/artifacts/.started-$t
        touch "$marker"
        status=0
        (cd fuzz && cargo fuzz run -s "$sanitizer" "$t" "${dirs[@]}" -- \
            -max_total_time="$seconds" "${limits[@]}" -print_final_stats=1 "${extra[@]}") \
            >"$log" 2>&1 || status=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        if [ -z "$execs" ]; then
            execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
        fi
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        # Fork mode (-fork=N -ignore_crashes=1 ...) goes on after crashes and counts them.
        counts=$(grep -oE 'oom/timeout/crash: [0-9]+/[0-9]+/[0-9]+' "$log" | tail -n 1 | cut -d' ' -f2 || true)
        new_artifacts=$(find "$root/fuzz/artifacts/$t" -type f -newer "$marker" | sed "s|^$root/||")
        rm -f "$marker"
        if [ "$status" -eq 0 ] && [ -n "$counts" ] && [ "$counts" != 0/0/0 ]; then
            failed=1
            result="CRASHES (oom/timeout/crash $counts): $(echo "$new_artifacts" | tr '\n' ' ')"
        elif [ "$status" -eq 0 ]; then
            result="no crash"
        else
            failed=1
            # The panic message (the line after "panicked at"), else libFuzzer's or the
            # sanitizer's verdict (deadly signal, out-of-memory, timeout, leak, ...).
            reason=$(sed -n '/panicked at/{n;p;q}' "$log")
            if [ -z "$reason" ]; then
                reason=$(grep -m 1 -E '^==[0-9]+== ?ERROR: ' "$log" || true)
            fi
            result="CRASH${artifact:+ ${artifact#"$root"/}}${reason:+: $reason}"
            grep -m 1 -A 3 "panicked at" "$log" || true
            if [ -z "$artifact" ]; then tail -n 20 "$log"; fi
        fi
        line="fuzz $t: ${execs:-?} executions in ${seconds}s, $result"
        echo "$line"
        summary+=("$line")
    done
fi

if [ "$cases" -gt 0 ]; then
    suites=("retrograd-cli fuzz")
    if [ -f crates/retrograd-nn/tests/fuzz_parsers.rs ]; then
        suites+=("retrograd-nn fuzz_parsers")
    else
        summary+=("proptest retrograd-nn fuzz_parsers: skipped (crates/retrograd-nn/tests/fuzz_parsers.rs is absent)")
    fi
    for suite in "${suites[@]}"; do
        read -r package test <<<"$suite"
        echo "== PROPTEST_CASES=$cases cargo test --release -p $package --test $test"
        if PROPTEST_CASES=$cases cargo test --release -p "$package" --test "$test"; then
            summary+=("proptest $package $test ($cases cases): passed")
        else
            failed=1
            summary+=("proptest $package $test ($cases cases): FAILED")
        fi
    done
fi

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
