#!/usr/bin/env bash
# The workbench refuses bad input before it touches the terminal: a clear message on stderr,
# exit status 1, and no escape sequences on stdout.   BUILD=build
set -u
cd "$(dirname "$0")/../.."
bin=${BUILD:-build}/slimbench
[ -x "$bin" ] || { echo "tui_errors: FAIL: no $bin (make all)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# check NAME EXPECTED-STDERR-REGEX ARGS...
check() {
    local name=$1 want=$2
    shift 2
    "$bin" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc -ne 1 ] || ! grep -Eq -- "$want" "$tmp/err" || [ -s "$tmp/out" ]; then
        echo "tui_errors: FAIL: $name: exit $rc (want 1), stderr:"
        sed 's/^/    /' "$tmp/err"
        [ -s "$tmp/out" ] && echo "    (and output on stdout)"
        fails=$((fails + 1))
    fi
}

printf 'not a model' >"$tmp/junk.onnx"
check "missing model" "nope\.onnx" "$tmp/nope.onnx"
check "corrupt model" "junk\.onnx" "$tmp/junk.onnx"
check "empty data dir" "no test images" sample_models/lenet5.onnx --data "$tmp"
check "bad --threads" "--threads wants a number" sample_models/lenet5.onnx --threads 0
check "unknown option" "unknown option '--bogus'" sample_models/lenet5.onnx --bogus
check "two models" "unexpected argument" sample_models/lenet5.onnx sample_models/lenet5.onnx
check "no terminal" "needs a terminal" sample_models/lenet5.onnx

"$bin" sample_models/lenet5.onnx --help </dev/null >"$tmp/out" 2>&1 && grep -q -- "--demo" "$tmp/out" ||
    { echo "tui_errors: FAIL: --help"; fails=$((fails + 1)); }
[ $fails -eq 0 ] && echo "tui_errors: ok"
exit $((fails > 0))
