#!/usr/bin/env bash
# make bench: slimbench beside ONNX Runtime on the same models, the same data and the same
# thread count, in one run. Prints batch-1 latency (median) and full-test-set throughput with
# the ratio ORT/slimbench (above 1: slimbench is faster).
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SB=$BUILD/slimbench
THREADS=${THREADS:-2}
SECONDS_LAT=${SECONDS_LAT:-2}
bench/install_ort.sh

col() { # col CSV NAME → the value of column NAME in the CSV's second line
    awk -F, -v n="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==n) c=i} NR==2{print $c}' <<<"$1"
}

printf '%s\n' "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); threads $THREADS"
printf '%-16s | %-32s | %-36s\n' "" "batch-1 latency, median (ms)" "throughput, batch 256 (images/s)"
printf '%-16s | %9s %9s %10s | %11s %11s %10s\n' model slimbench ORT "ORT/sb" slimbench ORT "sb/ORT"
for m in sample_models/lenet5.onnx sample_models/resnet8.onnx sample_models/mobilenet_se.onnx; do
    [ -f "$m" ] || continue
    sb=$("$SB" bench "$m" --threads "$THREADS" --seconds "$SECONDS_LAT" --batch 256 --csv)
    ort=$(node bench/ort_run.js "$m" --threads "$THREADS" --batch 256 --latency-seconds "$SECONDS_LAT" 2>/dev/null)
    sl=$(col "$sb" latency_ms) st=$(col "$sb" images_per_s)
    ol=$(col "$ort" lat_median_ms) ot=$(col "$ort" images_per_s)
    awk -v n="$(basename "$m" .onnx)" -v sl="$sl" -v ol="$ol" -v st="$st" -v ot="$ot" \
        'BEGIN{printf "%-16s | %9.4f %9.4f %9.2fx | %11.0f %11.0f %9.2fx\n", n, sl, ol, ol/sl, st, ot, st/ot}'
done
bench/int8.sh "$BUILD" # int8 kernels against f32 and fake-quantised f32
bench/sparse.sh "$BUILD"
