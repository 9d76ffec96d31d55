# Helpers shared by the tests/e2e/tui_*.sh suites: sourced, never run (its name keeps it out of
# the tui_*.sh globs of tests/e2e/run.sh and scripts/check_tsan.sh). The workbench runs detached
# in tmux on a private socket; keys go in with send-keys, the screen comes back with capture-pane.
#   BUILD=build  MODEL=sample_models/lenet5.onnx  TUI_WAIT (seconds; each suite has its default)

# tui_init NAME WAIT_DEFAULT [NEED...]: sets build, model, wait_s, bin; checks tmux, the binary,
# the model and each NEED (a command or a path); makes $tmp (removed on exit) and $state in it.
tui_init() {
    tui_name=$1
    build=${BUILD:-build}
    model=${MODEL:-sample_models/lenet5.onnx}
    wait_s=${TUI_WAIT:-$2}
    bin=$build/slimbench
    shift 2
    for need in tmux "$bin" "$model" "$@"; do
        command -v "$need" >/dev/null 2>&1 || [ -e "$need" ] ||
            { echo "$tui_name: FAIL: $need is missing (make deps-test all)"; exit 1; }
    done
    tmp=$(mktemp -d)
    state=$tmp/state # the autosaved session goes here, not into the user's home
    sock=slimbench-$tui_name-$$
    trap 'tm kill-server >/dev/null 2>&1; rm -rf "$tmp"' EXIT
}
tm() { tmux -L "$sock" "$@"; }
screen() { tm capture-pane -p -t tui; }
fail() {
    echo "$tui_name: FAIL: $*"
    echo "---- screen ----"
    screen
    echo "----------------"
    exit 1
}
# Polls the screen until it matches the extended regex $1, for at most $2 seconds.
wait_for() {
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -le "$deadline" ]; do
        screen | grep -Eq -- "$1" && return 0
        sleep "${tui_poll:-0.2}"
    done
    return 1
}
expect() { screen | grep -Eq -- "$1" || fail "expected /$1/ on screen ($2)"; }
reject() { ! screen | grep -Eq -- "$1" || fail "did not expect /$1/ on screen ($2)"; }
keys() { tm send-keys -t tui "$@"; sleep 0.3; }
text() { tm send-keys -t tui -l "$1"; sleep 0.3; }
sel_row() { screen | grep -E '^ >' | head -1; }
# start COLS LINES [ARGS...]: a new workbench session (state in $state, HOME in $tmp/home) whose
# exit status lands in $tmp/rc; $run_prefix, if set, runs it (e.g. prlimit ...); $tui_lang and
# $tui_term, if set, replace LANG=C.UTF-8 and TERM=tmux-256color (ASCII, no colour).
start() {
    local cols=$1 lines=$2
    shift 2
    tm kill-session -t tui >/dev/null 2>&1
    rm -f "$tmp/rc"
    tm -f /dev/null new-session -d -s tui -x "$cols" -y "$lines" \
        "env LANG=${tui_lang:-C.UTF-8} TERM=${tui_term:-tmux-256color} HOME=$tmp/home XDG_STATE_HOME=$state \
         ${run_prefix:-} $bin $model $*; echo \$? >$tmp/rc; sleep 120" ||
        fail "cannot start tmux"
}
# wait_exit CODE: the workbench ended with this status (within 15 s).
wait_exit() {
    local deadline=$((SECONDS + 15))
    until [ -s "$tmp/rc" ]; do
        [ $SECONDS -le $deadline ] || return 1
        sleep 0.2
    done
    [ "$(cat "$tmp/rc")" = "$1" ]
}
# kill9: kill -9 the workbench (not tmux's shell); it must end with status 137.
kill9() {
    local pid
    pid=$(pgrep -P "$(tm display -p -t tui '#{pane_pid}')" -x slimbench)
    [ -n "$pid" ] || fail "cannot find the slimbench process"
    kill -9 "$pid"
    wait_exit 137 || fail "kill -9 did not end it"
}
