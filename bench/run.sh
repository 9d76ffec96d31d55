#!/usr/bin/env bash
# make bench: slimbench beside ONNX Runtime on the same models, the same data and the same
# thread count, in one run. Prints batch-1 latency (median) and full-test-set throughput with
# the ratio ORT/slimbench (above 1: slimbench is faster), then batch-1 latency of torchvision
# ResNet-18 and MobileNetV2 at 224x224 (committed constant-weight structures given
# deterministic random weights by bench/randomize_onnx.js; no PyTorch needed), then the dense
# GEMM's GFLOP/s against the measured FMA peak.
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SB=$BUILD/slimbench
THREADS=${THREADS:-2}
SECONDS_LAT=${SECONDS_LAT:-2}
SECONDS_BIG=${SECONDS_BIG:-5}
bench/install_ort.sh

. bench/lib.sh

printf '%s\n' "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); threads $THREADS; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "OpenMP wait policy: ${OMP_WAIT_POLICY:-${GOMP_SPINCOUNT:+GOMP_SPINCOUNT=$GOMP_SPINCOUNT}${GOMP_SPINCOUNT:-slimbench default: passive}}"
printf '%-16s | %-32s | %-36s | %-36s\n' "" "batch-1 latency, median (ms)" "throughput, batch 256 (images/s)" "images per CPU second, batch 256"
printf '%-16s | %9s %9s %10s | %11s %11s %10s | %11s %11s %10s\n' model slimbench ORT "ORT/sb" slimbench ORT "sb/ORT" slimbench ORT "sb/ORT"
for m in sample_models/lenet5.onnx sample_models/resnet8.onnx sample_models/mobilenet_se.onnx; do
    [ -f "$m" ] || continue
    sb=$("$SB" bench "$m" --threads "$THREADS" --seconds "$SECONDS_LAT" --batch 256 --csv)
    ort=$(node bench/ort_run.js "$m" --threads "$THREADS" --batch 256 --latency-seconds "$SECONDS_LAT" 2>/dev/null)
    sl=$(col "$sb" latency_ms) st=$(col "$sb" images_per_s) sc=$(col "$sb" images_per_cpu_s)
    ol=$(col "$ort" lat_median_ms) ot=$(col "$ort" images_per_s) oc=$(col "$ort" images_per_cpu_s)
    awk -v n="$(basename "$m" .onnx)" -v sl="$sl" -v ol="$ol" -v st="$st" -v ot="$ot" -v sc="$sc" -v oc="$oc" \
        'BEGIN{printf "%-16s | %9.4f %9.4f %9.2fx | %11.0f %11.0f %9.2fx | %11.0f %11.0f %9.2fx\n", n, sl, ol, ol/sl, st, ot, st/ot, sc, oc, sc/oc}'
done

mkdir -p "$BUILD/bench_models"
# At 1 thread and at THREADS: the two engines parallelise a single image differently.
printf '\n%-16s | %-46s\n' "224x224" "batch-1 latency (ms): median, min in brackets"
printf "%-16s %7s | %19s %19s %7s\n" model threads slimbench ORT "ORT/sb"
for n in resnet18 mobilenet_v2; do
    m=$BUILD/bench_models/$n.onnx
    [ -f "$m" ] || node bench/randomize_onnx.js "sample_models/fixtures/${n}_const.onnx.gz" "$m" 2>/dev/null
    for t in $(printf '%s\n' 1 "$THREADS" | sort -un); do
        sb=$("$SB" bench "$m" --latency-only --threads "$t" --seconds "$SECONDS_BIG" --csv)
        ort=$(node bench/ort_run.js "$m" --latency-only --threads "$t" --latency-seconds "$SECONDS_BIG" 2>/dev/null)
        awk -v n="$n" -v t="$t" -v sl="$(col "$sb" latency_ms)" -v sm="$(col "$sb" latency_min_ms)" \
            -v ol="$(col "$ort" lat_median_ms)" -v om="$(col "$ort" lat_min_ms)" \
            'BEGIN{printf "%-16s %7d | %8.2f (%8.2f) %8.2f (%8.2f) %6.2fx\n", n, t, sl, sm, ol, om, ol/sl}'
    done
done
printf '\n'
"$BUILD/bench_gemm"

bench/int8.sh "$BUILD" # int8 kernels against f32 and fake-quantised f32
bench/sparse.sh "$BUILD"
