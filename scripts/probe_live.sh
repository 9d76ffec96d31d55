#!/usr/bin/env bash
# Live re-evaluation latency through the workbench's own probe (SLIMBENCH_TRACE): in a detached
# tmux, for the last, a middle and the first layer in turn, `p` (magnitude 50%), then `+` (55%,
# the same layer again), then `r`; prints for each edit the milliseconds from the key press to the
# first estimate on screen's data (the first evaluation report with images) and to the full
# result (the final report, with the images resumed from the activation cache), as measured by
# the workbench itself.
#   scripts/probe_live.sh MODEL [BIN]     THREADS=1 (default)  DATA=/usr/share/datasets/fashion-mnist
set -u
model=${1:?usage: probe_live.sh MODEL [BIN]}
bin=${2:-build/slimbench}
threads=${THREADS:-1}
data=${DATA:-/usr/share/datasets/fashion-mnist}
tmp=$(mktemp -d)
sock=slimbench-probe-$$
tm() { tmux -L "$sock" "$@"; }
trap 'tm kill-server >/dev/null 2>&1; cp "$tmp/trace" "${PROBE_TRACE:-/dev/null}" 2>/dev/null; rm -rf "$tmp"' EXIT
trace=$tmp/trace
tm -f /dev/null new-session -d -s tui -x 160 -y 50 \
    "env LANG=C.UTF-8 TERM=tmux-256color HOME=$tmp XDG_STATE_HOME=$tmp/state \
     OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} SLIMBENCH_TRACE=$trace \
     $bin $model --data $data --threads $threads --fresh; sleep 60"
# waits (at most 300 s) for a line matching the extended regex $1 in the trace
wait_trace() {
    local deadline=$((SECONDS + 180))
    until grep -Eq -- "$1" "$trace" 2>/dev/null; do
        [ $SECONDS -le $deadline ] || { echo "probe: timed out waiting for /$1/" >&2; exit 1; }
        sleep 0.1
    done
}
gen=0
# keys...: sends them (an edit), then waits for the edit's evaluation and latency to finish
edit() {
    tm send-keys -t tui "$@"
    gen=$((gen + 1))
    wait_trace "report kind 1 gen $gen state [345] "
}
# `r`: back to the base settings, which are not evaluated again
reset() {
    tm send-keys -t tui r
    gen=$((gen + 1))
    wait_trace "edit gen $gen\$"
    sleep 0.5
}
nav() { tm send-keys -t tui "$@"; sleep 0.3; }
wait_trace "report kind 1 gen 0 state 3 "
layers=$($bin inspect "$model" | grep -cE '^ +[0-9]+ ')
for where in last middle first; do
    case $where in
    last) nav End ;;
    middle) nav Home; for ((i = 0; i < layers / 2; i++)); do nav j; done ;;
    first) nav Home ;;
    esac
    edit p
    edit +
    reset
done
tm send-keys -t tui q
# gen 1,2 (last p,+), 3 reset, 4,5 middle, 6 reset, 7,8 first, 9 reset
awk -v model="$(basename "$model")" -v threads="$threads" '
    / key / { key = $1 }
    / edit gen / { t0[$4] = key }
    / report kind 0 gen / && $10 ~ /^[1-9]/ && !($6 in first) { first[$6] = $1 }
    / report kind 0 gen / && $8 == 3 { final[$6] = $1; split($10, d, "/"); n[$6] = d[1]; hit[$6] = $11 == "cached" ? $12 : "?" }
    END {
        split("last p,last +,-,middle p,middle +,-,first p,first +,-", name, ",")
        for (g = 1; g <= 9; g++) {
            if (name[g] == "-") continue
            printf "%s threads=%s %-9s first estimate %7.1f ms  full (%d images, %s cached) %7.1f ms\n",
                model, threads, name[g], first[g] - t0[g], n[g], hit[g], final[g] - t0[g]
        }
    }' "$trace"
