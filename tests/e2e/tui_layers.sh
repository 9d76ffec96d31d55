#!/usr/bin/env bash
# Per-layer kernels and measured times in the workbench under tmux: the base model's times
# appear after its accuracy and latency; magnitude 90% on conv2 runs it on the sparse kernel
# (the plan's rule: at most 20% non-zero weights), its time is pending until measured again;
# int8 weights and a8 run it on an int8 kernel; sort by time; the detail pane's speed line;
# 80x24 and 200x60 (the speed-up column); ASCII without colour.
#   BUILD=build  MODEL=sample_models/lenet5.onnx  TUI_WAIT=120 (seconds for accuracy + times)
set -u
cd "$(dirname "$0")/../.."
data=/usr/share/datasets/fashion-mnist
. tests/e2e/lib_tui.sh
tui_init tui_layers 120 "$data"
num='[0-9]+\.[0-9]+'
# a row whose last cells are "KERNEL  TIME" with a measured (not stale, not pending) time
measured() { sel_row | grep -Eq -- "$1 +$num\$"; }
wait_sel() {
    local deadline=$((SECONDS + $2))
    until measured "$1"; do
        [ $SECONDS -le $deadline ] || return 1
        sleep 0.3
    done
}

# ---- 1. the base model: f32 kernels, then times ----
start 100 30 --fresh
wait_for 'kernel +ms' 10 || fail "no kernel and ms columns"
keys / ; text conv2; keys Enter
sel_row | grep -q '^ >conv2 ' || fail "/conv2 selects conv2"
wait_sel 'f32' "$wait_s" || fail "no measured time for conv2 on the base model"
base_ms=$(sel_row | awk '{print $NF}')
expect "^  total.* $num\$" "the layers' sum on the totals row"

# ---- 2. magnitude 90%: sparse-csr at once, the time pending, then measured ----
keys p = C-u; text 0.9; keys Enter
sel_row | grep -q 'mag 90%' || fail "p =0.9 sets magnitude 90%"
sel_row | grep -Eq 'sparse-csr +(\.\.\.|\([0-9.]+\))$' ||
    fail "the time must be pending or marked stale right after the edit"
wait_sel 'sparse-csr' "$wait_s" || fail "no measured time for the sparse conv2"

# ---- 3. back to the base, then int8 weights and activations ----
keys u u
wait_sel 'f32' 5 || fail "undo to the base: f32 and the base model's time again"
keys b a
sel_row | grep -q 'int8 ch a8' || fail "b a sets int8 and a8"
wait_sel 'int8-[a-z0-9]+' "$wait_s" || fail "no int8 kernel with a measured time"

# ---- 4. sort by time, the detail pane ----
keys s s s s
expect 'sorted by time' "s cycles to the time sort"
expect 'sort: time' "the status line says so"
keys Enter
expect "speed +int8-[a-z0-9]+  $num ms median \\(min $num\\); base f32 $num ms" \
    "the detail pane's speed line"
keys Enter

# ---- 5. 80x24 and 200x60 ----
tm resize-window -t tui -x 80 -y 24
sleep 0.6
expect 'kernel +ms$' "kernel and ms columns at 80x24"
measured 'int8-[a-z0-9]+' || fail "the int8 row at 80x24"
screen | LC_ALL=C sed 's/[\x80-\xbf]//g' | awk 'length($0) > 80 { bad = 1 } END { exit bad }' ||
    fail "lines wider than 80"
tm resize-window -t tui -x 200 -y 60
sleep 0.6
expect 'kernel +ms speed' "the speed-up column at 200x60"
sel_row | grep -Eq "int8-[a-z0-9]+ +$num/$num +$num""x\$" || fail "now/base and the speed-up"
keys q n
wait_exit 0 || fail "q n did not quit"

# ---- 6. ASCII without colour ----
tui_lang=C tui_term=vt100 start 80 24 --fresh
wait_for 'kernel +ms$' 10 || fail "no kernel and ms columns in ASCII"
keys / ; text conv2; keys Enter
wait_sel 'f32' "$wait_s" || fail "no measured time in ASCII without colour"
! screen | LC_ALL=C grep -q '[^ -~]' || fail "non-ASCII characters with LANG=C"
keys q
wait_exit 0 || fail "q did not quit"
echo "tui_layers: ok (conv2 base $base_ms ms)"
