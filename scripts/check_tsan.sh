#!/usr/bin/env bash
# The workbench's TUI end-to-end suites under ThreadSanitizer (make check-tsan). BUILD (argument)
# holds a -fsanitize=thread build of slimbench. TSan writes its reports to files (the terminal is
# tmux's); any report fails the run, and the reports are printed.
#
# libgomp is not built with TSan, so its barriers are invisible to it and every OpenMP region
# would be reported: OpenMP runs one thread here (OMP_NUM_THREADS=1). What is checked is the UI
# main thread against the worker thread (ui/ui_worker.c: the mailbox, cancellation, results,
# autosave) and every other pthread interaction; races between OpenMP threads inside a kernel
# are not (those loops write disjoint ranges, see docs/architecture.md).
#
# With TSAN_OMP_TOOL=.../libarcher.so (make check-tsan-omp: a clang build linked to LLVM's libomp)
# OpenMP's synchronisation is visible to TSan, so OpenMP runs 2 threads and its kernels are
# covered too. clang 14's TSan runtime dies under a file size limit (RLIMIT_FSIZE), so
# tui_kill.sh skips its prlimit part there (TUI_NO_FSIZE=1).
set -u
build=${1:-build-tsan}
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export OMP_NUM_THREADS=1
export TSAN_OPTIONS="log_path=$logs/tsan exitcode=66 second_deadlock_stack=1 history_size=4"
if [ -n "${TSAN_OMP_TOOL:-}" ]; then
    export OMP_NUM_THREADS=2 OMP_TOOL_LIBRARIES=$TSAN_OMP_TOOL TUI_NO_FSIZE=1
    export TSAN_OPTIONS="$TSAN_OPTIONS ignore_noninstrumented_modules=1"
fi
export TUI_WAIT=${TUI_WAIT:-300}
fail=0
for t in tests/e2e/tui_*.sh; do
    echo "== $t (ThreadSanitizer)"
    BUILD=$build bash "$t" || fail=1
done
if compgen -G "$logs/tsan*" >/dev/null; then
    echo "check-tsan: FAIL: ThreadSanitizer reports:"
    cat "$logs"/tsan*
    fail=1
fi
[ $fail -eq 0 ] && echo "check-tsan: no data races reported"
exit $fail
