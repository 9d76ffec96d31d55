#!/usr/bin/env bash
# int8 against f32 in one run: each model as it is (f32), quantised (all layers 8-bit weights
# per channel + 8-bit activations) but run fake-quantised on the f32 kernels (SB_INT8=0, the
# reference the accuracy comes from), and quantised on the int8 kernels. Batch-1 latency
# (median) and throughput, with top-1 and the kernels each run used.
#
#   bench/int8.sh [BUILD]        THREADS (1), SECONDS_LAT (2), LIMIT (2000 images)
#   RESNET18=DIR bench/int8.sh   also ResNet-18 at 224: DIR/resnet18.onnx from
#                                sample_models/make_bench_models.py and DIR/data/{train,test}_images.npy
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SB=$BUILD/slimbench
THREADS=${THREADS:-1}
SECONDS_LAT=${SECONDS_LAT:-2}
LIMIT=${LIMIT:-2000}
QUANT=${QUANT:-all=8:channel:a8}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

. bench/lib.sh

printf "threads %s; quantised = --quant %s (all layers 8-bit weights + 8-bit activations)\n" "$THREADS" "$QUANT"
printf '%-10s %-11s | %10s %8s | %9s %8s | %6s | %s\n' model run "latency ms" "f32/run" "images/s" "run/f32" top-1 kernels
bench_model() { # bench_model NAME MODEL [extra flags...]
    local name=$1 m=$2
    shift 2
    local f32 fq q
    f32=$("$SB" bench "$m" --threads "$THREADS" --seconds "$SECONDS_LAT" --csv "$@")
    fq=$(SB_INT8=0 "$SB" bench "$m" --quant "$QUANT" --threads "$THREADS" --seconds "$SECONDS_LAT" --csv "$@")
    q=$("$SB" bench "$m" --quant "$QUANT" --threads "$THREADS" --seconds "$SECONDS_LAT" --csv "$@")
    local l0 t0
    l0=$(col "$f32" latency_ms) t0=$(col "$f32" images_per_s)
    for run in f32 fakequant int8; do
        local r
        case $run in f32) r=$f32 ;; fakequant) r=$fq ;; int8) r=$q ;; esac
        awk -v n="$name" -v run="$run" -v l="$(col "$r" latency_ms)" -v t="$(col "$r" images_per_s)" \
            -v a="$(col "$r" top1)" -v k="$(col "$r" kernels)" -v l0="$l0" -v t0="$t0" \
            'BEGIN{printf "%-10s %-11s | %10.4f %7.2fx | %9.0f %7.2fx | %6.2f | %s\n", n, run, l, l0/l, t, t/t0, a, k}'
    done
}
bench_model resnet8 sample_models/resnet8.onnx --limit "$LIMIT"
if [ -n "${RESNET18:-}" ]; then
    bench_model resnet18 "$RESNET18/resnet18.onnx" --data "$RESNET18/data" --batch 16 --limit 64
fi
