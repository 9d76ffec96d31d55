#!/usr/bin/env bash
# End-to-end suites: the command line, memory bounds, then the workbench under tmux (tui_kill.sh:
# kill -9 and failed writes). BUILD selects the binary.
set -u
cd "$(dirname "$0")/../.."
fail=0
for t in tests/e2e/cli.sh tests/e2e/memory.sh tests/e2e/tui_*.sh; do
    [ -f "$t" ] || continue
    echo "== $t"
    BUILD=${BUILD:-build} bash "$t" || fail=1
done
exit $fail
