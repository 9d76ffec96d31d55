#!/usr/bin/env bash
# Runs every Criterion test binary in BUILD/tests from the repository root; fails if any fails.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
fail=0
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== $(basename "$t")"
    "$t" --jobs 1 || fail=1
done
exit $fail
