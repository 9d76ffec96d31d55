#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS from its committed seed corpus (tests/fuzz/corpus/T);
# new inputs go to BUILD/corpus/T, crashes to BUILD/artifacts/T, logs to BUILD/logs/T.log.
# Usage: scripts/fuzz.sh BUILD SECONDS TARGET...   (make fuzz calls it)
set -u
build=$1 seconds=$2
shift 2
cd "$(dirname "$0")/.."
fail=0
for t in "$@"; do
    mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$build/logs" "tests/fuzz/corpus/$t"
    echo "== fuzz_$t: ${seconds}s"
    # -malloc_limit_mb above the engine's own budgets: going past it is a finding.
    nice -n 10 "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=3072 \
        -malloc_limit_mb=3072 -artifact_prefix="$build/artifacts/$t/" -print_final_stats=1 \
        "$build/corpus/$t" "tests/fuzz/corpus/$t" >"$build/logs/$t.log" 2>&1
    rc=$?
    grep -E '^(#[0-9]+[[:space:]]+DONE|Done|SUMMARY|==[0-9]+==ERROR)' \
        "$build/logs/$t.log" | tail -4
    if [ $rc -ne 0 ]; then
        echo "fuzz_$t: failed (exit $rc); see $build/logs/$t.log and $build/artifacts/$t/" >&2
        fail=1
    fi
done
exit $fail
