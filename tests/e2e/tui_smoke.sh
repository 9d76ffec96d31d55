#!/usr/bin/env bash
# The workbench in a real terminal: tmux runs it detached at 80x24, keys go in with send-keys,
# and the screen comes back with capture-pane. Fails (printing the screen) if any check fails.
#   BUILD=build  MODEL=sample_models/lenet5.onnx  TUI_WAIT=60 (seconds for the final accuracy)
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_tui.sh
tui_init tui_smoke 60

tm -f /dev/null new-session -d -s tui -x 80 -y 24 \
    "env LANG=C.UTF-8 TERM=tmux-256color XDG_STATE_HOME=$state $bin $model; echo \"slimbench exited with \$?\"; sleep 60" ||
    fail "cannot start tmux"

wait_for 'top-1 [0-9]+\.[0-9]{2}%  top-5 [0-9.]+%' "$wait_s" || fail "no final accuracy within ${wait_s}s"
for layer in conv1 conv2 fc1 fc2 fc3; do
    expect "^ .$layer " "layer $layer listed"
done
expect 'total: 5 layers' "totals row"
top1=$(screen | sed -nE 's/.*top-1 ([0-9]+)\.[0-9]{2}%.*/\1/p' | head -1)
[ "${top1:-0}" -ge 80 ] || fail "implausible top-1 ${top1:-?}%"
wait_for 'latency [0-9.]+ ms' 30 || fail "no latency after the accuracy settled"
expect '\? help' "status line hints"

keys j j
expect '^ >fc1 ' "j j selects the third layer"
keys / f c 3
expect '^ /fc3_' "search prompt"
expect '^ >fc3 ' "incremental search jumps to fc3"
keys Enter
expect '^ >fc3 ' "Enter keeps the match"
keys Enter
expect 'fc3: Gemm, 10 output channels' "detail pane"
expect 'channel L1, largest first' "sorted channel bars"
keys Tab

keys '?'
expect 'slimbench keys' "help title"
expect 'find a layer by name' "help lists /"
expect 'Esc goes back' "help notes search mode"
keys q
screen | grep -q 'slimbench keys' && fail "q closes the help"

# A left click (an xterm X10 report: press and release at column 6, row 8, counted from 1 and
# sent as 32 + n) selects the row under it: conv2, the second layer (a 5-line header, then
# the column titles).
tm send-keys -t tui -l $'\e[M &('
tm send-keys -t tui -l $'\e[M#&('
sleep 0.3
expect '^ >conv2 ' "mouse click selects conv2"

keys D
expect 'workshop view: lenet5.onnx' "workshop view"
expect 'BEFORE \(original\)' "before/after headings"
keys D

tm resize-window -t tui -x 200 -y 60
sleep 0.5
[ "$(screen | wc -l)" -eq 60 ] || fail "screen is not 60 lines after the resize"
expect '61\.7k params .* 247 KB f32$' "header redrawn at 200 columns"
expect '^ >conv2 ' "selection kept across the resize"
screen | awk 'length($0) > 100 { wide = 1 } END { exit !wide }' || fail "nothing drawn past column 100"

keys q
wait_for 'slimbench exited with 0' 10 || fail "q did not quit cleanly"
echo "tui_smoke: ok"
