#!/usr/bin/env bash
# Sparse (CSR) kernels against our own dense kernels on ResNet-18 at 224x224, batch 1, with
# every Conv and the Gemm magnitude-pruned (unstructured) to 50/70/90/95%. Called by run.sh.
#   convs:   sum over the Conv layers of their per-layer time (slimbench bench --layers),
#            dense kernels (SB_SPARSE=off) vs sparse kernels forced (SB_SPARSE=on);
#   network: whole batch-1 run, dense vs the plan's own per-layer choice (default).
# Times are the minimum over the runs (SECONDS_LAT seconds each): on a machine shared with other
# work the median mostly measures the other processes; the per-layer table shows both.
# The model is random-weight torchvision ResNet-18 in $BUILD/bench_models: run.sh writes it from
# the committed fixture (bench/randomize_onnx.js); run alone, this script falls back to
# /usr/bin/python3 + torch (sample_models/make_bench_models.py) and is skipped without either.
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SB=$BUILD/slimbench
SECS=${SECONDS_LAT:-2}
MODEL=$BUILD/bench_models/resnet18.onnx
if [ ! -f "$MODEL" ]; then
    if ! /usr/bin/python3 -c 'import torch, torchvision, onnx' 2>/dev/null; then
        echo "sparse: skipped (no $MODEL and no python3-torch to generate it)"
        exit 0
    fi
    /usr/bin/python3 sample_models/make_bench_models.py "$BUILD/bench_models" >/dev/null
fi

layers() { # layers MODE THREADS RATIO → CSV of slimbench bench --layers
    SB_SPARSE=$1 "$SB" bench "$MODEL" --layers --csv --threads "$2" --seconds "$SECS" \
        --prune "all=$3"
}
conv_ms() { awk -F, '$2=="Conv"{s+=$7} END{printf "%.3f", s}' <<<"$1"; }
total_ms() { awk -F, '$1=="total"{printf "%.3f", $7}' <<<"$1"; }

echo
echo "sparse kernels: ResNet-18 224x224, batch 1, unstructured pruning of every Conv and Gemm"
printf '%-7s %-8s | %-30s | %-30s\n' "" "" "convs, sum of minima (ms)" "network, fastest run (ms)"
printf '%-7s %-8s | %9s %9s %10s | %9s %9s %10s\n' threads zeros dense sparse speed-up dense \
    chosen speed-up
for t in ${SPARSE_THREADS:-1 2}; do
    for r in 0.5 0.7 0.9 0.95; do
        d=$(layers off "$t" "$r") s=$(layers on "$t" "$r") a=$(layers auto "$t" "$r")
        awk -v t="$t" -v r="$r" -v dc="$(conv_ms "$d")" -v sc="$(conv_ms "$s")" \
            -v dt="$(total_ms "$d")" -v at="$(total_ms "$a")" \
            'BEGIN{printf "%-7s %7.0f%% | %9.3f %9.3f %9.2fx | %9.3f %9.3f %9.2fx\n",
                   t, 100*r, dc, sc, dc/sc, dt, at, dt/at}'
        if [ "$r" = 0.9 ] && [ "$t" = 1 ]; then per_layer_d=$d per_layer_s=$s; fi
    done
done
echo
echo "per layer at 90% zeros, 1 thread: median (min) ms, speed-up of the minima"
paste -d, <(tail -n +2 <<<"$per_layer_d") <(tail -n +2 <<<"$per_layer_s") |
    awk -F, '$2=="Conv"||$2=="Gemm"{printf "  %-34s dense %7.3f (%7.3f)  sparse %7.3f (%7.3f)  %5.2fx\n",
             $1, $6, $7, $13, $14, $7/$14}'
