#!/usr/bin/env bash
# Nothing lost: edits in the workbench under tmux, kill -9, reopen: the configuration is back and
# the user is told it was restored; the session file is never half-written (no temporary left).
# Then writes that fail (a path under a regular file: ENOTDIR, since root ignores permissions; a
# file size limit, RLIMIT_FSIZE, part way through an export): a message, the previous file whole,
# the work still in memory and saved elsewhere.
#   BUILD=build  MODEL=sample_models/lenet5.onnx  TUI_WAIT=180 (seconds for the first screen)
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_tui.sh
tui_init tui_kill 180 prlimit

# ---- 1. edits, autosaved; kill -9; reopen: restored ----
start 100 30
wait_for '^ >' "$wait_s" || fail "no layer table within ${wait_s}s"
keys Home
layer=$(sel_row | awk '{print substr($1, 2)}')
[ -n "$layer" ] || fail "no selected layer"
keys p p b
sel_row | grep -q 'l1 50%' && sel_row | grep -q 'int8 ch' || fail "p p b sets l1 50% int8 on $layer"
deadline=$((SECONDS + 10))
until session=$(ls "$state"/slimbench/*.config.csv 2>/dev/null | head -1) &&
    grep -Eq "^$layer,[^,]*,l1,0\.5,8," "$session"; do
    [ $SECONDS -le $deadline ] || fail "the edits were not autosaved"
    sleep 0.2
done
kill9
ls "$state"/slimbench | grep -q '\.tmp\.' && fail "a temporary file was left: $(ls "$state"/slimbench)"
start 100 30
wait_for 'restored the last session' 10 || fail "the user is not told the session was restored"
row=$(screen | grep -E "^ .$layer " | head -1)
echo "$row" | grep -q 'l1 50%' && echo "$row" | grep -q 'int8 ch' || fail "$layer's settings are not back"

# ---- 2. failed writes: the message, the old file whole, the work kept ----
keys q
tm kill-session -t tui >/dev/null 2>&1
printf 'the previous export\n' >"$tmp/c.onnx"
printf 'a regular file' >"$tmp/afile"
if [ -n "${TUI_NO_FSIZE:-}" ]; then # make check-tsan-omp: its TSan runtime dies under the limit
    start 100 30
else
    run_prefix="prlimit --fsize=20000" start 100 30
fi
wait_for 'restored the last session' 10 || fail "not restored under a file size limit"
keys e C-u; text "$tmp/afile/c.onnx"; keys Enter
wait_for "afile/c\.onnx: cannot write: Not a directory" "$wait_s" || fail "no message for ENOTDIR"
if [ -z "${TUI_NO_FSIZE:-}" ]; then
    keys e C-u; text "$tmp/c.onnx"; keys Enter
    wait_for "c\.onnx: cannot write: File too large" "$wait_s" || fail "no message for a write cut short"
fi
[ "$(cat "$tmp/c.onnx")" = "the previous export" ] || fail "the previous file was damaged"
ls "$tmp" | grep -q '\.tmp\.' && fail "a temporary file was left: $(ls "$tmp")"
row=$(screen | grep -E "^ .$layer " | head -1)
echo "$row" | grep -q 'l1 50%' && echo "$row" | grep -q 'int8 ch' || fail "the work was lost"
keys w C-u; text "$tmp/kept.csv"; keys Enter
wait_for "saved the configuration to $tmp/kept.csv" 5 || fail "the work cannot be saved elsewhere"
grep -Eq "^$layer,[^,]*,l1,0\.5,8," "$tmp/kept.csv" || fail "kept.csv: $(cat "$tmp/kept.csv")"
keys q
wait_exit 0 || { keys n; wait_exit 0; } || fail "q did not quit"
echo "tui_kill: ok"
